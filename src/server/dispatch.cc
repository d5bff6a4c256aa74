// Running a request's handler where the dispatcher put it: the checks before
// it runs (caller gone, deadline passed, body decompressed), the filters, the
// handler, blocking detection on IO threads, and the `adaptive` dispatcher's
// bookkeeping (see tern/dispatcher.h and src/server/adaptive_placement.h).
// server.cc decides where a request goes; this file runs it there.
#include <algorithm>
#include <chrono>
#include <exception>
#include <mutex>
#include <cstdint>
#include <string>

#include "base/run_delay.h"
#include "server/server_call_access.h"
#include "server/server_impl.h"
#include "tern/net/io_context_pool.h"
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

void Server::Impl::note_placement(const server_impl::MethodEntry& method, bool on_io, std::chrono::nanoseconds took) {
  server_impl::AdaptivePlacement& placement = *method.placement;
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
    TERN_LOG(kDebug, "adaptive dispatcher: {} ran {} times in a row under {} us on the business pool; its "
             "requests now run on the IO thread", method.full_name,
             placement.runs_needed(),
             options.adaptive.promote_below.count());
    return;
  }
  adaptive_demotions.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t next = placement.runs_needed();
  TERN_LOG(kWarn, "adaptive dispatcher: {} held an IO thread for {} us (over {} us; {} us more waiting for a "
           "CPU not counted); its requests run on the business pool again{}", method.full_name,
           std::chrono::duration_cast<std::chrono::microseconds>(took - waited).count(),
           options.adaptive.demote_above.count(), std::chrono::duration_cast<std::chrono::microseconds>(waited).count(),
           next ? " until " + std::to_string(next) + " runs in a row are short" : std::string(" from now on"));
}

void Server::Impl::run(ServerCall& call, const server_impl::MethodEntry& method) {
  const MethodHandler& handler = method.handler;
  // One clock read serves the deadline check, the filters' start and the
  // run's start (a read costs 20-40 ns here; a 16-byte call read the clock
  // six times on the provider, issue #17). The run measured for blocking
  // detection and `adaptive` so includes decompression and filters: work
  // done on this thread for this call all the same.
  const auto t0 = std::chrono::steady_clock::now();
  // The deadline's clock (server_impl.h): t0 itself unless a test set one.
  const auto deadline_now = clock != nullptr ? clock->now() : t0;
  if (!call.oneway() && detail::ServerCallAccess::caller_gone(call)) {
    // Its connection closed while it waited: nobody reads the answer, so
    // the worker goes to a call someone still waits for. A oneway request
    // still runs: its consumer never waits for an answer, it asked for the
    // work, and closing right after sending is normal for it.
    shed.fetch_add(1, std::memory_order_relaxed);
    detail::ServerCallAccess::drop(call);
  } else if (deadline_now >= call.deadline()) {  // max() when the call has none
    shed.fetch_add(1, std::memory_order_relaxed);
    call.respond(Status(StatusCode::kDeadlineExceeded, "deadline passed before the handler ran"));
  } else if (Status ds = detail::ServerCallAccess::decompress_body(call, options.limits.max_body,
                                                                    options.compression_threshold);
             !ds.is_ok()) {
    call.respond(ds);  // this call only: the connection keeps serving
  } else {
    ServerContext::Scope scope(&call.context());
    Status filtered = detail::ServerCallAccess::run_filters(call, options.filters, t0);
    observe(DispatchEvent::kRequest);
    bool on_io = net::IoContextPool::in_io_thread();
    if (method.placement) placement_begin(t0);
    if (!filtered.is_ok()) {
      call.respond(filtered);
    } else try {
      handler(call);
    } catch (const RpcError& e) {
      call.respond(e.status());
    } catch (const std::exception& e) {
      handler_errors.fetch_add(1, std::memory_order_relaxed);
      call.respond(Status(StatusCode::kInternal, e.what(), true));
    } catch (...) {
      handler_errors.fetch_add(1, std::memory_order_relaxed);
      call.respond(Status(StatusCode::kInternal, "handler threw a non-standard exception", true));
    }
    if (!call.responded() && !call.oneway()) {
      call.respond(Status(StatusCode::kInternal, "handler returned without a response", true));
    }
    auto took = std::chrono::steady_clock::now() - t0;
    if (method.placement) note_placement(method, on_io, took);
    if (on_io && took > options.io_block_threshold) {
      // The classic way IO loops die silently: user code blocking an IO thread.
      blocked_io.fetch_add(1, std::memory_order_relaxed);
      const std::string& key = method.full_name;  // not the call's names: the handler may have moved it
      std::lock_guard lock(blocked_mu);
      if (blocked_logged.insert(key).second) {
        TERN_LOG(kWarn, "handler {} blocked an IO thread for {} ms (threshold {} ms); use the `all` dispatcher "
                 "or make it asynchronous", key,
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                 options.io_block_threshold.count());
      }
    }
  }
  end_in_flight();
}

}  // namespace tern
