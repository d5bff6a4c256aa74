// Metrics storage and the metrics filters. See tern/monitor/metrics.h.
#include "tern/monitor/metrics.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <mutex>
#include <tuple>

#include "tern/server_context.h"

namespace tern::monitor {

std::string_view side_name(Side side) noexcept { return side == Side::kProvider ? "provider" : "consumer"; }

double latency_bucket_bound(std::size_t i) noexcept {
  if (i + 1 >= kLatencyBuckets) return std::numeric_limits<double>::infinity();
  return std::ldexp(1e-6, static_cast<int>(i));
}

std::size_t latency_bucket_index(std::chrono::nanoseconds latency) noexcept {
  // Bucket i holds (2^(i-1), 2^i] microseconds; bucket 0 holds [0, 1] us.
  auto ns = latency.count();
  if (ns <= 1000) return 0;
  auto us_ceil = static_cast<std::uint64_t>((ns + 999) / 1000);  // ceil, so 1.5 us lands in (1, 2]
  std::size_t i = static_cast<std::size_t>(std::bit_width(us_ceil - 1));
  return std::min(i, kLatencyBuckets - 1);
}

double histogram_quantile(const std::array<std::uint64_t, kLatencyBuckets>& buckets, double q) noexcept {
  std::uint64_t total = 0;
  for (auto c : buckets) total += c;
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  double rank = q * static_cast<double>(total);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    if (buckets[i] == 0) continue;
    if (static_cast<double>(below + buckets[i]) >= rank) {
      if (i + 1 == kLatencyBuckets) return latency_bucket_bound(kLatencyBuckets - 2);
      double lo = i == 0 ? 0.0 : latency_bucket_bound(i - 1);
      double hi = latency_bucket_bound(i);
      double frac = (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
      return lo + (hi - lo) * std::clamp(frac, 0.0, 1.0);
    }
    below += buckets[i];
  }
  return latency_bucket_bound(kLatencyBuckets - 2);
}

// ---------------------------------------------------------------------------
// MethodMetrics

void MethodMetrics::record(StatusCode code, std::chrono::nanoseconds latency) noexcept {
  calls_.fetch_add(1, std::memory_order_relaxed);
  codes_[code_index(code)].fetch_add(1, std::memory_order_relaxed);
  buckets_[latency_bucket_index(latency)].fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0)),
                            std::memory_order_relaxed);
}

void MethodMetrics::on_finish_clamped(StatusCode code, std::chrono::nanoseconds latency) noexcept {
  auto cur = in_flight_.load(std::memory_order_relaxed);
  while (cur > 0 && !in_flight_.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed)) {
  }
  record(code, latency);
}

void MethodMetrics::record_without_latency(StatusCode code) noexcept {
  calls_.fetch_add(1, std::memory_order_relaxed);
  codes_[code_index(code)].fetch_add(1, std::memory_order_relaxed);
}

void MethodMetrics::record_error(StatusCode code) noexcept {
  if (code == StatusCode::kOk) return;
  codes_[code_index(code)].fetch_add(1, std::memory_order_relaxed);
  // The call was counted as OK when it started; move it to the error.
  auto ok = codes_[0].load(std::memory_order_relaxed);
  while (ok > 0 && !codes_[0].compare_exchange_weak(ok, ok - 1, std::memory_order_relaxed)) {
  }
}

// ---------------------------------------------------------------------------
// MetricsRegistry

namespace {
std::atomic<std::uint64_t> g_next_registry_id{1};

// The last entry this thread looked up, per side. Keyed by the registry's
// process-unique id, so a destroyed registry's entry is never reused.
struct CacheEntry {
  std::uint64_t registry = 0;
  std::string service;
  std::string method;
  MethodMetrics* entry = nullptr;
};
thread_local std::array<CacheEntry, 2> t_cache;
}  // namespace

MetricsRegistry::MetricsRegistry() : id_(g_next_registry_id.fetch_add(1)), created_(std::chrono::steady_clock::now()) {}
MetricsRegistry::~MetricsRegistry() = default;

MethodMetrics& MetricsRegistry::method(Side side, std::string_view service, std::string_view method) {
  auto& cache = t_cache[static_cast<std::size_t>(side)];
  if (cache.registry == id_ && cache.service == service && cache.method == method) return *cache.entry;
  auto& services = sides_[static_cast<std::size_t>(side)];
  MethodMetrics* found = nullptr;
  {
    std::shared_lock lock(mu_);
    if (auto s = services.find(service); s != services.end()) {
      if (auto m = s->second.find(method); m != s->second.end()) found = m->second.get();
    }
  }
  if (found == nullptr) {
    std::unique_lock lock(mu_);
    auto s = services.find(service);
    if (s == services.end()) s = services.emplace(std::string(service), Methods{}).first;
    auto m = s->second.find(method);
    if (m == s->second.end()) m = s->second.emplace(std::string(method), std::make_unique<MethodMetrics>()).first;
    found = m->second.get();
  }
  cache.registry = id_;
  cache.service.assign(service);
  cache.method.assign(method);
  cache.entry = found;
  return *found;
}

std::vector<MethodSnapshot> MetricsRegistry::snapshot() const {
  std::vector<MethodSnapshot> out;
  std::shared_lock lock(mu_);
  for (std::size_t side = 0; side < sides_.size(); ++side) {
    for (auto& [service, methods] : sides_[side]) {
      for (auto& [name, m] : methods) {
        MethodSnapshot s;
        s.side = static_cast<Side>(side);
        s.service = service;
        s.method = name;
        s.calls = m->calls_.load(std::memory_order_relaxed);
        s.in_flight = std::max<std::int64_t>(m->in_flight_.load(std::memory_order_relaxed), 0);
        s.bytes_in = m->bytes_in_.load(std::memory_order_relaxed);
        s.bytes_out = m->bytes_out_.load(std::memory_order_relaxed);
        s.stream = m->stream_.load(std::memory_order_relaxed);
        s.messages_in = m->messages_in_.load(std::memory_order_relaxed);
        s.messages_out = m->messages_out_.load(std::memory_order_relaxed);
        for (std::size_t c = 1; c < MethodMetrics::kCodes; ++c) {
          auto n = m->codes_[c].load(std::memory_order_relaxed);
          if (n == 0) continue;
          s.errors_by_code[static_cast<StatusCode>(c)] = n;
          s.errors += n;
        }
        for (std::size_t b = 0; b < kLatencyBuckets; ++b) {
          s.buckets[b] = m->buckets_[b].load(std::memory_order_relaxed);
          s.latency_count += s.buckets[b];
        }
        s.latency_sum_seconds = static_cast<double>(m->latency_sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
        s.p50 = histogram_quantile(s.buckets, 0.50);
        s.p90 = histogram_quantile(s.buckets, 0.90);
        s.p99 = histogram_quantile(s.buckets, 0.99);
        s.p999 = histogram_quantile(s.buckets, 0.999);
        out.push_back(std::move(s));
      }
    }
  }
  lock.unlock();
  std::sort(out.begin(), out.end(), [](const MethodSnapshot& a, const MethodSnapshot& b) {
    return std::tie(a.side, a.service, a.method) < std::tie(b.side, b.service, b.method);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Filters

Status MetricsServerFilter::on_request(ServerContext& context) {
  auto& m = metrics_->method(Side::kProvider, context.service(), context.method());
  if (context.stream()) {
    m.mark_stream();  // its bytes and messages are counted when it ends
    m.on_start();
    return Status();
  }
  m.add_bytes(context.request_bytes(), 0);
  if (context.oneway()) {
    m.record_without_latency(StatusCode::kOk);
  } else {
    m.on_start();
  }
  return Status();
}

void MetricsServerFilter::on_response(ServerContext& context, const Status& status, std::chrono::nanoseconds latency) {
  auto& m = metrics_->method(Side::kProvider, context.service(), context.method());
  if (context.stream()) {
    m.add_bytes(context.request_bytes(), context.response_bytes());
    m.add_messages(context.messages_received(), context.messages_sent());
    m.on_finish(status.code(), latency);
    return;
  }
  m.add_bytes(0, context.response_bytes());
  if (context.oneway()) {
    m.record_error(status.code());
  } else {
    m.on_finish(status.code(), latency);
  }
}

Status MetricsClientFilter::on_request(ClientInvocation& invocation) {
  metrics_->method(Side::kConsumer, invocation.service, invocation.method).on_start();
  return Status();
}

void MetricsClientFilter::on_response(std::string_view service, std::string_view method, const Status& status,
                                      std::chrono::nanoseconds latency, const CallBytes& bytes) {
  auto& m = metrics_->method(Side::kConsumer, service, method);
  m.add_bytes(bytes.received, bytes.sent);
  if (bytes.stream) {
    m.mark_stream();
    m.add_messages(bytes.messages_received, bytes.messages_sent);
  }
  m.on_finish_clamped(status.code(), latency);
}

}  // namespace tern::monitor
