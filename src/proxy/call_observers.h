// src/proxy/call_observers.h - asks the consumer filters for a per-call
// observer (ClientFilter::observe, tern/filter.h) when a unary call starts.
// Kept out of reference.cc: the call path only holds the result.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/filter.h"

namespace tern {

// The observers of the filters that return one for this call, as one object;
// nullptr when none does (or there are no filters). `request` is the whole
// request frame (header, metadata, body).
std::unique_ptr<ClientCallObserver> observe_call(const std::vector<std::shared_ptr<ClientFilter>>& filters,
                                                 std::string_view service, std::string_view method,
                                                 const std::string& request);
// The same for a stream being opened with metadata `md` (key, value pairs).
std::unique_ptr<ClientCallObserver> observe_stream(const std::vector<std::shared_ptr<ClientFilter>>& filters,
                                                   std::string_view service, std::string_view method,
                                                   const std::vector<std::pair<std::string, std::string>>& md);

}  // namespace tern
