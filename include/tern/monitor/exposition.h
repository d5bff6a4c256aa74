// tern/monitor/exposition.h - the two text forms of a metrics snapshot that
// the admin endpoint serves (docs/monitoring.md lists every name):
//   - Prometheus text exposition format 0.0.4 (`/metrics`): HELP and TYPE
//     lines, counters, gauges and histograms (_bucket{le=...}, _sum, _count);
//   - the JSON of `/status`, which `tern monitor` scrapes and reads back with
//     parse_status_json() (it keeps the raw bucket counts, so a scraper can
//     compute percentiles over any window from two scrapes).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tern/monitor/metrics.h"
#include "tern/result.h"

namespace tern::monitor {

// Escapes a label value: backslash, double quote and newline become \\, \" and \n.
std::string escape_label_value(std::string_view value);

// Renders the Prometheus text format.
std::string to_prometheus_text(const std::vector<MethodSnapshot>& methods, double uptime_seconds);

// Renders the /status JSON:
//   {"uptime_seconds": 12.5, "bucket_bounds_seconds": [1e-06, ..., 16.777216],
//    "services": [{"name": "Calculator", "side": "provider", "methods": [
//       {"name": "add", "calls": 10, "errors": 1, "errors_by_code": {"INTERNAL": 1},
//        "in_flight": 0, "latency": {"count": 10, "sum_seconds": 0.0012,
//        "p50_ms": 0.05, "p90_ms": 0.1, "p99_ms": 0.12, "p999_ms": 0.13,
//        "buckets": [0, 3, 7, ...]}}]}]}
// `buckets` has kLatencyBuckets per-bucket (not cumulative) counts; the last is +Inf.
std::string to_status_json(const std::vector<MethodSnapshot>& methods, double uptime_seconds);

// Reads to_status_json()'s output back (percentiles recomputed from the
// buckets). INVALID_ARGUMENT for text that is not that JSON.
Result<std::vector<MethodSnapshot>> parse_status_json(std::string_view json, double* uptime_seconds = nullptr);

}  // namespace tern::monitor
