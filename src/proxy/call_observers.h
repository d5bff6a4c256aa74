// src/proxy/call_observers.h - asks the consumer filters for a per-call
// observer (ClientFilter::observe, tern/filter.h) when a unary call starts.
// Kept out of reference.cc: the call path only holds the result.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tern/filter.h"

namespace tern {

// The observers of the filters that return one for this call, as one object;
// nullptr when none does (or there are no filters). `request` is the whole
// request frame (header, metadata, body).
std::unique_ptr<ClientCallObserver> observe_call(const std::vector<std::shared_ptr<ClientFilter>>& filters,
                                                 std::string_view service, std::string_view method,
                                                 const std::string& request);

}  // namespace tern
