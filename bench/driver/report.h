// bench/driver/report.h - results of the loopback benchmark and their
// renderings: terminal table, docs/benchmarks.md, docs/benchmarks.svg.
#pragma once

#include <string>
#include <vector>

namespace bench {

struct Result {
  std::string system, scenario;
  double qps = 0, mbps = 0;
  double p50 = 0, p99 = 0, p999 = 0;  // microseconds
  double cpu_per_100k = 0;            // CPU seconds (client + server) per 100k calls
  double cpu_client = 0, cpu_server = 0;
  double server_hwm_kb = 0;           // provider's peak RSS
  double idle_conn_kb = 0;            // provider RSS growth per open idle connection
  double errors = 0;
};

std::string format_result_line(const Result& r);
bool parse_result_line(const std::string& line, Result* out);
// Field-wise median over rounds.
Result median_of(const std::vector<Result>& rs);

struct Report {
  std::string machine, command, micro, notes;
  int rounds = 0, duration_ms = 0, warmup_ms = 0;
  double runtime_s = 0;
  std::vector<Result> results;  // medians
};

std::string render_terminal(const Report& r);
std::string render_markdown(const Report& r);
std::string render_svg(const Report& r);

}  // namespace bench
