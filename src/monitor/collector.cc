// CollectorSet and the rendering of collected samples. See
// tern/monitor/collector.h.
#include "tern/monitor/collector.h"

#include <fmt/format.h>

#include <cmath>

#include "tern/monitor/exposition.h"

namespace tern::monitor {

CollectorSet::Id CollectorSet::add(Collector collector) {
  std::lock_guard lock(mu_);
  Id id = next_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void CollectorSet::remove(Id id) {
  std::lock_guard lock(mu_);
  collectors_.erase(id);
}

std::vector<Sample> CollectorSet::collect() const {
  std::vector<Sample> out;
  std::lock_guard lock(mu_);
  for (auto& entry : collectors_) entry.second(out);
  return out;
}

namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

std::string render_labels(const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (auto& label : labels) {
    if (out.size() > 1) out += ',';
    out += label.first + "=\"" + escape_label_value(label.second) + "\"";
  }
  return out + "}";
}

}  // namespace

std::string render_samples(const std::vector<Sample>& samples) {
  struct Family {
    MetricType type;
    std::string help;
    std::map<std::string, double> series;  // rendered labels -> value
  };
  std::map<std::string, Family> families;
  for (auto& s : samples) {
    auto it = families.find(s.name);
    if (it == families.end()) it = families.emplace(s.name, Family{s.type, s.help, {}}).first;
    it->second.series[render_labels(s.labels)] += s.value;
  }
  std::string out;
  for (auto& entry : families) {
    const std::string& name = entry.first;
    const Family& f = entry.second;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name,
                       f.type == MetricType::kCounter ? "counter" : "gauge");
    for (auto& series : f.series) out += name + series.first + " " + number(series.second) + "\n";
  }
  return out;
}

}  // namespace tern::monitor
