// Faults under load (issue #10): the scenarios of `make chaos` (tern_chaos)
// and of tests/chaos/chaos_test.cc, shared by both.
//
// Each scenario starts real processes on loopback (tern_test_provider, and
// `tern registry` when it needs a registry), puts steady load on them from
// several concurrent callers through the public API only (tern::Client,
// Proxy callback calls with deadlines), injects one fault (SIGKILL, a registry
// restart, a rolling SIGTERM restart, SIGSTOP/SIGCONT, a consumer that stops
// reading, 10,000 idle connections, a connect that is never answered) and
// accounts for every call sent: succeeded, failed with a status, or missing
// (never completed: always a bug). The scenario also checks its own
// expectations (Report::checks); the driver prints them, the test asserts them
// and the numbers behind them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tern/status.h"

namespace chaos {

struct Config {
  // Directory holding tern_test_provider and tern.
  std::string bin_dir;
  // Load phase of each scenario.
  std::chrono::milliseconds duration{4000};
  // Concurrent callers, each with one call in flight at a time.
  int callers = 16;
  // Pause of a caller between two calls (keeps the 2-core machine usable).
  std::chrono::microseconds pause{500};
  // Deadline of every call.
  std::chrono::milliseconds timeout{1000};
  // How late after its deadline a failed call may complete (timer wake-up
  // on a busy machine) in the deadline checks of scenarios 4 and 7.
  std::chrono::milliseconds slack{50};
  // Scenario 6.
  int idle_connections = 10000;
  // Where the child processes' stderr goes (created if missing).
  std::string log_dir = "/tmp/tern-chaos";
};

struct Report {
  std::string scenario;
  std::uint64_t sent = 0;
  std::uint64_t ok = 0;
  std::map<tern::StatusCode, std::uint64_t> failed;  // by status
  std::uint64_t missing = 0;                         // sent, never completed
  double max_failed_ms = 0;                          // slowest failed call
  double max_ms = 0;                                 // slowest call
  std::vector<std::string> notes;                    // measurements ("RSS 9.8 -> 10.1 MiB")
  std::vector<std::pair<std::string, bool>> checks;  // expectation, held

  std::uint64_t failed_total() const;
  bool passed() const;
  void check(std::string what, bool held) { checks.emplace_back(std::move(what), held); }
};

// 1. One provider of 3 killed with SIGKILL under load.
Report kill_provider(const Config& config);
// 2. The registry killed and started again on the same port under load.
Report restart_registry(const Config& config);
// 3. Rolling restart of 3 providers (SIGTERM: graceful stop, start again,
//    wait until discovered, next). `direct`: the consumer refers to them with
//    a direct:// list instead of the registry (3b).
Report rolling_restart(const Config& config, bool direct = false);
// 4. One provider of 3 frozen with SIGSTOP, then SIGCONT.
Report freeze_provider(const Config& config);
// 5. A consumer that pipelines requests and never reads.
Report slow_reader(const Config& config);
// 6. Idle connections held by one provider.
Report idle_connections(const Config& config);
// 7. Calls to an address whose accept queue is full (SYNs dropped).
Report blackhole_connect(const Config& config);

// 8, 9. A registry cluster (a 3-node ZooKeeper ensemble or a 3-member etcd
//    cluster on loopback, started here in a temp dir on free ports) under
//    load: SIGKILL its leader and a provider during the election, restart
//    the old leader, then SIGKILL a follower and start a provider while it
//    is down. Lasts about 4 x duration plus the elections and restarts.
enum class RegistryKind { kZookeeper, kEtcd };
Report registry_cluster(const Config& config, RegistryKind kind);

// The table: scenario -> sent / ok / failed by status / missing / max latency.
std::string format_table(const std::vector<Report>& reports);
// Notes and checks of every scenario, one per line.
std::string format_details(const std::vector<Report>& reports);

// Raises this process's RLIMIT_NOFILE to its hard limit; returns the new soft limit.
std::uint64_t raise_nofile_limit();
// VmRSS of a process in bytes (0 if unknown).
std::uint64_t rss_bytes(int pid);

}  // namespace chaos
