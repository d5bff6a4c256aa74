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
// | adaptive   | requests of methods not proven short           | requests of methods proven short, response, connect, disconnect, heartbeat |
//
// `adaptive` is not one of Dubbo's five. It is the provider's default since
// issue #17: on these 2-vCPU machines a hand-off to the business pool costs
// more than a small call's whole work (`all` answered a third of `direct`'s
// calls per second with 64 calls in flight), so a method whose handler has
// proven short runs on the IO thread that read it, as with `direct`, and
// every other method runs on the business pool, as with `all`. A method
// starts on the pool; after AdaptiveDispatchOptions::promote_after runs in a
// row each shorter than promote_below it moves to the IO thread; one run on
// the IO thread longer than demote_above, or a mean of its recent runs there
// over demote_mean_above, sends it back to the pool and makes the next
// promotion need 8x the runs; after max_demotions it stays on the pool (the
// same idea as Go's scheduler handing off a processor whose goroutine blocks
// in a system call, decided per method and from measured run times).
// What it cannot promise, unlike `all`: a method that has proven short and
// then blocks holds the IO thread that runs it until the run ends; requests
// of that method read meanwhile by other IO threads run there too (a demotion
// is known when a run ends), so with a mutex held elsewhere every IO thread
// can wait at once; and a handler that makes a sync call to a method of its
// own server can wait for a request its own IO thread would have to read (it
// fails at the nested call's deadline, then the method is demoted). Choose
// `all` (or ServiceOptions::dispatcher "all") for handlers that may block;
// docs/threading.md. Streams, blocking stream methods and services with their
// own ServiceOptions::dispatcher are placed as with `all` / their own strategy.
//
// Providers default to `adaptive`; consumers (which handle responses) default to
// `execution`, i.e. responses complete on the IO thread that read them: a
// hand-off per response costs ~20 µs on these machines (DESIGN §11), and the
// completions Tern runs there are short (waking a waiter, a user callback the
// docs ask to keep short). Pick `all`/`message` on a consumer whose callbacks
// do real work. docs/threading.md says when to pick which.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <array>
#include <chrono>
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
  // `adaptive`: a request runs on the IO thread when its method has proven
  // short (AdaptiveDispatchOptions), on the pool otherwise; on_pool[kRequest]
  // is true (where a method starts, and where streams run).
  bool adaptive_requests = false;

  bool pooled(DispatchEvent e) const noexcept { return on_pool[static_cast<std::size_t>(e)]; }
};

// When `adaptive` moves a method's requests between the business pool and
// the IO thread (see the table above). Durations are wall time of the
// handler's synchronous part (a coroutine handler until its first
// suspension), measured with steady_clock around the call, less the time the
// thread spent waiting for a CPU (Linux schedstat run delay, read only after
// a long run): a handler preempted on a busy machine has not blocked.
struct AdaptiveDispatchOptions {
  // A run on the pool shorter than this counts toward promotion; a longer one
  // restarts the count. Default 100 us.
  std::chrono::microseconds promote_below{100};
  // Runs in a row under promote_below before the method moves to the IO
  // thread (x8 after each demotion). Default 64; 0 never promotes.
  std::uint32_t promote_after = 64;
  // A run on the IO thread longer than this sends the method back to the
  // pool (logged at kWarn, counted in Server::Stats::adaptive_demotions).
  // Default 2 ms.
  std::chrono::microseconds demote_above{2000};
  // The mean of the method's recent runs on the IO thread (exponentially
  // weighted, 1/8 per run) over this also sends it back: a handler that
  // starts blocking for 1 ms per call is caught within ~6 calls. Default 500 us.
  std::chrono::microseconds demote_mean_above{500};
  // Demotions after which the method stays on the pool. Default 3; 0 = a
  // method is never moved to the IO thread.
  std::uint32_t max_demotions = 3;
};

// OK, or INVALID_ARGUMENT when promote_below is 0 or above demote_above or
// demote_mean_above (a run could count as short and as too long at once).
// Server::start() checks ServerOptions::adaptive with it.
Status validate_adaptive_options(const AdaptiveDispatchOptions& options);

// The policy for a strategy name; INVALID_ARGUMENT for an unknown name (the
// message lists the six).
Result<DispatchPolicy> dispatch_policy(std::string_view name);

// Diagnostic hook: called on the thread that handles each event (tests use
// it to check the table; applications may count). `on_io_thread` tells
// whether that thread is an IO thread.
using DispatchObserver = std::function<void(DispatchEvent event, bool on_io_thread)>;

}  // namespace tern
