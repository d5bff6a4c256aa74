// tern/monitor/collector.h - metrics that are read when /metrics is scraped
// rather than counted on the call path: process figures from /proc, a
// server's connection and business-pool gauges, a client's channels
// (tern/monitor/runtime_metrics.h). A Collector appends Samples; the admin
// server renders them after the per-method metrics of its MetricsRegistry.
//
//   tern::monitor::CollectorSet set;
//   auto id = set.add([](std::vector<tern::monitor::Sample>& out) {
//     out.push_back({"app_widgets", tern::monitor::MetricType::kGauge, "Widgets in stock.", {}, 42});
//   });
//   std::string text = tern::monitor::render_samples(set.collect());
//   set.remove(id);
//
// Thread safety: CollectorSet's methods may be called from any thread
// concurrently; a collector may run on any thread (the admin server's), at
// most once per scrape, and must not call back into its CollectorSet.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tern::monitor {

// The Prometheus types a collector can report.
enum class MetricType : std::uint8_t { kCounter, kGauge };

// One sample: a family name, its type and HELP text (the first sample of a
// family names them), label pairs (names [a-zA-Z_][a-zA-Z0-9_]*, values
// escaped when rendered) and the value.
struct Sample {
  std::string name{};
  MetricType type = MetricType::kGauge;
  std::string help{};
  std::vector<std::pair<std::string, std::string>> labels{};
  double value = 0;
};

// Appends this collector's samples to `out`. Must be cheap (it runs on every
// scrape) and must not throw.
using Collector = std::function<void(std::vector<Sample>& out)>;

// Collectors by id. Owned by an AdminServer; anyone may add to it.
class CollectorSet {
 public:
  using Id = std::uint64_t;
  // Adds `collector` and returns its id (never 0).
  Id add(Collector collector);
  // Removes the collector `id` (no-op for an unknown id). Once remove()
  // returns, the collector is not running and will not run again.
  void remove(Id id);
  // Runs every collector, in the order they were added.
  std::vector<Sample> collect() const;

 private:
  // Held while the collectors run, so remove() waits for a running scrape.
  mutable std::mutex mu_;
  Id next_ = 1;
  std::map<Id, Collector> collectors_;
};

// Removes its collector from its set when destroyed (or reset()). Move-only.
// The CollectorSet must outlive the handle.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(CollectorSet* set, CollectorSet::Id id) noexcept : set_(set), id_(id) {}
  CollectorHandle(CollectorHandle&& other) noexcept : set_(std::exchange(other.set_, nullptr)), id_(other.id_) {}
  CollectorHandle& operator=(CollectorHandle&& other) noexcept {
    if (this != &other) {
      reset();
      set_ = std::exchange(other.set_, nullptr);
      id_ = other.id_;
    }
    return *this;
  }
  CollectorHandle(const CollectorHandle&) = delete;
  CollectorHandle& operator=(const CollectorHandle&) = delete;
  ~CollectorHandle() { reset(); }
  void reset() {
    if (set_ != nullptr) std::exchange(set_, nullptr)->remove(id_);
  }

 private:
  CollectorSet* set_ = nullptr;
  CollectorSet::Id id_ = 0;
};

// Renders samples in the Prometheus text format 0.0.4: one HELP and TYPE
// block per family (families sorted by name, each family's series by
// labels), samples of one family with the same labels summed into one series
// (two servers of one process give one process-wide figure). Pure; thread-safe.
std::string render_samples(const std::vector<Sample>& samples);

}  // namespace tern::monitor
