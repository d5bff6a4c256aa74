// The fault scenarios of `make chaos` and chaos_test; see chaos_util.h.
//
// Layout: child processes (Child), the load generator (Load: callers with one
// callback call in flight each, every completion tallied by status), then one
// function per scenario, then the table.
#include "chaos_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "server_process.h"
#include "tcp_proxy.h"
#include "test_services.h"
#include "tern/client.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using Calculator = testsvc::Calculator;

namespace chaos {

using Clock = std::chrono::steady_clock;
using testutil::wait_until;

namespace {

double ms_since(Clock::time_point t0, Clock::time_point t1 = Clock::now()) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count() / 1000.0;
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// ---------------------------------------------------------------------------
// Child processes

// A child process: stdout read line by line by a thread (so a chatty child
// never blocks on a full pipe), stderr appended to a log file, stdin a pipe
// held open (tern_test_provider stops when its stdin closes).
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& log_path) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return;
    if (pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return;
    }
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec.
      dup2(in[0], 0);
      dup2(out[1], 1);
      if (log >= 0) dup2(log, 2);
      // Nothing else of ours (sockets, other children's pipes) leaks into the child.
      if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
        for (int fd = 3; fd < 65536; ++fd) ::close(fd);
      }
      execv(args[0], args.data());
      _exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    if (log >= 0) ::close(log);
    stdin_ = in[1];
    int fd = out[0];
    reader_ = std::thread([this, fd] {
      std::string line;
      char buf[4096];
      for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i) {
          if (buf[i] != '\n') {
            line += buf[i];
            continue;
          }
          std::lock_guard lock(mu_);
          lines_.push_back(std::move(line));
          line.clear();
          cv_.notify_all();
        }
      }
      ::close(fd);
      std::lock_guard lock(mu_);
      eof_ = true;
      cv_.notify_all();
    });
  }
  ~Child() {
    kill_and_wait(SIGKILL);
    if (reader_.joinable()) reader_.join();
    if (stdin_ >= 0) ::close(stdin_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  int pid() const { return pid_; }

  // The first line (after those already consumed) containing `needle`.
  std::optional<std::string> wait_line(std::string_view needle, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu_);
    auto end = Clock::now() + limit;
    for (;;) {
      while (!lines_.empty()) {
        std::string l = std::move(lines_.front());
        lines_.pop_front();
        if (l.find(needle) != std::string::npos) return l;
      }
      if (eof_) return std::nullopt;
      if (cv_.wait_until(lock, end) == std::cv_status::timeout && lines_.empty()) return std::nullopt;
    }
  }

  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Sends `sig` and reaps the process (SIGKILL: at once; SIGTERM: after its graceful stop).
  void kill_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    if (sig != SIGKILL) ::kill(pid_, SIGCONT);  // a stopped process cannot handle SIGTERM
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  int pid_ = -1;
  int stdin_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool eof_ = false;
};

// A tern_test_provider (or a `tern registry`) process and its port.
struct Proc {
  std::unique_ptr<Child> child;
  int port = 0;
};

std::string log_path(const Config& c, const std::string& name) {
  ::mkdir(c.log_dir.c_str(), 0755);
  return c.log_dir + "/" + name + ".log";
}

Proc start_provider(const Config& c, const std::string& name, std::vector<std::string> extra) {
  std::vector<std::string> argv{c.bin_dir + "/tern_test_provider"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Proc p;
  p.child = std::make_unique<Child>(argv, log_path(c, name));
  if (auto l = p.child->wait_line("PORT ")) p.port = std::stoi(l->substr(l->find("PORT ") + 5));
  return p;
}

// `tern registry` on 127.0.0.1:port (0 = a free port); heartbeats of `hb`.
Proc start_registry(const Config& c, int port, std::chrono::milliseconds hb) {
  Proc p;
  p.child = std::make_unique<Child>(
      std::vector<std::string>{c.bin_dir + "/tern", "registry", "--listen", "127.0.0.1:" + std::to_string(port),
                               "--heartbeat-interval", std::to_string(hb.count())},
      log_path(c, "registry"));
  if (auto l = p.child->wait_line("listening on port ")) {
    p.port = std::stoi(l->substr(l->find("listening on port ") + 18));
  }
  return p;
}

constexpr auto kRegistryHeartbeat = 300ms;

// Provider arguments for a registry at `registry_port`; registry reconnect
// backoff 50 ms .. 500 ms (`fast_backoff`) or the default 100 ms .. 5 s.
std::vector<std::string> registered(int registry_port, std::vector<std::string> more = {}, bool fast_backoff = true) {
  std::vector<std::string> a{"--registry", "tern://127.0.0.1:" + std::to_string(registry_port), "--heartbeat",
                             std::to_string(kRegistryHeartbeat.count())};
  if (fast_backoff) {
    a.push_back("--backoff");
    a.push_back("50");
  }
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// ---------------------------------------------------------------------------
// Load

// Steady load: `callers` threads, each with one callback call in flight,
// waiting for its completion (at most the deadline plus a margin: a call that
// never completes is counted as missing, and the caller goes on).
class Load {
 public:
  // sleep_ms > 0: calls sleep_ms(sleep_ms) (the provider holds each call that
  // long, so calls are in flight when a fault hits); 0: add(i, 1).
  Load(tern::Proxy<Calculator> proxy, const Config& config, int sleep_ms = 0)
      : proxy_(std::move(proxy)), config_(config), sleep_ms_(sleep_ms) {}
  ~Load() { stop(); }

  void start() {
    start_ = Clock::now();
    for (int i = 0; i < config_.callers; ++i) threads_.emplace_back([this, i] { caller(i); });
  }
  Clock::time_point started() const { return start_; }

  // Stops sending, waits for the calls in flight, fills `r`.
  void stop(Report* r = nullptr) {
    stopping_.store(true);
    for (auto& t : threads_) t.join();
    threads_.clear();
    // Everything sent must complete within its deadline (plus slack).
    wait_until([&] { return completed_.load() == sent_.load(); }, config_.timeout + 2s);
    if (r == nullptr) return;
    std::lock_guard lock(mu_);
    r->sent = sent_.load();
    r->ok = ok_;
    r->failed = failed_;
    r->missing = sent_.load() - completed_.load();
    r->max_failed_ms = max_failed_ms_;
    r->max_ms = max_ms_;
  }

  // Failures and successes completed in [from, to) (times since start()).
  struct Window {
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
  };
  Window window(std::chrono::milliseconds from, std::chrono::milliseconds to) {
    std::lock_guard lock(mu_);
    Window w;
    for (auto& [t, good] : events_) {
      if (t >= from && t < to) (good ? w.ok : w.failed)++;
    }
    return w;
  }
  // Completion times (since start()) of the failed calls.
  std::vector<std::chrono::milliseconds> failure_times() {
    std::lock_guard lock(mu_);
    std::vector<std::chrono::milliseconds> out;
    for (auto& [t, good] : events_) {
      if (!good) out.push_back(t);
    }
    return out;
  }
  // Calls completed later than their deadline + 200 ms (a hang, or a timer firing late).
  std::uint64_t late() const { return late_.load(); }
  std::map<std::string, std::uint64_t> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };

  void caller(int index) {
    int i = index * 1000000;
    while (!stopping_.load(std::memory_order_relaxed)) {
      auto slot = std::make_shared<Slot>();
      auto t0 = Clock::now();
      ++i;
      sent_.fetch_add(1);
      auto finish = [this, slot, t0](const tern::Status& s) {
        record(s, t0);
        std::lock_guard lock(slot->mu);
        slot->done = true;
        slot->cv.notify_all();
      };
      if (sleep_ms_ > 0) {
        proxy_.callback<&Calculator::sleep_ms>(
            [finish, n = sleep_ms_](tern::Result<std::string> r) {
              if (r && *r != "slept " + std::to_string(n)) {
                finish(tern::Status(tern::StatusCode::kDataLoss, "wrong result: " + *r));
              } else {
                finish(r.status());
              }
            },
            sleep_ms_);
      } else {
        proxy_.callback<&Calculator::add>(
            [finish, i](tern::Result<int> r) {
              if (r && *r != i + 1) {
                finish(tern::Status(tern::StatusCode::kDataLoss, "wrong result"));
              } else {
                finish(r.status());
              }
            },
            i, 1);
      }
      {
        std::unique_lock lock(slot->mu);
        slot->cv.wait_for(lock, config_.timeout + 2s, [&] { return slot->done; });
      }
      if (config_.pause.count() > 0) std::this_thread::sleep_for(config_.pause);
    }
  }

  void record(const tern::Status& s, Clock::time_point t0) {
    auto now = Clock::now();
    double ms = ms_since(t0, now);
    if (now - t0 > config_.timeout + 200ms) late_.fetch_add(1);
    auto at = std::chrono::duration_cast<std::chrono::milliseconds>(now - start_);
    std::lock_guard lock(mu_);
    max_ms_ = std::max(max_ms_, ms);
    if (s.is_ok()) {
      ++ok_;
    } else {
      ++failed_[s.code()];
      max_failed_ms_ = std::max(max_failed_ms_, ms);
      if (messages_.size() < 20) ++messages_[std::string(tern::status_code_name(s.code())) + ": " + s.message()];
    }
    events_.emplace_back(at, s.is_ok());
    completed_.fetch_add(1);
  }

  tern::Proxy<Calculator> proxy_;
  const Config& config_;
  int sleep_ms_;
  Clock::time_point start_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> late_{0};
  std::mutex mu_;
  std::uint64_t ok_ = 0;
  std::map<tern::StatusCode, std::uint64_t> failed_;
  std::map<std::string, std::uint64_t> messages_;
  double max_failed_ms_ = 0;
  double max_ms_ = 0;
  std::vector<std::pair<std::chrono::milliseconds, bool>> events_;
};

tern::ClientOptions client_options(std::chrono::milliseconds heartbeat = 10s) {
  tern::ClientOptions o;
  o.io_threads = 2;
  o.channel.heartbeat_interval = heartbeat;
  o.registry.heartbeat_interval = kRegistryHeartbeat;
  o.registry.initial_backoff = 50ms;
  o.registry.max_backoff = 500ms;
  return o;
}

tern::ReferenceOptions reference_options(const Config& c) {
  tern::ReferenceOptions o;
  o.timeout = c.timeout;
  o.load_balance = "round_robin";
  o.warmup = 0ms;  // a restarted provider takes its share at once
  o.seed = 42;
  return o;
}

bool has_port(const tern::Proxy<Calculator>& p, int port) {
  for (auto& u : p.reference()->providers()) {
    if (u.host_port().port == port) return true;
  }
  return false;
}

std::uint64_t attempts_to(const tern::Proxy<Calculator>& p, int port) {
  for (auto& s : p.reference()->provider_stats()) {
    if (s.url.host_port().port == port) return s.attempts;
  }
  return 0;
}

// In the directory, attempted since `before` attempts, its last attempt not
// a connection failure, and not ejected: discovered and taking calls.
bool answering(const tern::Proxy<Calculator>& p, int port, std::uint64_t before) {
  for (auto& s : p.reference()->provider_stats()) {
    if (s.url.host_port().port == port) return s.attempts > before && s.consecutive_failures == 0 && !s.ejected;
  }
  return false;
}

void add_messages(Report& r, Load& load) {
  for (auto& [m, n] : load.messages()) r.notes.push_back(fmt::format("failure: {} (x{})", m, n));
}

void common_checks(Report& r, Load& load) {
  r.check("every call accounted for (0 missing)", r.missing == 0 && r.sent == r.ok + r.failed_total());
  r.check("no call completed later than its deadline + 200 ms", load.late() == 0);
  r.check("no wrong result", r.failed.count(tern::StatusCode::kDataLoss) == 0);
}

// The cluster of scenarios 1-4: a registry, 3 registered providers, a consumer.
struct Cluster {
  Proc registry;
  std::vector<Proc> providers;
  std::unique_ptr<tern::Client> client;
  tern::Proxy<Calculator> proxy;
  bool ready = false;

  // `direct`: the consumer refers to the 3 providers with a direct:// list
  // (no registry pushes: it learns of a stopping provider by its goaway only).
  Cluster(const Config& c, const std::string& tag, std::vector<std::string> provider_args,
          std::chrono::milliseconds channel_heartbeat = 10s, bool direct = false, bool fast_backoff = true) {
    registry = start_registry(c, 0, kRegistryHeartbeat);
    if (registry.port == 0) return;
    for (int i = 0; i < 3; ++i) {
      providers.push_back(start_provider(c, tag + "-provider-" + std::to_string(i),
                                         registered(registry.port, provider_args, fast_backoff)));
      if (providers.back().port == 0) return;
    }
    client = std::make_unique<tern::Client>(client_options(channel_heartbeat));
    std::string url = "tern://127.0.0.1:" + std::to_string(registry.port);
    if (direct) {
      url = "direct://";
      for (auto& p : providers) url += (url.size() > 9 ? "," : "") + ("127.0.0.1:" + std::to_string(p.port));
    }
    auto p = client->refer<Calculator>(url, reference_options(c));
    if (!p) return;
    proxy = *p;
    ready = wait_until([&] { return proxy.reference()->providers().size() == 3; }, 5s);
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// Report

std::uint64_t Report::failed_total() const {
  std::uint64_t n = 0;
  for (auto& [code, count] : failed) n += count;
  return n;
}

bool Report::passed() const {
  for (auto& [what, held] : checks) {
    if (!held) return false;
  }
  return !checks.empty();
}

std::uint64_t raise_nofile_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

std::uint64_t rss_bytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

namespace {
std::size_t open_fds(int pid) {
  std::size_t n = 0;
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n >= 2 ? n - 2 : 0;  // . and ..
}
}  // namespace

// ---------------------------------------------------------------------------
// 1. SIGKILL one provider of 3

Report kill_provider(const Config& c) {
  Report r;
  r.scenario = "1 SIGKILL 1 of 3 providers";
  const int kSleep = 2;
  Cluster cl(c, "kill", {});
  r.check("cluster started (registry, 3 providers discovered)", cl.ready);
  if (!cl.ready) return r;
  Load load(cl.proxy, c, kSleep);
  load.start();
  std::this_thread::sleep_for(c.duration / 3);
  int victim = cl.providers[1].port;
  auto killed = Clock::now();
  auto killed_at = std::chrono::duration_cast<std::chrono::milliseconds>(killed - load.started());
  cl.providers[1].child->kill_and_wait(SIGKILL);
  bool removed = wait_until([&] { return !has_port(cl.proxy, victim); }, 3s, 1ms);
  double removed_ms = ms_since(killed);
  std::this_thread::sleep_for(c.duration - c.duration / 3);
  load.stop(&r);
  auto after = load.window(killed_at + 1000ms, c.duration + 10s);
  r.notes.push_back(fmt::format("killed provider :{} at {} ms; removed from the consumer's directory after {:.1f} ms",
                                victim, killed_at.count(), removed_ms));
  r.notes.push_back(fmt::format("max latency of a failed call {:.1f} ms; calls from 1 s after the kill: {} ok, {} failed",
                                r.max_failed_ms, after.ok, after.failed));
  add_messages(r, load);
  common_checks(r, load);
  r.check("failures only UNAVAILABLE (the calls in flight on the killed provider)",
          r.failed_total() == r.failed[tern::StatusCode::kUnavailable]);
  r.check(fmt::format("at most one failure per caller ({})", c.callers),
          r.failed_total() <= static_cast<std::uint64_t>(c.callers));
  r.check("failed calls failed promptly (< 500 ms, deadline " + std::to_string(c.timeout.count()) + " ms)",
          r.max_failed_ms < 500);
  r.check("the killed provider left the directory within 2 s", removed && removed_ms < 2000);
  r.check("no failure from 1 s after the kill, and calls still succeed", after.failed == 0 && after.ok > 0);
  return r;
}

// ---------------------------------------------------------------------------
// 2. Registry restart

Report restart_registry(const Config& c) {
  Report r;
  r.scenario = "2 registry SIGKILL + restart";
  // The providers reconnect with the default backoff (100 ms doubling to
  // 5 s), the consumer with 50 ms .. 500 ms: the consumer re-subscribes
  // before the providers have registered again, as it may in production.
  constexpr auto kDown = 2000ms;
  Cluster cl(c, "registry", {}, 10s, false, /*fast_backoff=*/false);
  r.check("cluster started (registry, 3 providers discovered)", cl.ready);
  if (!cl.ready) return r;
  Load load(cl.proxy, c);
  load.start();
  // Watch the consumer's directory while the registry is away.
  std::atomic<bool> watching{true};
  std::atomic<std::size_t> min_providers{3};
  std::thread watcher([&] {
    while (watching.load()) {
      std::size_t n = cl.proxy.reference()->providers().size();
      if (n < min_providers.load()) min_providers.store(n);
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(c.duration / 3);
  int port = cl.registry.port;
  cl.registry.child->kill_and_wait(SIGKILL);
  std::this_thread::sleep_for(kDown);
  auto restarted = Clock::now();
  cl.registry = start_registry(c, port, kRegistryHeartbeat);
  bool back = cl.registry.port == port;
  // The providers re-register: the registry prints "Calculator: 3 providers".
  bool repopulated = back && cl.registry.child->wait_line(": 3 providers", 5s).has_value();
  double repopulated_ms = ms_since(restarted);
  auto rest = c.duration - c.duration / 3 - kDown;
  if (rest > 0ms) std::this_thread::sleep_for(rest);
  // A registration change after the restart still reaches the consumer.
  auto extra = start_provider(c, "registry-provider-3", registered(port));
  bool pushed = extra.port != 0 && wait_until([&] { return has_port(cl.proxy, extra.port); }, 5s);
  std::this_thread::sleep_for(300ms);
  watching.store(false);
  watcher.join();
  load.stop(&r);
  r.notes.push_back(fmt::format("registry down {} ms; 3 providers registered again {:.0f} ms after its restart; "
                                "consumer directory never below {} provider(s)",
                                kDown.count(), repopulated_ms, min_providers.load()));
  add_messages(r, load);
  common_checks(r, load);
  r.check("registry restarted on the same port", back);
  r.check("providers re-registered within 5 s", repopulated);
  r.check("consumer kept its providers (directory never empty)", min_providers.load() > 0);
  r.check("a provider started after the restart is pushed to the consumer", pushed);
  r.check("no failed call", r.failed_total() == 0);
  return r;
}

// ---------------------------------------------------------------------------
// 3. Rolling restart

Report rolling_restart(const Config& c, bool direct) {
  Report r;
  r.scenario = direct ? "3b rolling restart, direct:// list" : "3 rolling restart (SIGTERM) x3";
  // With a registry the calls hold the provider 2 ms (in flight when the stop
  // begins); with a direct:// list they are quick adds, so a provider is
  // often idle when its goaway leaves while requests are still in transit.
  const int kSleep = direct ? 0 : 2;
  const std::vector<std::string> args{"--grace", "3000"};
  Cluster cl(c, direct ? "rolling-direct" : "rolling", args, 10s, direct);
  r.check("cluster started (registry, 3 providers discovered)", cl.ready);
  if (!cl.ready) return r;
  Load load(cl.proxy, c, kSleep);
  load.start();
  auto pause = c.duration / 4;
  std::this_thread::sleep_for(pause);
  bool all_back = true;
  std::vector<double> stop_ms, discover_ms;
  for (int i = 0; i < 3; ++i) {
    int port = cl.providers[i].port;
    auto t0 = Clock::now();
    cl.providers[i].child->kill_and_wait(SIGTERM);  // graceful: returns once the process exited
    stop_ms.push_back(ms_since(t0));
    auto t1 = Clock::now();
    auto before = attempts_to(cl.proxy, port);
    auto args_i = registered(cl.registry.port, args);
    args_i.push_back("--listen");
    args_i.push_back("127.0.0.1:" + std::to_string(port));
    cl.providers[i] = start_provider(c, "rolling-provider-" + std::to_string(i) + "b", args_i);
    // Discovered and taking calls again.
    bool back = cl.providers[i].port == port &&
                wait_until([&] { return answering(cl.proxy, port, before); }, 5s, 2ms);
    discover_ms.push_back(ms_since(t1));
    all_back = all_back && back;
    std::this_thread::sleep_for(pause / 2);
  }
  std::this_thread::sleep_for(pause);
  load.stop(&r);
  r.notes.push_back(fmt::format("graceful stops took {:.0f} / {:.0f} / {:.0f} ms; restarted providers took calls "
                                "again after {:.0f} / {:.0f} / {:.0f} ms",
                                stop_ms[0], stop_ms[1], stop_ms[2], discover_ms[0], discover_ms[1], discover_ms[2]));
  add_messages(r, load);
  common_checks(r, load);
  r.check("every restarted provider was discovered and used again", all_back);
  r.check("no failed call", r.failed_total() == 0);
  return r;
}

// ---------------------------------------------------------------------------
// 4. SIGSTOP / SIGCONT

Report freeze_provider(const Config& c) {
  Report r;
  r.scenario = "4 SIGSTOP 1 of 3 for 3 s";
  Config cc = c;
  cc.timeout = 500ms;
  Cluster cl(cc, "freeze", {}, /*channel_heartbeat=*/200ms);
  r.check("cluster started (registry, 3 providers discovered)", cl.ready);
  if (!cl.ready) return r;
  Load load(cl.proxy, cc);
  load.start();
  std::this_thread::sleep_for(c.duration / 4);
  int victim = cl.providers[0].port;
  auto stopped = Clock::now();
  auto stopped_at = std::chrono::duration_cast<std::chrono::milliseconds>(stopped - load.started());
  cl.providers[0].child->signal(SIGSTOP);
  bool removed = wait_until([&] { return !has_port(cl.proxy, victim); }, 2900ms, 2ms);
  double removed_ms = ms_since(stopped);
  std::this_thread::sleep_until(stopped + 3000ms);
  auto attempts_frozen = attempts_to(cl.proxy, victim);
  auto resumed_at = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - load.started());
  cl.providers[0].child->signal(SIGCONT);
  auto resumed = Clock::now();
  bool rediscovered = wait_until([&] { return has_port(cl.proxy, victim); }, 5s, 2ms);
  double rediscovered_ms = ms_since(resumed);
  bool used_again = wait_until([&] { return attempts_to(cl.proxy, victim) > attempts_frozen + 10; }, 3s, 2ms);
  std::this_thread::sleep_for(c.duration / 4);
  load.stop(&r);
  auto frozen_window = load.window(stopped_at + 2000ms, resumed_at);
  auto after = load.window(resumed_at + std::chrono::milliseconds(static_cast<int>(rediscovered_ms)) + 500ms,
                           c.duration + 60s);
  auto failures = load.failure_times();
  double last_failure_ms = failures.empty() ? 0 : static_cast<double>((failures.back() - stopped_at).count());
  r.notes.push_back(fmt::format("frozen provider :{} removed from the directory {:.0f} ms after SIGSTOP "
                                "(heartbeats 300 ms, consumer channel 200 ms); back {:.0f} ms after SIGCONT",
                                victim, removed_ms, rediscovered_ms));
  r.notes.push_back(fmt::format("max latency of a failed call {:.1f} ms (deadline {} ms); last failure {:.0f} ms after "
                                "SIGSTOP; while frozen (from +2 s) {} ok / {} failed; after recovery {} ok / {} failed",
                                r.max_failed_ms, cc.timeout.count(), last_failure_ms, frozen_window.ok,
                                frozen_window.failed, after.ok, after.failed));
  add_messages(r, load);
  common_checks(r, load);
  std::uint64_t expected = r.failed[tern::StatusCode::kDeadlineExceeded] + r.failed[tern::StatusCode::kUnavailable];
  r.check("failures only DEADLINE_EXCEEDED / UNAVAILABLE", r.failed_total() == expected);
  r.check(fmt::format("failed calls failed by their deadline (+{} ms)", c.slack.count()),
          r.max_failed_ms <= static_cast<double>((cc.timeout + c.slack).count()));
  r.check("frozen provider removed by heartbeats within 2 s", removed && removed_ms < 2000);
  r.check("the others kept working while it was frozen", frozen_window.ok > 0 && frozen_window.failed == 0);
  r.check("it is discovered and used again after SIGCONT", rediscovered && used_again);
  r.check("no failure after it recovered", after.failed == 0 && after.ok > 0);
  return r;
}

// ---------------------------------------------------------------------------
// 5. A consumer that stops reading

Report slow_reader(const Config& c) {
  Report r;
  r.scenario = "5 consumer never reads";
  constexpr std::size_t kLimit = 1u << 20;  // provider's max_write_queue_bytes
  auto prov = start_provider(c, "slow-reader-provider",
                             {"--max-write-queue", std::to_string(kLimit), "--io-threads", "1"});
  r.check("provider started", prov.port != 0);
  if (prov.port == 0) return r;
  tern::Client client(client_options());
  auto proxy = client.refer<Calculator>("direct://127.0.0.1:" + std::to_string(prov.port), reference_options(c)).value();
  (void)proxy.call<&Calculator::add>(1, 2);  // warm up: threads, first connection
  std::this_thread::sleep_for(200ms);
  std::uint64_t rss_before = rss_bytes(prov.child->pid());

  // A valid request whose response is 64 KiB: greet(64 KiB name).
  std::string request;
  (void)proxy.encode<&Calculator::greet>(false, request, std::string(64 * 1024, 'x'));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(prov.port));
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  r.check("raw consumer connected", connected);

  Load load(proxy, c);
  load.start();
  std::atomic<bool> sampling{true};
  std::atomic<std::uint64_t> rss_peak{rss_before};
  std::thread sampler([&] {
    while (sampling.load()) {
      rss_peak.store(std::max(rss_peak.load(), rss_bytes(prov.child->pid())));
      std::this_thread::sleep_for(20ms);
    }
  });
  // Pipeline requests and never read, until the provider closes the connection.
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  std::uint64_t requests = 0;
  std::size_t off = 0;
  bool closed = false;
  std::string close_error;
  auto t0 = Clock::now();
  auto give_up = t0 + c.duration;
  while (connected && Clock::now() < give_up) {
    ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      if (off == request.size()) {
        off = 0;
        ++requests;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 20);
      if (p.revents & (POLLERR | POLLHUP)) {
        closed = true;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        close_error = err ? std::strerror(err) : "hang-up";
        break;
      }
      continue;
    }
    closed = true;
    close_error = std::strerror(errno);
    break;
  }
  double closed_ms = ms_since(t0);
  // Keep the other consumer's load running a little after the close.
  std::this_thread::sleep_until(std::max(Clock::now() + 500ms, t0 + c.duration / 2));
  sampling.store(false);
  sampler.join();
  load.stop(&r);
  std::uint64_t rss_after = rss_bytes(prov.child->pid());
  ::close(fd);
  r.notes.push_back(fmt::format("raw consumer pipelined {} greet requests (64 KiB responses, {:.0f} MiB unread) and "
                                "was closed after {:.0f} ms ({})",
                                requests, mib(requests * 65 * 1024), closed_ms, close_error));
  r.notes.push_back(fmt::format("provider RSS {:.1f} MiB before, peak {:.1f} MiB, {:.1f} MiB after "
                                "(max_write_queue_bytes {} KiB)",
                                mib(rss_before), mib(rss_peak.load()), mib(rss_after), kLimit / 1024));
  add_messages(r, load);
  common_checks(r, load);
  r.check("the non-reading connection was closed by the provider", closed);
  r.check("provider RSS grew by less than 64 MiB", rss_peak.load() < rss_before + (64u << 20));
  r.check("the other consumer was unaffected (no failed call)", r.failed_total() == 0 && r.ok > 0);
  return r;
}

// ---------------------------------------------------------------------------
// 6. Idle connections

Report idle_connections(const Config& c) {
  Report r;
  r.scenario = fmt::format("6 {} idle connections", c.idle_connections);
  std::uint64_t limit = raise_nofile_limit();
  auto prov = start_provider(c, "idle-provider", {"--raise-nofile", "1", "--io-threads", "1"});
  r.check("provider started", prov.port != 0);
  if (prov.port == 0) return r;
  tern::Client client(client_options());
  auto proxy = client.refer<Calculator>("direct://127.0.0.1:" + std::to_string(prov.port), reference_options(c)).value();
  (void)proxy.call<&Calculator::add>(1, 2);
  std::this_thread::sleep_for(300ms);
  int pid = prov.child->pid();
  std::size_t fds_before = open_fds(pid);
  std::uint64_t rss_before = rss_bytes(pid);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(prov.port));
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(c.idle_connections));
  std::string connect_error;
  auto t0 = Clock::now();
  for (int i = 0; i < c.idle_connections; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      connect_error = std::strerror(errno);
      break;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      connect_error = std::strerror(errno);
      ::close(fd);
      break;
    }
    fds.push_back(fd);
  }
  double connect_ms = ms_since(t0);
  // Accepted when the provider holds that many more descriptors.
  bool accepted = wait_until([&] { return open_fds(pid) >= fds_before + fds.size(); }, 10s, 20ms);
  double accept_ms = ms_since(t0);
  // Let the allocations settle.
  std::uint64_t rss_after = rss_bytes(pid);
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(100ms);
    std::uint64_t now = rss_bytes(pid);
    if (now == rss_after) break;
    rss_after = now;
  }
  Config short_load = c;
  short_load.duration = std::min<std::chrono::milliseconds>(c.duration, 2000ms);
  Load load(proxy, short_load);
  load.start();
  std::this_thread::sleep_for(short_load.duration);
  load.stop(&r);
  std::size_t fds_held = open_fds(pid) - fds_before;
  for (int fd : fds) ::close(fd);
  double per_conn = fds.empty() ? 0 : static_cast<double>(rss_after - std::min(rss_after, rss_before)) / fds.size();
  r.notes.push_back(fmt::format("RLIMIT_NOFILE {}; {} connections opened in {:.0f} ms, all accepted after {:.0f} ms{}",
                                limit, fds.size(), connect_ms, accept_ms,
                                connect_error.empty() ? "" : " (stopped: " + connect_error + ")"));
  r.notes.push_back(fmt::format("provider RSS {:.1f} MiB before, {:.1f} MiB with {} idle connections: {:.0f} bytes "
                                "per idle connection (user space; kernel socket buffers not counted)",
                                mib(rss_before), mib(rss_after), fds_held, per_conn));
  add_messages(r, load);
  common_checks(r, load);
  r.check(fmt::format("{} connections opened and accepted", c.idle_connections),
          static_cast<int>(fds.size()) == c.idle_connections && accepted);
  r.check("less than 16 KiB of RSS per idle connection", per_conn < 16 * 1024);
  r.check("calls on another connection succeed (no failed call)", r.failed_total() == 0 && r.ok > 0);
  return r;
}

// ---------------------------------------------------------------------------
// 7. A connect that is never answered

Report blackhole_connect(const Config& c) {
  Report r;
  r.scenario = "7 connect never answered";
  // A listening socket with backlog 0 that never accepts; once its accept
  // queue is full the kernel drops further SYNs (no RST): the connect hangs.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  bool listening = ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(lfd, 0) == 0 &&
                   ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  int port = ntohs(addr.sin_port);
  std::vector<int> fillers;
  bool full = false;
  for (int i = 0; listening && i < 16 && !full; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
    pollfd p{fd, POLLOUT, 0};
    full = ::poll(&p, 1, 200) == 0;  // not connected within 200 ms: SYNs are being dropped
  }
  r.check("accept queue full (a connect hangs)", full);
  tern::Client client(client_options());
  auto o = reference_options(c);
  o.timeout = 500ms;
  auto proxy = client.refer<Calculator>("direct://127.0.0.1:" + std::to_string(port), o).value();
  Config cc = c;
  cc.timeout = o.timeout;
  cc.duration = std::min<std::chrono::milliseconds>(c.duration, 2000ms);
  Load load(proxy, cc);
  load.start();
  std::this_thread::sleep_for(cc.duration);
  load.stop(&r);
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
  r.notes.push_back(fmt::format("{} connects filled the accept queue; calls with a {} ms deadline (connect timeout "
                                "3000 ms): slowest completed after {:.1f} ms",
                                fillers.size() - 1, o.timeout.count(), r.max_ms));
  add_messages(r, load);
  common_checks(r, load);
  std::uint64_t expected = r.failed[tern::StatusCode::kDeadlineExceeded] + r.failed[tern::StatusCode::kUnavailable];
  r.check("every call failed with DEADLINE_EXCEEDED / UNAVAILABLE", r.ok == 0 && r.sent > 0 && r.failed_total() == expected);
  r.check(fmt::format("every call failed within its deadline (+{} ms)", c.slack.count()),
          r.max_ms <= static_cast<double>((o.timeout + c.slack).count()));
  return r;
}

// ---------------------------------------------------------------------------
// 8, 9. Registry clusters: a 3-node ZooKeeper ensemble, a 3-member etcd cluster

namespace {

// Three registry servers on loopback (free ports, one temp dir), each a Child.
class Ensemble {
 public:
  Ensemble(const Config& c, RegistryKind kind) : config_(c), kind_(kind) {
    dir_.create(kind == RegistryKind::kZookeeper ? "tern-chaos-zk-" : "tern-chaos-etcd-");
    std::set<std::uint16_t> used;
    auto fresh = [&] {
      std::uint16_t p;
      do {
        p = testutil::free_port();
      } while (p == 0 || used.count(p));
      used.insert(p);
      return p;
    };
    for (int i = 0; i < 3; ++i) {
      client_[i] = fresh();
      peer_[i] = fresh();
      election_[i] = fresh();
    }
    if (kind_ == RegistryKind::kZookeeper) write_zk_configs();
  }
  ~Ensemble() {
    for (auto& n : nodes_) n.reset();  // SIGKILL before the directory goes
  }

  std::string name() const { return kind_ == RegistryKind::kZookeeper ? "zookeeper" : "etcd"; }
  // zookeeper://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c (or etcd://...).
  std::string url() const {
    std::string u = name() + "://";
    for (int i = 0; i < 3; ++i) u += (i ? "," : "") + ("127.0.0.1:" + std::to_string(client_[i]));
    return u;
  }

  void start(int i) {
    const std::string log = log_path(config_, name() + "-" + std::to_string(i));
    if (kind_ == RegistryKind::kZookeeper) {
      nodes_[i] = std::make_unique<Child>(
          std::vector<std::string>{"/usr/bin/java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                   "-Dzookeeper.jmx.log4j.disable=true", "-cp", "/usr/share/java/zookeeper.jar",
                                   "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                   dir_.path() + "/zk" + std::to_string(i) + "/zoo.cfg"},
          log);
      return;
    }
    std::string cluster;
    for (int k = 0; k < 3; ++k) {
      cluster += (k ? "," : "") + fmt::format("m{}=http://127.0.0.1:{}", k, peer_[k]);
    }
    const std::string client = "http://127.0.0.1:" + std::to_string(client_[i]);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_[i]);
    nodes_[i] = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/etcd", "--name=m" + std::to_string(i),
                                 "--data-dir=" + dir_.path() + "/etcd" + std::to_string(i),
                                 "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
                                 "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
                                 "--initial-cluster=" + cluster, "--initial-cluster-state=new",
                                 "--initial-cluster-token=tern-chaos", "--heartbeat-interval=100",
                                 "--election-timeout=1000", "--log-level=error"},
        log);
  }
  void kill(int i) {
    if (nodes_[i]) nodes_[i]->kill_and_wait(SIGKILL);
    nodes_[i].reset();
  }
  bool running(int i) const { return nodes_[i] != nullptr; }

  // The node that is leader now (-1: none, or no quorum).
  int leader() const {
    for (int i = 0; i < 3; ++i) {
      if (running(i) && role(i) == 2) return i;
    }
    return -1;
  }
  // 0 = not serving, 1 = follower, 2 = leader.
  int role(int i) const {
    if (kind_ == RegistryKind::kZookeeper) {
      std::string reply = four_letter(client_[i], "srvr");
      if (reply.find("Mode: leader") != std::string::npos) return 2;
      if (reply.find("Mode: follower") != std::string::npos) return 1;
      return 0;
    }
    // etcdctl endpoint status -w json: {"header":{"member_id":N,...},"leader":N,...}
    std::string cmd = fmt::format(
        "/usr/bin/etcdctl --endpoints=http://127.0.0.1:{} --dial-timeout=500ms --command-timeout=1s "
        "endpoint status -w json 2>/dev/null",
        client_[i]);
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
      char buf[1024];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      ::pclose(f);
    }
    auto number_after = [&](const std::string& key) -> std::string {
      auto at = out.find(key);
      if (at == std::string::npos) return {};
      at += key.size();
      auto end = out.find_first_not_of("0123456789", at);
      return out.substr(at, end - at);
    };
    std::string me = number_after("\"member_id\":"), lead = number_after("\"leader\":");
    if (me.empty() || lead.empty() || lead == "0") return 0;
    return me == lead ? 2 : 1;
  }
  // Every running node serves and one of them leads.
  bool healthy() const {
    int leaders = 0;
    for (int i = 0; i < 3; ++i) {
      if (!running(i)) continue;
      int r = role(i);
      if (r == 0) return false;
      leaders += r == 2;
    }
    return leaders == 1;
  }

 private:
  static std::string four_letter(std::uint16_t port, const char* word) {
    int fd = testutil::detail::connect_loopback(port);
    if (fd < 0) return {};
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string reply;
    if (testutil::detail::write_all(fd, word, std::strlen(word))) {
      char buf[512];
      ssize_t n = 0;
      while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return reply;
  }

  void write_zk_configs() {
    for (int i = 0; i < 3; ++i) {
      const std::string d = dir_.path() + "/zk" + std::to_string(i);
      ::mkdir(d.c_str(), 0755);
      std::ofstream(d + "/myid") << (i + 1) << "\n";
      std::ofstream cfg(d + "/zoo.cfg");
      cfg << "tickTime=100\ninitLimit=100\nsyncLimit=30\n"
          << "dataDir=" << d << "\n"
          << "clientPort=" << client_[i] << "\nclientPortAddress=127.0.0.1\n"
          << "maxClientCnxns=0\nminSessionTimeout=200\nmaxSessionTimeout=60000\n"
          << "admin.enableServer=false\n4lw.commands.whitelist=*\nforceSync=no\n";
      for (int k = 0; k < 3; ++k) {
        cfg << "server." << (k + 1) << "=127.0.0.1:" << peer_[k] << ":" << election_[k] << "\n";
      }
    }
  }

  const Config& config_;
  RegistryKind kind_;
  testutil::TempDir dir_;
  std::uint16_t client_[3]{}, peer_[3]{}, election_[3]{};
  std::unique_ptr<Child> nodes_[3];
};

}  // namespace

Report registry_cluster(const Config& c, RegistryKind kind) {
  Report r;
  Ensemble ens(c, kind);
  r.scenario = kind == RegistryKind::kZookeeper ? "8 ZooKeeper x3: kill leader, follower"
                                                 : "9 etcd x3: kill leader, follower";
  // Registry heartbeat 1 s: ZooKeeper session / etcd lease of 3 s, longer
  // than an election on a loaded 2-core machine.
  constexpr auto kHeartbeat = 1000ms;
  constexpr auto kElectionBound = 10s;   // a new leader after a leader's SIGKILL
  constexpr auto kVanishBound = 10s;     // a provider SIGKILLed during the election leaves the directory
  constexpr auto kAbsenceBound = 5000ms;  // a live provider missing from the directory, at most
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) ens.start(i);
  bool up = wait_until([&] { return ens.healthy(); }, 60s, 100ms);
  r.notes.push_back(fmt::format("{} ensemble of 3 serving after {:.0f} ms ({})", ens.name(), ms_since(t0), ens.url()));
  r.check("ensemble of 3 started with a leader", up);
  if (!up) return r;
  const std::vector<std::string> args{"--registry", ens.url(), "--heartbeat", std::to_string(kHeartbeat.count()),
                                      "--backoff", "50"};
  std::vector<Proc> providers;
  for (int i = 0; i < 3; ++i) {
    providers.push_back(start_provider(c, ens.name() + "-provider-" + std::to_string(i), args));
  }
  auto copts = client_options();
  copts.registry.heartbeat_interval = kHeartbeat;
  tern::Client client(copts);
  auto ropts = reference_options(c);
  ropts.idempotent_methods.insert("add");  // a call in flight on a killed provider is retried elsewhere
  auto p = client.refer<Calculator>(ens.url(), ropts);
  r.check("consumer referred through the ensemble", p.has_value());
  if (!p) return r;
  tern::Proxy<Calculator> proxy = *p;
  bool discovered = wait_until([&] { return proxy.reference()->providers().size() == 3; }, 20s);
  r.check("3 providers registered and discovered", discovered);
  if (!discovered) return r;

  // The directory, watched every 2 ms: never empty; how long a live provider
  // was missing from it at most.
  std::mutex wmu;
  std::set<int> live{providers[0].port, providers[1].port, providers[2].port};
  std::map<int, Clock::time_point> missing_since;
  double max_absence_ms = 0;
  std::size_t min_size = 3;
  std::atomic<bool> watching{true};
  std::thread watcher([&] {
    while (watching.load()) {
      auto list = proxy.reference()->providers();
      std::set<int> have;
      for (auto& u : list) have.insert(u.host_port().port);
      auto now = Clock::now();
      {
        std::lock_guard lock(wmu);
        min_size = std::min(min_size, list.size());
        for (int port : live) {
          if (have.count(port)) {
            if (auto it = missing_since.find(port); it != missing_since.end()) {
              max_absence_ms = std::max(max_absence_ms, ms_since(it->second, now));
              missing_since.erase(it);
            }
          } else {
            missing_since.emplace(port, now);
          }
        }
      }
      std::this_thread::sleep_for(2ms);
    }
  });

  Load load(proxy, c);
  load.start();
  std::this_thread::sleep_for(c.duration / 4);

  // Kill the leader, and a provider while the ensemble elects a new one.
  int old_leader = ens.leader();
  auto killed = Clock::now();
  ens.kill(old_leader >= 0 ? old_leader : 0);
  int victim = providers[0].port;
  {
    std::lock_guard lock(wmu);
    live.erase(victim);
    missing_since.erase(victim);
  }
  auto victim_killed = Clock::now();
  providers[0].child->kill_and_wait(SIGKILL);
  bool elected = wait_until([&] { return ens.leader() >= 0; }, kElectionBound, 20ms);
  double elected_ms = ms_since(killed);
  bool vanished = wait_until([&] { return !has_port(proxy, victim); }, kVanishBound, 2ms);
  double vanished_ms = ms_since(victim_killed);
  // The old leader comes back (as a follower).
  auto restart = Clock::now();
  ens.start(old_leader >= 0 ? old_leader : 0);
  bool rejoined = wait_until([&] { return ens.healthy(); }, 60s, 100ms);
  double rejoined_ms = ms_since(restart);
  std::this_thread::sleep_for(c.duration / 4);

  // Kill a follower, then bring it back.
  int lead = ens.leader();
  int follower = lead == 0 ? 1 : 0;
  auto fkilled = Clock::now();
  ens.kill(follower);
  bool kept_leader = wait_until([&] { return ens.leader() >= 0; }, kElectionBound, 20ms);
  double kept_ms = ms_since(fkilled);
  // A provider registering while a follower is down reaches the consumer.
  auto extra_started = Clock::now();
  auto extra = start_provider(c, ens.name() + "-provider-3", args);
  bool extra_seen = extra.port != 0 && wait_until([&] { return has_port(proxy, extra.port); }, 10s, 2ms);
  double extra_ms = ms_since(extra_started);
  if (extra_seen) {
    std::lock_guard lock(wmu);
    live.insert(extra.port);
  }
  std::this_thread::sleep_for(c.duration / 4);
  ens.start(follower);
  bool frejoined = wait_until([&] { return ens.healthy(); }, 60s, 100ms);
  std::this_thread::sleep_for(c.duration / 4);
  load.stop(&r);
  watching.store(false);
  watcher.join();
  bool all_live = has_port(proxy, providers[1].port) && has_port(proxy, providers[2].port);
  for (auto& [port, since] : missing_since) max_absence_ms = std::max(max_absence_ms, ms_since(since));

  r.notes.push_back(fmt::format("leader (node {}) SIGKILLed: a new leader after {:.0f} ms; the old leader restarted "
                                "and the ensemble was whole again {:.0f} ms later",
                                old_leader, elected_ms, rejoined_ms));
  r.notes.push_back(fmt::format("provider :{} SIGKILLed during the election: gone from the consumer's directory "
                                "after {:.0f} ms (session/lease {} ms)",
                                victim, vanished_ms, 3 * kHeartbeat.count()));
  r.notes.push_back(fmt::format("follower (node {}) SIGKILLed: leader present after {:.0f} ms; a provider started "
                                "then was discovered after {:.0f} ms",
                                follower, kept_ms, extra_ms));
  r.notes.push_back(fmt::format("live providers missing from the directory at most {:.0f} ms; directory never below {}",
                                max_absence_ms, min_size));
  add_messages(r, load);
  common_checks(r, load);
  r.check(fmt::format("a new leader within {} s of the leader's SIGKILL", kElectionBound.count()), elected);
  r.check("the killed leader rejoined", rejoined);
  r.check(fmt::format("the provider killed during the election left the directory within {} s",
                      kVanishBound.count()),
          vanished);
  r.check(fmt::format("live providers never missing from the directory for more than {} ms", kAbsenceBound.count()),
          max_absence_ms <= static_cast<double>(kAbsenceBound.count()));
  r.check("the directory was never empty (providers were live throughout)", min_size > 0);
  r.check("with a follower down the ensemble kept a leader", kept_leader);
  r.check("a provider registered with a follower down was discovered within 10 s", extra_seen);
  r.check("the killed follower rejoined", frejoined);
  r.check("the surviving providers are still registered at the end", all_live);
  r.check("no failed call", r.failed_total() == 0);
  return r;
}

// ---------------------------------------------------------------------------
// The table

std::string format_table(const std::vector<Report>& reports) {
  std::string out = fmt::format("| {:<34} | {:>7} | {:>7} | {:<36} | {:>7} | {:>11} | {:<6} |\n", "scenario", "sent",
                                "ok", "failed (by status)", "missing", "max fail ms", "result");
  out += fmt::format("|{:-<36}|{:->9}|{:->9}|{:-<38}|{:->9}|{:->13}|{:-<8}|\n", "", "", "", "", "", "", "");
  for (auto& r : reports) {
    std::string failed;
    for (auto& [code, n] : r.failed) {
      if (n == 0) continue;
      failed += (failed.empty() ? "" : ", ") + fmt::format("{} {}", tern::status_code_name(code), n);
    }
    if (failed.empty()) failed = "0";
    out += fmt::format("| {:<34} | {:>7} | {:>7} | {:<36} | {:>7} | {:>11.1f} | {:<6} |\n", r.scenario, r.sent, r.ok,
                       failed, r.missing, r.max_failed_ms, r.passed() ? "PASS" : "FAIL");
  }
  return out;
}

std::string format_details(const std::vector<Report>& reports) {
  std::string out;
  for (auto& r : reports) {
    out += r.scenario + "\n";
    for (auto& n : r.notes) out += "    " + n + "\n";
    for (auto& [what, held] : r.checks) out += fmt::format("    [{}] {}\n", held ? "ok" : "FAILED", what);
  }
  return out;
}

}  // namespace chaos
