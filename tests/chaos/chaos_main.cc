// tern_chaos - `make chaos`: faults under load (issue #10). Runs the
// scenarios of chaos_util.h (1-9, and 3b; 8 and 9 are the ZooKeeper and etcd clusters) against real processes on loopback and prints
// the table (scenario -> calls sent / succeeded / failed by status / missing)
// and each scenario's measurements and checks. Exit status 1 when a check failed.
//
//   tern_chaos [--duration MS] [--callers N] [--idle N] [--only 1,3,7] [--bin DIR]
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include "chaos_util.h"
#include "tern/log.h"

namespace {

std::string machine() {
  std::string cpu;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  return std::to_string(std::thread::hardware_concurrency()) + " vCPU " + cpu + ", Linux " + u.release;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  chaos::Config config;
  config.bin_dir = TERN_BINARY_DIR "/bin";
  std::set<int> only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--duration") config.duration = std::chrono::milliseconds(std::stoi(v));
    else if (k == "--callers") config.callers = std::stoi(v);
    else if (k == "--idle") config.idle_connections = std::stoi(v);
    else if (k == "--bin") config.bin_dir = v;
    else if (k == "--only") {
      for (char* tok = std::strtok(argv[i + 1], ","); tok != nullptr; tok = std::strtok(nullptr, ",")) {
        only.insert(std::atoi(tok));
      }
    } else {
      std::cerr << "usage: tern_chaos [--duration MS] [--callers N] [--idle N] [--only 1,3,7] [--bin DIR]\n";
      return 2;
    }
  }
  // Reconnects, heartbeat closes and failovers are the point here: keep the log for errors.
  tern::set_log_level(tern::LogLevel::kError);
  chaos::raise_nofile_limit();

  const std::vector<std::pair<int, std::function<chaos::Report(const chaos::Config&)>>> scenarios{
      {1, chaos::kill_provider},   {2, chaos::restart_registry},
      {3, [](const chaos::Config& c) { return chaos::rolling_restart(c, false); }},
      {3, [](const chaos::Config& c) { return chaos::rolling_restart(c, true); }},
      {4, chaos::freeze_provider}, {5, chaos::slow_reader},      {6, chaos::idle_connections},
      {7, chaos::blackhole_connect},
      {8, [](const chaos::Config& c) { return chaos::registry_cluster(c, chaos::RegistryKind::kZookeeper); }},
      {9, [](const chaos::Config& c) { return chaos::registry_cluster(c, chaos::RegistryKind::kEtcd); }},
  };
  std::printf("tern_chaos: %s; %s; %d callers, %lld ms of load per scenario; children's logs in %s\n",
              machine().c_str(), utc_now().c_str(), config.callers,
              static_cast<long long>(config.duration.count()), config.log_dir.c_str());
  std::vector<chaos::Report> reports;
  for (auto& [n, run] : scenarios) {
    if (!only.empty() && !only.count(n)) continue;
    std::printf("running scenario %d...\n", n);
    std::fflush(stdout);
    reports.push_back(run(config));
    std::printf("%s", chaos::format_details({reports.back()}).c_str());
    std::fflush(stdout);
  }
  std::printf("\n%s", chaos::format_table(reports).c_str());
  bool ok = true;
  for (auto& r : reports) ok = ok && r.passed();
  return ok ? 0 : 1;
}
