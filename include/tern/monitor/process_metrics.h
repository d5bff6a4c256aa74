// tern/monitor/process_metrics.h - the standard process metrics every
// official Prometheus client exports, read from Linux's /proc as they do:
//
//   process_cpu_seconds_total      counter  user + system CPU time, seconds
//                                           (/proc/self/stat utime + stime / CLK_TCK)
//   process_resident_memory_bytes  gauge    resident set size, bytes (stat rss x page size)
//   process_virtual_memory_bytes   gauge    virtual memory size, bytes (stat vsize)
//   process_open_fds               gauge    open file descriptors (entries of /proc/self/fd)
//   process_max_fds                gauge    the soft RLIMIT_NOFILE
//   process_start_time_seconds     gauge    start time since the Unix epoch, seconds
//                                           (stat starttime / CLK_TCK + btime of /proc/stat)
//
// AdminServer exports them on /metrics by default. Thread safety: the
// functions may be called from any thread concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "tern/monitor/collector.h"
#include "tern/result.h"

namespace tern::monitor {

// One reading of this process's figures (units in the names).
struct ProcessMetrics {
  double cpu_seconds = 0;
  std::uint64_t resident_memory_bytes = 0;
  std::uint64_t virtual_memory_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;
  double start_time_seconds = 0;
};

// Reads this process's figures. UNAVAILABLE when /proc cannot be read or
// parsed (not Linux, /proc not mounted); the message names the file.
Result<ProcessMetrics> read_process_metrics();

// A Collector of the six process_* samples above; appends nothing when
// read_process_metrics() fails.
void collect_process_metrics(std::vector<Sample>& out);

}  // namespace tern::monitor
