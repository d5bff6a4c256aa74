// bench/driver/bench_main.cc - `make bench`'s loopback comparison: the raw
// TCP ceiling, gRPC C++ and Tern (direct and all dispatchers), interleaved.
// Besides the unary echo scenarios: one server stream (stream16, stream64k:
// raw firehose, gRPC server streaming, Tern stream method) and the gRPC wire
// (gw1, gw64: gRPC C++ client -> gRPC C++ server / Tern provider, Tern
// consumer over grpc:// -> gRPC C++ server); bench_common.h's Kind.
//
//   tern_loopback_bench [--rounds 3] [--duration-ms 1500] [--warmup-ms 300]
//                       [--scenarios a,b] [--systems raw,grpc,...]
//                       [--md docs/benchmarks.md] [--svg docs/benchmarks.svg]
//                       [--micro micro.txt] [--notes bench/notes.md] [--command "..."]
//   tern_loopback_bench --run <system> <scenario> [--duration-ms ..]   (one measurement)
//   tern_loopback_bench --run <system> <scenario> --port P   (against a server already
//                       running, e.g. under valgrind --tool=callgrind)
//
// The orchestrator runs every (scenario, system) pair once per round, in the
// order scenario by scenario, system after system (raw, grpc, tern-direct,
// tern-adaptive (the provider's default dispatcher), tern-all, raw, grpc, ...), each measurement in a fresh client process
// (this binary with --run) that spawns a fresh server process, reads its
// port from the server's stdout and kills it at the end. Medians over rounds
// are reported.
#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iostream>
#include <map>
#include <regex>
#include <thread>

#include "driver/generator.h"
#include "driver/report.h"

namespace bench {
namespace {

struct Options {
  int rounds = 3;
  int duration_ms = 1500;
  int warmup_ms = 300;
  std::vector<std::string> scenarios, systems;
  std::string md, svg, micro, notes, command;
  int port = 0;  // --run against an already running server (profiling)
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) out.push_back(x);
  return out;
}

const std::vector<std::string> kSystems = {"raw", "grpc", "tern-direct", "tern-adaptive", "tern-all"};

// ---- one measurement (child process) ----------------------------------------

int run_one(const std::string& system, const std::string& scenario, const Options& o) {
  const Spec* spec = find_scenario(scenario);
  if (!spec) {
    std::cerr << "unknown scenario " << scenario << "\n";
    return 2;
  }
  raise_fd_limit();
  signal(SIGPIPE, SIG_IGN);
  std::string dir = self_dir();
  ServerProcess server;
  bool ok = false;
  if (o.port > 0) {
    server.port = o.port;
    ok = true;
  } else if (system == "raw") {
    ok = server.start(dir + (spec->kind == Kind::kStream ? "/raw_stream_server" : "/raw_echo_server"), {});
  } else if (system == "grpc" || system == "tern-to-grpc") {
    ok = server.start(dir + "/grpc_echo_server", {});
  } else if (system == "tern-direct" || system == "grpc-to-tern") {
    ok = server.start(dir + "/tern_echo_server", {"--dispatcher", "direct"});
  } else if (system == "tern-all") {
    ok = server.start(dir + "/tern_echo_server", {"--dispatcher", "all"});
  } else if (system == "tern-adaptive") {
    ok = server.start(dir + "/tern_echo_server", {"--dispatcher", "adaptive"});
  } else {
    std::cerr << "unknown system " << system << "\n";
    return 2;
  }
  if (!ok) {
    std::cerr << system << ": server did not start\n";
    return 1;
  }
  Recorder rec;
  std::unique_ptr<Generator> gen;
  if (spec->kind == Kind::kStream) {
    if (system == "raw") gen = make_raw_stream_generator(*spec, server.port, rec);
    else if (system == "grpc") gen = make_grpc_stream_generator(*spec, server.port, rec);
    else gen = make_tern_stream_generator(*spec, server.port, rec);
  } else if (system == "raw") gen = make_raw_generator(*spec, server.port, rec);
  else if (system == "grpc" || system == "grpc-to-tern") gen = make_grpc_generator(*spec, server.port, rec);
  else if (system == "tern-to-grpc") gen = make_tern_grpc_generator(*spec, server.port, rec);
  else gen = make_tern_generator(*spec, server.port, rec);

  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  long rss0 = proc_status_kb(server.pid, "VmRSS");
  if (!gen->setup()) {
    std::cerr << system << "/" << scenario << ": setup failed: " << gen->error() << "\n";
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  long rss1 = proc_status_kb(server.pid, "VmRSS");  // every connection open and idle

  gen->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.warmup_ms));
  double c0 = self_cpu_seconds(), s0 = proc_cpu_seconds(server.pid);
  auto t0 = Clock::now();
  rec.set_phase(Recorder::kMeasure);
  std::this_thread::sleep_for(std::chrono::milliseconds(o.duration_ms));
  rec.set_phase(Recorder::kStopped);
  auto t1 = Clock::now();
  double c1 = self_cpu_seconds(), s1 = proc_cpu_seconds(server.pid);
  gen->stop();
  long hwm = proc_status_kb(server.pid, "VmHWM");
  server.stop();

  Result r;
  r.system = system;
  r.scenario = scenario;
  double secs = std::chrono::duration<double>(t1 - t0).count();
  double calls = static_cast<double>(rec.calls());
  r.qps = calls / secs;
  r.mbps = r.qps * static_cast<double>(spec->size) / 1e6;
  r.p50 = rec.percentile_us(0.50);
  r.p99 = rec.percentile_us(0.99);
  r.p999 = rec.percentile_us(0.999);
  r.cpu_client = (c1 - c0) / calls * 1e5;
  r.cpu_server = (s1 - s0) / calls * 1e5;
  r.cpu_per_100k = r.cpu_client + r.cpu_server;
  r.server_hwm_kb = static_cast<double>(hwm);
  r.idle_conn_kb = static_cast<double>(rss1 - rss0) / spec->conns;
  r.errors = static_cast<double>(gen->errors());
  gen.reset();
  std::cout << format_result_line(r) << std::endl;
  return 0;
}

// ---- orchestrator ---------------------------------------------------------------

bool run_child(const std::string& system, const std::string& scenario, const Options& o, Result* out) {
  std::string cmd = "'" + self_dir() + "/tern_loopback_bench' --run " + system + " " + scenario +
                    " --duration-ms " + std::to_string(o.duration_ms) + " --warmup-ms " +
                    std::to_string(o.warmup_ms);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return false;
  char line[1024];
  bool got = false;
  while (std::fgets(line, sizeof line, p)) {
    if (parse_result_line(line, out)) got = true;
  }
  int rc = pclose(p);
  return got && rc == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string machine_info() {
  std::string model;
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  char date[64];
  std::time_t t = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  std::ostringstream os;
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);
  os << "nproc " << std::thread::hardware_concurrency() << ", CPU " << model << ", kernel " << u.sysname << " "
     << u.release << ", " << date << ", load average at the end " << load.substr(0, 14)
     << " (other work on the machine shares the 2 cores)";
  return os.str();
}

int orchestrate(const Options& o) {
  auto scen = o.scenarios.empty() ? std::vector<std::string>{} : o.scenarios;
  if (scen.empty())
    for (auto& s : scenarios()) scen.push_back(s.name);
  // Each scenario's own systems (systems_of), narrowed by --systems.
  auto systems_for = [&](const std::string& sc) {
    const Spec* spec = find_scenario(sc);
    std::vector<std::string> out;
    for (auto& sy : spec ? systems_of(*spec) : kSystems)
      if (o.systems.empty() || std::find(o.systems.begin(), o.systems.end(), sy) != o.systems.end())
        out.push_back(sy);
    return out;
  };
  std::map<std::pair<std::string, std::string>, std::vector<Result>> all;
  auto started = Clock::now();
  for (int round = 1; round <= o.rounds; ++round) {
    for (auto& sc : scen) {
      for (auto& sy : systems_for(sc)) {
        Result r;
        if (run_child(sy, sc, o, &r)) {
          all[{sc, sy}].push_back(r);
          const Spec* spec = find_scenario(sc);
          if (spec && spec->kind == Kind::kStream)
            std::fprintf(stderr, "  round %d  %-9s %-12s %12.0f msgs/s   %8.0f MB/s%s\n", round, sc.c_str(),
                         sy.c_str(), r.qps, r.mbps, r.errors > 0 ? "  (errors!)" : "");
          else
            std::fprintf(stderr, "  round %d  %-9s %-12s %12.0f calls/s  p99 %8.1f us%s\n", round, sc.c_str(),
                         sy.c_str(), r.qps, r.p99, r.errors > 0 ? "  (errors!)" : "");
        } else {
          std::fprintf(stderr, "  round %d  %-9s %-12s FAILED\n", round, sc.c_str(), sy.c_str());
        }
      }
    }
  }
  std::vector<Result> medians;
  for (auto& sc : scen)
    for (auto& sy : systems_for(sc)) {
      auto it = all.find({sc, sy});
      if (it != all.end()) medians.push_back(median_of(it->second));
    }
  Report rep;
  rep.machine = machine_info();
  rep.command = o.command;
  rep.rounds = o.rounds;
  rep.duration_ms = o.duration_ms;
  rep.warmup_ms = o.warmup_ms;
  rep.results = medians;
  rep.runtime_s = std::chrono::duration<double>(Clock::now() - started).count();
  if (!o.micro.empty()) rep.micro = read_file(o.micro);
  if (!o.notes.empty()) rep.notes = read_file(o.notes);
  std::cout << render_terminal(rep);
  if (!o.md.empty()) {
    std::ofstream(o.md) << render_markdown(rep);
    std::cout << "wrote " << o.md << "\n";
  }
  if (!o.svg.empty()) {
    std::ofstream(o.svg) << render_svg(rep);
    std::cout << "wrote " << o.svg << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::Options o;
  std::string run_system, run_scenario;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--run") {
      run_system = next();
      run_scenario = next();
    } else if (a == "--rounds") o.rounds = std::atoi(next().c_str());
    else if (a == "--duration-ms") o.duration_ms = std::atoi(next().c_str());
    else if (a == "--warmup-ms") o.warmup_ms = std::atoi(next().c_str());
    else if (a == "--scenarios") o.scenarios = bench::split(next());
    else if (a == "--systems") o.systems = bench::split(next());
    else if (a == "--md") o.md = next();
    else if (a == "--svg") o.svg = next();
    else if (a == "--micro") o.micro = next();
    else if (a == "--notes") o.notes = next();
    else if (a == "--command") o.command = next();
    else if (a == "--port") o.port = std::atoi(next().c_str());
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (!run_system.empty()) return bench::run_one(run_system, run_scenario, o);
  return bench::orchestrate(o);
}
