// tern/monitor/metrics.h - per service and method call metrics (DESIGN §9),
// collected by filters (tern/filter.h) on providers and consumers:
//
//   auto metrics = std::make_shared<tern::monitor::MetricsRegistry>();
//   server_options.filters.push_back(std::make_shared<tern::monitor::MetricsServerFilter>(metrics));
//   client_options.filters.push_back(std::make_shared<tern::monitor::MetricsClientFilter>(metrics));
//   ...
//   for (auto& m : metrics->snapshot()) std::cout << m.service << "." << m.method << " " << m.calls << "\n";
//
// What is counted, per (side, service, method):
//   calls      completed calls (any status)
//   errors     completed calls by non-OK status code
//   in_flight  calls started and not yet completed (gauge)
//   latency    histogram over fixed log-scale buckets (powers of two of a
//              microsecond, 1 us .. 2^24 us ~ 16.8 s, then +Inf); percentiles
//              are interpolated inside the bucket that holds them, so they
//              are exact to within a factor of two and usually much closer.
//   bytes_in   bytes received, whole frames (provider: requests; consumer:
//              responses)
//   bytes_out  bytes sent, whole frames (provider: responses; consumer:
//              requests, once per call however many attempts)
//
// Streams (tern/stream.h) count as calls of their method: calls = streams
// ended, in_flight = streams open now (active), latency = the stream's
// duration, errors by final status. Their bytes are message payload bytes,
// and messages_in / messages_out count the messages received and sent.
//
// Oneway requests (provider side) count as a call when they start; they have
// no latency and are not in flight (the handler's completion is not observed
// unless it throws, which then counts an error).
//
// Cost on the hot path: no allocation and no exclusive lock per call. The
// entry of a (side, service, method) is found once per thread through a
// one-entry thread-local cache, falling back to a read-locked (shared_mutex)
// map; it is created under the write lock only on its first call. Counters
// are relaxed atomics. Entries are never removed, so references to them stay
// valid for the registry's lifetime.
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tern/filter.h"
#include "tern/status.h"

namespace tern::monitor {

// Which role recorded the metrics.
enum class Side : std::uint8_t { kProvider = 0, kConsumer = 1 };
// "provider" / "consumer".
std::string_view side_name(Side side) noexcept;

// The fixed latency buckets: bucket i (0 <= i < kLatencyBuckets - 1) holds
// latencies <= latency_bucket_bound(i); the last bucket is +Inf.
inline constexpr std::size_t kLatencyBuckets = 26;
// Upper bound of bucket i in seconds (2^i microseconds); +infinity for the last.
double latency_bucket_bound(std::size_t i) noexcept;
// The bucket a latency falls into.
std::size_t latency_bucket_index(std::chrono::nanoseconds latency) noexcept;

// Counters of one (side, service, method). Updated with relaxed atomics.
class MethodMetrics {
 public:
  // Number of distinct status codes counted (0..16 canonical; others count as UNKNOWN).
  static constexpr std::size_t kCodes = 17;

  void on_start() noexcept { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  // A call that started with on_start() completed.
  void on_finish(StatusCode code, std::chrono::nanoseconds latency) noexcept {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    record(code, latency);
  }
  // As on_finish(), but in-flight does not go below zero (consumer side,
  // where a raw request completes without having started).
  void on_finish_clamped(StatusCode code, std::chrono::nanoseconds latency) noexcept;
  // A completed call (no in-flight accounting).
  void record(StatusCode code, std::chrono::nanoseconds latency) noexcept;
  // A call with no latency (oneway): counts the call and its error, if any.
  void record_without_latency(StatusCode code) noexcept;
  // An error without a call (a oneway handler that threw after being counted).
  void record_error(StatusCode code) noexcept;
  // Frame bytes received / sent for this method.
  void add_bytes(std::uint64_t in, std::uint64_t out) noexcept {
    if (in != 0) bytes_in_.fetch_add(in, std::memory_order_relaxed);
    if (out != 0) bytes_out_.fetch_add(out, std::memory_order_relaxed);
  }
  // A stream method: marks the entry as one, and counts its messages.
  void mark_stream() noexcept { stream_.store(true, std::memory_order_relaxed); }
  void add_messages(std::uint64_t in, std::uint64_t out) noexcept {
    if (in != 0) messages_in_.fetch_add(in, std::memory_order_relaxed);
    if (out != 0) messages_out_.fetch_add(out, std::memory_order_relaxed);
  }

  std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }
  std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

 private:
  friend class MetricsRegistry;
  static std::size_t code_index(StatusCode code) noexcept {
    auto i = static_cast<std::size_t>(code);
    return i < kCodes ? i : static_cast<std::size_t>(StatusCode::kUnknown);
  }
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::int64_t> in_flight_{0};
  std::array<std::atomic<std::uint64_t>, kCodes> codes_{};
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets> buckets_{};
  std::atomic<std::uint64_t> latency_sum_ns_{0};
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<bool> stream_{false};
  std::atomic<std::uint64_t> messages_in_{0};
  std::atomic<std::uint64_t> messages_out_{0};
};

// A consistent-enough copy of one entry (each counter read once; counters
// updated meanwhile may be off by the calls in progress).
struct MethodSnapshot {
  Side side = Side::kProvider;
  std::string service;
  std::string method;
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;                               // sum of errors_by_code
  std::map<StatusCode, std::uint64_t> errors_by_code;     // non-OK codes with a count > 0
  std::int64_t in_flight = 0;
  std::uint64_t bytes_in = 0;   // frame bytes received
  std::uint64_t bytes_out = 0;  // frame bytes sent
  bool stream = false;            // a stream method (then bytes are message bytes)
  std::uint64_t messages_in = 0;  // stream messages received
  std::uint64_t messages_out = 0; // stream messages sent
  std::array<std::uint64_t, kLatencyBuckets> buckets{};   // per bucket (not cumulative)
  std::uint64_t latency_count = 0;                        // calls with a latency
  double latency_sum_seconds = 0;
  // Percentiles in seconds from the histogram (0 when latency_count == 0).
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0;
};

// The quantile q (0..1) of a histogram with per-bucket counts, in seconds,
// interpolated linearly inside its bucket; 0 for an empty histogram. A
// quantile in the +Inf bucket reports the last finite bound.
double histogram_quantile(const std::array<std::uint64_t, kLatencyBuckets>& buckets, double q) noexcept;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The entry of (side, service, method), created on first use. The
  // reference is valid for the registry's lifetime.
  MethodMetrics& method(Side side, std::string_view service, std::string_view method);

  // Every entry, sorted by side, service, method.
  std::vector<MethodSnapshot> snapshot() const;

  // Time since the registry was created.
  std::chrono::steady_clock::duration uptime() const noexcept { return std::chrono::steady_clock::now() - created_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using Methods = std::unordered_map<std::string, std::unique_ptr<MethodMetrics>, Hash, std::equal_to<>>;
  using Services = std::unordered_map<std::string, Methods, Hash, std::equal_to<>>;

  const std::uint64_t id_;  // process-unique, keys the thread-local caches
  const std::chrono::steady_clock::time_point created_;
  mutable std::shared_mutex mu_;
  std::array<Services, 2> sides_;
};

// Provider filter: counts every request the server's filters see (requests
// refused before the filters run - unknown method, full pool, expired
// deadline - are not counted here; see Server::Stats). Put it first in
// ServerOptions::filters so its latency covers the other filters too.
class MetricsServerFilter : public ServerFilter {
 public:
  explicit MetricsServerFilter(std::shared_ptr<MetricsRegistry> metrics) : metrics_(std::move(metrics)) {}
  Status on_request(ServerContext& context) override;
  void on_response(ServerContext& context, const Status& status, std::chrono::nanoseconds latency) override;
  const std::shared_ptr<MetricsRegistry>& metrics() const noexcept { return metrics_; }

 private:
  std::shared_ptr<MetricsRegistry> metrics_;
};

// Consumer filter: counts every call completed through a Reference (all
// attempts of a retried call count once, with the final status and the
// latency of the whole call). In-flight counts calls whose on_request ran
// (requests built with Reference::new_request(method, oneway, options, out));
// it never goes below zero for raw requests, which only complete.
class MetricsClientFilter : public ClientFilter {
 public:
  explicit MetricsClientFilter(std::shared_ptr<MetricsRegistry> metrics) : metrics_(std::move(metrics)) {}
  Status on_request(ClientInvocation& invocation) override;
  void on_response(std::string_view service, std::string_view method, const Status& status,
                   std::chrono::nanoseconds latency, const CallBytes& bytes) override;
  const std::shared_ptr<MetricsRegistry>& metrics() const noexcept { return metrics_; }

 private:
  std::shared_ptr<MetricsRegistry> metrics_;
};

}  // namespace tern::monitor
