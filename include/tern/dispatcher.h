// tern/dispatcher.h - the thread model's dispatch strategies (DESIGN §5),
// with Dubbo's meaning. IO threads poll, decode, encode and write; the
// strategy decides which events go to the business pool and which are
// handled on the IO thread that read them:
//
// | strategy   | business pool                                  | IO thread                      |
// |------------|------------------------------------------------|--------------------------------|
// | all        | request, response, connect, disconnect, heartbeat | nothing but IO              |
// | direct     | nothing                                        | everything                     |
// | message    | request, response                              | connect, disconnect, heartbeat |
// | execution  | request                                        | response, connect, disconnect, heartbeat |
// | connection | request, response; connect/disconnect in order on one queue | heartbeat        |
//
// Providers default to `all`; consumers (which handle responses) default to
// `execution`, i.e. responses complete on the IO thread that read them: a
// hand-off per response costs ~20 µs on these machines (DESIGN §11), and the
// completions Tern runs there are short (waking a waiter, a user callback the
// docs ask to keep short). Pick `all`/`message` on a consumer whose callbacks
// do real work. docs/threading.md says when to pick which.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tern/result.h"

namespace tern {

enum class DispatchEvent : std::uint8_t { kRequest = 0, kResponse = 1, kConnect = 2, kDisconnect = 3, kHeartbeat = 4 };

// "request", "response", "connect", "disconnect", "heartbeat".
std::string_view dispatch_event_name(DispatchEvent e) noexcept;

struct DispatchPolicy {
  std::string name;
  // Whether each event (indexed by DispatchEvent) runs on the business pool.
  std::array<bool, 5> on_pool{};
  // `connection`: connect/disconnect run in order on one dedicated queue.
  bool ordered_connection_events = false;

  bool pooled(DispatchEvent e) const noexcept { return on_pool[static_cast<std::size_t>(e)]; }
};

// The policy for a strategy name; INVALID_ARGUMENT for an unknown name (the
// message lists the five).
Result<DispatchPolicy> dispatch_policy(std::string_view name);

// Diagnostic hook: called on the thread that handles each event (tests use
// it to check the table; applications may count). `on_io_thread` tells
// whether that thread is an IO thread.
using DispatchObserver = std::function<void(DispatchEvent event, bool on_io_thread)>;

}  // namespace tern
