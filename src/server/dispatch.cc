// Where a request runs: the `adaptive` dispatcher's bookkeeping (see
// tern/dispatcher.h and src/server/adaptive_placement.h).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "base/run_delay.h"
#include "server/server_impl.h"
#include "tern/log.h"

namespace tern {
namespace {

// This thread's run delay (base/run_delay.h) at a recent instant: read again
// when a run starts more than kMarkAge after it, and after a long run. A long
// run's time spent waiting for a CPU since the mark is not held against the
// handler: on a busy machine a preempted 20 us handler takes milliseconds of
// wall time without blocking anything.
struct RunDelayMark {
  std::chrono::steady_clock::time_point at{};
  std::int64_t delay = -1;
};
thread_local RunDelayMark t_mark;
constexpr auto kMarkAge = std::chrono::milliseconds(1);

}  // namespace

void Server::Impl::placement_begin(std::chrono::steady_clock::time_point start) {
  if (start - t_mark.at >= kMarkAge) t_mark = {start, base::thread_run_delay_ns()};
}

void Server::Impl::note_placement(const ServerCall& call, server_impl::AdaptivePlacement& placement, bool on_io,
                                  std::chrono::nanoseconds took) {
  using Change = server_impl::AdaptivePlacement::Change;
  bool long_run = on_io ? took > options.adaptive.demote_above : took >= options.adaptive.promote_below;
  std::chrono::nanoseconds waited{0};
  if (long_run && t_mark.delay >= 0) {
    std::int64_t delay = base::thread_run_delay_ns();
    if (delay >= t_mark.delay) waited = std::min(took, std::chrono::nanoseconds(delay - t_mark.delay));
    t_mark = {std::chrono::steady_clock::now(), delay};
  }
  Change change = placement.record(on_io, took - waited);
  if (change == Change::kNone) return;
  if (change == Change::kPromoted) {
    adaptive_promotions.fetch_add(1, std::memory_order_relaxed);
    TERN_LOG(kDebug, "adaptive dispatcher: {}.{} ran {} times in a row under {} us on the business pool; its "
             "requests now run on the IO thread", call.service(), call.method(),
             placement.runs_needed(),
             options.adaptive.promote_below.count());
    return;
  }
  adaptive_demotions.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t next = placement.runs_needed();
  TERN_LOG(kWarn, "adaptive dispatcher: {}.{} held an IO thread for {} us (over {} us; {} us more waiting for a "
           "CPU not counted); its requests run on the business pool again{}", call.service(), call.method(),
           std::chrono::duration_cast<std::chrono::microseconds>(took - waited).count(),
           options.adaptive.demote_above.count(), std::chrono::duration_cast<std::chrono::microseconds>(waited).count(),
           next ? " until " + std::to_string(next) + " runs in a row are short" : std::string(" from now on"));
}

}  // namespace tern
