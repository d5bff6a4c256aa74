// tern/overload.h - overload protection of a provider, per method: a fixed
// or adaptive concurrency limit and a rate limit, checked on the IO thread
// when a request arrives, before it is queued for the business pool, so a
// refused call is answered at once instead of after waiting in the queue.
//
//   tern::ServiceOptions so;
//   so.limit.adaptive = true;                          // every method: brpc's auto limiter
//   so.method_limits["export"] = {.max_concurrency = 4, .max_qps = 50};
//   server.expose<Reports>(impl, so);
//
// A refused call is answered RESOURCE_EXHAUSTED, not executed
// (may_have_executed() false), so the consumer's failover retries it on
// another provider within its retries (tern/reference.h):
//   "method Reports.export: 4 calls in flight (max_concurrency 4)"
//   "method Reports.export: over 50 calls per second (max_qps 50)"
//   "method Reports.export: 12 calls in flight (adaptive limit 12)"
// Requests whose deadline passed while they were queued are shed before
// their handler runs (DEADLINE_EXCEEDED, Server::Stats::shed) whatever the
// limits.
//
// The adaptive limit is brpc's auto concurrency limiter
// (docs/cn/auto_concurrency_limiter.md in apache/brpc), from Little's law:
// over sample windows (up to 1 s, 20 to 200 answered calls) it measures the
// average latency L (from arrival to answer, so queueing counts), the
// no-load latency Lmin and the peak throughput Q (calls answered per
// second, an EMA of the peaks), and sets
//   limit = ceil(Q * ((2 + a) * Lmin - L))
// where a, the share of extra latency tolerated while exploring, moves by
// 0.02 per window between 0.06 and 0.3 (up while latency stays near Lmin,
// down when it rises). When calls queue, L rises above Lmin and the limit
// falls below the concurrency that made them queue; when the queue drains,
// it grows back. One difference from brpc: Lmin is an EMA of the lowest
// window averages of the handler's own time (start to answer), not of the
// arrival-to-answer latency, so a provider overloaded from its first second
// (which never shows a short latency) still learns it; every 30 s Lmin is
// set to the current window's value, so a method that became slower for
// good is learnt too. The limit starts at 40 and never goes below 4 (so
// light, bursty traffic, whose measured throughput is low, is not refused;
// brpc's floor is 1) nor above max_concurrency when that is set too.
//
// Latency counted: from the request's arrival on the IO thread to its
// answer. Calls refused by a limit, shed or cancelled are not samples.
// Thread safety: the limits are read-only after Server::start().
#pragma once

namespace tern {

// The limits of one method. All zero/false (the default) = no limit.
struct MethodLimit {
  // Calls of the method in flight at once on this server (queued or
  // running; a coroutine handler counts until it answers). 0 = no fixed
  // limit. With `adaptive`, the cap of the adaptive limit.
  int max_concurrency = 0;
  // Calls admitted per second: a token bucket refilled at this rate, with a
  // burst of a tenth of a second's worth (at least 1). 0 = no rate limit.
  double max_qps = 0;
  // The concurrency limit follows latency and throughput (brpc's auto
  // limiter, header comment).
  bool adaptive = false;

  bool enabled() const noexcept { return max_concurrency > 0 || max_qps > 0 || adaptive; }
};

}  // namespace tern
