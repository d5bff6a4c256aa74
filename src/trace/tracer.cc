// The Tracer: sampled spans into the /rpcz store and a bounded export queue,
// drained in batches by one exporter thread (tern/trace/tracer.h).
//
// The call path only takes mu_ for a push_back into a vector reserved to
// queue_capacity (no allocation there after construction); the exporter
// swaps a batch out under the same lock and does the JSON and the POST
// without it. A full queue drops the span and counts it.
#include "tern/trace/tracer.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "tern/log.h"
#include "tern/trace/otlp.h"

namespace tern::trace {

namespace {

std::mutex g_global_mu;
std::shared_ptr<Tracer>& global_slot() {
  static std::shared_ptr<Tracer> t = std::make_shared<Tracer>();
  return t;
}

}  // namespace

Tracer::Tracer(TracerOptions options) : options_(std::move(options)) {
  options_.queue_capacity = std::max<std::size_t>(1, options_.queue_capacity);
  options_.max_batch = std::max<std::size_t>(1, options_.max_batch);
  if (options_.rpcz) rpcz_ = std::make_unique<RpczStore>(options_.rpcz_recent, options_.rpcz_slow);
  if (!options_.otlp_endpoint.empty()) {
    url_ = otlp_traces_url(options_.otlp_endpoint);
    if (!options_.sender) {
      auto timeout = options_.export_timeout;
      options_.sender = [timeout](const std::string& url, const std::string& body) { return post_otlp(url, body, timeout); };
    }
    queue_.reserve(options_.queue_capacity);
    thread_ = std::thread([this] { run(); });
  }
  recording_ = rpcz_ != nullptr || thread_.joinable();
}

Tracer::~Tracer() { shutdown(); }

void Tracer::record(SpanData span) {
  recorded_.fetch_add(1, std::memory_order_relaxed);
  if (rpcz_) rpcz_->add(span);
  if (url_.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const bool first = queue_.empty();
    if (first) oldest_ = std::chrono::steady_clock::now();
    queue_.push_back(std::move(span));
    // Wake the exporter to start the batch's max_delay, or for a full batch.
    if (!first && queue_.size() < options_.max_batch) return;
  }
  cv_.notify_one();
}

bool Tracer::flush(std::chrono::milliseconds timeout) {
  if (url_.empty()) return true;
  std::unique_lock lock(mu_);
  ++flush_requests_;
  cv_.notify_one();
  return idle_cv_.wait_for(lock, timeout, [&] { return stopped_ || (queue_.empty() && in_flight_ == 0); });
}

void Tracer::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  std::lock_guard join_lock(join_mu_);  // two concurrent shutdown() calls: one joins
  if (thread_.joinable()) thread_.join();
}

TracerStats Tracer::stats() const {
  TracerStats s;
  s.recorded = recorded_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.exported = exported_.load(std::memory_order_relaxed);
  s.export_failures = export_failures_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  s.queued = queue_.size();
  return s;
}

bool Tracer::send_batch(std::vector<SpanData>& batch) {
  std::string body = to_otlp_json(batch, options_.service_name);
  Status st;
  try {
    st = options_.sender(url_, body);
  } catch (const std::exception& e) {
    st = Status(StatusCode::kInternal, e.what());
  }
  if (st.is_ok()) {
    exported_.fetch_add(batch.size(), std::memory_order_relaxed);
  } else {
    export_failures_.fetch_add(batch.size(), std::memory_order_relaxed);
    TERN_LOG(kWarn, "tracing: {} spans not exported: {}", batch.size(), st.to_string());
  }
  return st.is_ok();
}

void Tracer::run() {
  using SteadyClock = std::chrono::steady_clock;
  std::unique_lock lock(mu_);
  std::uint64_t flushes_seen = 0;
  std::optional<SteadyClock::time_point> stop_deadline;
  std::vector<SpanData> batch;
  batch.reserve(options_.max_batch);
  for (;;) {
    auto now = SteadyClock::now();
    if (stopping_ && !stop_deadline) stop_deadline = now + options_.shutdown_timeout;
    if (queue_.empty()) {
      flushes_seen = flush_requests_;
      idle_cv_.notify_all();
      if (stopping_) break;
      cv_.wait(lock, [&] { return stopping_ || flush_requests_ != flushes_seen || !queue_.empty(); });
      continue;
    }
    bool due = stopping_ || flush_requests_ != flushes_seen || queue_.size() >= options_.max_batch ||
               now >= oldest_ + options_.max_delay;
    if (!due) {
      cv_.wait_until(lock, oldest_ + options_.max_delay, [&] {
        return stopping_ || flush_requests_ != flushes_seen || queue_.size() >= options_.max_batch;
      });
      continue;
    }
    if (stop_deadline && now >= *stop_deadline) {
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);  // out of shutdown time
      queue_.clear();
      continue;
    }
    std::size_t n = std::min(options_.max_batch, queue_.size());
    std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n), std::back_inserter(batch));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    in_flight_ = n;
    lock.unlock();
    send_batch(batch);
    batch.clear();
    lock.lock();
    in_flight_ = 0;
  }
  stopped_ = true;
  idle_cv_.notify_all();
}

}  // namespace tern::trace

namespace tern::trace {

std::shared_ptr<Tracer> Tracer::global() {
  std::lock_guard lock(g_global_mu);
  return global_slot();
}

void Tracer::set_global(std::shared_ptr<Tracer> tracer) {
  if (!tracer) tracer = std::make_shared<Tracer>();
  std::shared_ptr<Tracer> old;
  {
    std::lock_guard lock(g_global_mu);
    old = std::exchange(global_slot(), std::move(tracer));
  }
  // `old` is released outside the lock (its destructor may flush).
}

}  // namespace tern::trace
