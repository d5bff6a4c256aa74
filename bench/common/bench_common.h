// bench/common/bench_common.h - shared pieces of the loopback benchmark
// (docs/benchmarks.md): scenario table, latency recorder, process control
// (spawn a server binary, read its port, measure its CPU and RSS through
// /proc), and small socket helpers.
//
// Everything here is benchmark scaffolding, not library code.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// What a scenario measures:
//   kEcho      unary echo calls, systems raw, grpc, tern-direct, tern-adaptive (default), tern-all
//   kStream    one server stream (a firehose of `size`-byte messages, counted
//              as "calls"), same systems: raw = length-prefixed messages on
//              a plain TCP socket, grpc = a server-streaming rpc, tern = a
//              provider stream method (issue #15)
//   kGrpcWire  unary echo on the gRPC wire (issue #16): systems grpc (gRPC C++
//              client -> gRPC C++ server), grpc-to-tern (the same client ->
//              a Tern provider's gRPC endpoint), tern-to-grpc (a Tern consumer
//              over grpc:// -> the gRPC C++ server)
enum class Kind { kEcho, kStream, kGrpcWire };

// One load shape: `conns` connections, `inflight` calls outstanding on each,
// `size` payload bytes per message (echoed back unchanged; streamed for kStream).
struct Spec {
  const char* name;
  const char* title;
  int conns;
  int inflight;
  std::size_t size;
  bool throughput;  // report MB/s
  Kind kind = Kind::kEcho;
};

inline const std::vector<Spec>& scenarios() {
  static const std::vector<Spec> k = {
      {"ping16", "16 B, 1 in flight, 1 conn", 1, 1, 16, false},
      {"mux64", "16 B, 64 in flight, 1 conn", 1, 64, 16, false},
      {"mux128", "16 B, 128 in flight, 1 conn", 1, 128, 16, false},
      {"conn64", "16 B, 64 conns x 1 in flight", 64, 1, 16, false},
      {"kib1", "1 KiB, 8 in flight, 1 conn", 1, 8, 1024, true},
      {"kib64", "64 KiB, 8 in flight, 1 conn", 1, 8, 64 * 1024, true},
      {"mib1", "1 MiB, 8 in flight, 1 conn", 1, 8, 1024 * 1024, true},
      {"conn1000", "16 B, 1000 conns x 1 in flight", 1000, 1, 16, false},
      {"stream16", "server stream, 16 B msgs, 1 stream", 1, 1, 16, true, Kind::kStream},
      {"stream64k", "server stream, 64 KiB msgs, 1 stream", 1, 1, 64 * 1024, true, Kind::kStream},
      {"gw1", "gRPC wire, unary 16 B, 1 in flight", 1, 1, 16, false, Kind::kGrpcWire},
      {"gw64", "gRPC wire, unary 16 B, 64 in flight", 1, 64, 16, false, Kind::kGrpcWire},
  };
  return k;
}

inline const Spec* find_scenario(const std::string& n) {
  for (auto& s : scenarios())
    if (n == s.name) return &s;
  return nullptr;
}

// The systems a scenario compares, in run order.
inline std::vector<std::string> systems_of(const Spec& s) {
  if (s.kind == Kind::kGrpcWire) return {"grpc", "grpc-to-tern", "tern-to-grpc"};
  return {"raw", "grpc", "tern-direct", "tern-adaptive", "tern-all"};
}

// Single-writer latency recorder. The load generator calls done() for every
// completed call; only calls completing while phase == kMeasure count.
class Recorder {
 public:
  enum Phase : int { kWarmup = 0, kMeasure = 1, kStopped = 2 };
  Recorder() { samples_.reserve(kMaxSamples); }
  void done(std::uint64_t latency_ns) {
    if (phase_.load(std::memory_order_acquire) != kMeasure) return;
    calls_.fetch_add(1, std::memory_order_relaxed);
    if (samples_.size() < kMaxSamples)
      samples_.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(latency_ns, 0xFFFFFFFFu)));
  }
  bool running() const { return phase_.load(std::memory_order_acquire) != kStopped; }
  void set_phase(Phase p) { phase_.store(p, std::memory_order_release); }
  std::uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  // Percentile in microseconds (sorts once).
  double percentile_us(double q) {
    if (samples_.empty()) return 0;
    if (!sorted_) {
      std::sort(samples_.begin(), samples_.end());
      sorted_ = true;
    }
    std::size_t i = std::min(samples_.size() - 1, static_cast<std::size_t>(q * samples_.size()));
    return samples_[i] / 1000.0;
  }
  std::size_t samples() const { return samples_.size(); }

 private:
  static constexpr std::size_t kMaxSamples = 4u << 20;
  std::atomic<int> phase_{kWarmup};
  std::atomic<std::uint64_t> calls_{0};
  std::vector<std::uint32_t> samples_;
  bool sorted_ = false;
};

// ---- process helpers -------------------------------------------------------

inline void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

inline std::string self_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

// CPU seconds of this process (all threads, user + system).
inline double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds of another process: the sum of its threads' schedstat run time
// (nanosecond resolution, unlike the 10 ms ticks of /proc/pid/stat).
inline double proc_cpu_seconds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  double total = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    unsigned long long run = 0;
    if (f >> run) total += run / 1e9;
  }
  closedir(d);
  return total;
}

// A field of /proc/pid/status in kB ("VmRSS", "VmHWM").
inline long proc_status_kb(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::size_t n = std::strlen(field);
  while (std::getline(f, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  }
  return 0;
}

// A child server process that printed "PORT <n>" on its stdout.
struct ServerProcess {
  pid_t pid = -1;
  int port = 0;

  bool start(const std::string& path, const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid = fork();
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(path.c_str()));
      for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      std::perror("execv");
      _exit(127);
    }
    close(fds[1]);
    FILE* in = fdopen(fds[0], "r");
    char line[256];
    while (in && std::fgets(line, sizeof line, in)) {
      if (std::sscanf(line, "PORT %d", &port) == 1) break;
    }
    if (in) std::fclose(in);  // the server ignores SIGPIPE
    if (port <= 0) {
      stop();
      return false;
    }
    return true;
  }

  void stop() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return;
      }
      usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~ServerProcess() { stop(); }
};

// ---- socket helpers ----------------------------------------------------------

inline int connect_loopback(int port, bool nonblocking) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace bench
