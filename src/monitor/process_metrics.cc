// Process metrics from /proc, with the names, types and units of the
// official Prometheus clients' process collectors. See
// tern/monitor/process_metrics.h.
#include "tern/monitor/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <exception>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>

namespace tern::monitor {

namespace {

Status unavailable(const char* file) { return Status(StatusCode::kUnavailable, std::string("cannot read ") + file); }

// Boot time in seconds since the epoch (the "btime" line of /proc/stat).
bool boot_time(double* out) {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      long long btime = 0;
      if (!(in >> btime)) return false;
      *out = static_cast<double>(btime);
      return true;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return false;
}

}  // namespace

Result<ProcessMetrics> read_process_metrics() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces: the
  // fields after it start past the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return unavailable("/proc/self/stat");
  std::istringstream fields(stat.substr(close + 1));
  // Fields from 3 (state) on; we need 14 utime, 15 stime, 22 starttime,
  // 23 vsize, 24 rss.
  std::vector<std::string> f;
  for (std::string s; f.size() < 22 && fields >> s;) f.push_back(s);
  if (f.size() < 22) return unavailable("/proc/self/stat");
  auto at = [&](int field) { return std::stod(f[static_cast<std::size_t>(field - 3)]); };
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (ticks <= 0 || page <= 0) return unavailable("sysconf");
  ProcessMetrics m;
  try {
    m.cpu_seconds = (at(14) + at(15)) / ticks;
    m.virtual_memory_bytes = static_cast<std::uint64_t>(at(23));
    m.resident_memory_bytes = static_cast<std::uint64_t>(at(24) * page);
    double btime = 0;
    if (!boot_time(&btime)) return unavailable("/proc/stat");
    m.start_time_seconds = btime + at(22) / ticks;
  } catch (const std::exception&) {
    return unavailable("/proc/self/stat");
  }
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return unavailable("/proc/self/fd");
  std::uint64_t fds = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++fds;
  }
  closedir(dir);
  m.open_fds = fds > 0 ? fds - 1 : 0;  // not the descriptor opendir() itself holds
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) m.max_fds = limit.rlim_cur;
  return m;
}

void collect_process_metrics(std::vector<Sample>& out) {
  auto m = read_process_metrics();
  if (!m) return;
  auto add = [&](const char* name, MetricType type, const char* help, double value) {
    out.push_back(Sample{name, type, help, {}, value});
  };
  add("process_cpu_seconds_total", MetricType::kCounter, "Total user and system CPU time spent in seconds.",
      m->cpu_seconds);
  add("process_resident_memory_bytes", MetricType::kGauge, "Resident memory size in bytes.",
      static_cast<double>(m->resident_memory_bytes));
  add("process_virtual_memory_bytes", MetricType::kGauge, "Virtual memory size in bytes.",
      static_cast<double>(m->virtual_memory_bytes));
  add("process_open_fds", MetricType::kGauge, "Number of open file descriptors.", static_cast<double>(m->open_fds));
  add("process_max_fds", MetricType::kGauge, "Maximum number of open file descriptors.",
      static_cast<double>(m->max_fds));
  add("process_start_time_seconds", MetricType::kGauge, "Start time of the process since unix epoch in seconds.",
      m->start_time_seconds);
}

}  // namespace tern::monitor
