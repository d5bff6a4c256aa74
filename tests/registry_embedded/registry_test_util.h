// Helpers shared by the embedded-registry tests: bounded polling, a listener
// that records every push, a provider whose calls can be counted, and a
// command runner for the `tern` CLI. Header-only; nothing here sleeps for a
// fixed time except between polls.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_services.h"
#include "tern/client.h"
#include "tern/provider.h"
#include "tern/registry.h"
#include "tern/url.h"

namespace regtest {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Polls `pred` every `step` until it holds or `timeout` passes; true if it held.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds step = 5ms) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

inline std::chrono::milliseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

inline std::vector<std::string> to_strings(const std::vector<tern::Url>& urls) {
  std::vector<std::string> out;
  for (const auto& u : urls) out.push_back(u.to_string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Records every push a Registry delivers (sorted URL strings, with the time).
class PushLog {
 public:
  struct Push {
    std::vector<std::string> urls;
    Clock::time_point at;
  };

  tern::RegistryListener listener() {
    return [this](const std::string&, const std::vector<tern::Url>& urls) {
      {
        std::lock_guard lock(mu_);
        pushes_.push_back(Push{to_strings(urls), Clock::now()});
      }
      cv_.notify_all();
    };
  }

  // Waits until the latest push equals `expected` (sorted); returns the time
  // that push arrived, or nullopt-like Clock::time_point{} on timeout.
  Clock::time_point wait_for(std::vector<std::string> expected, std::chrono::milliseconds timeout) {
    expected = sorted(std::move(expected));
    std::unique_lock lock(mu_);
    bool ok = cv_.wait_for(lock, timeout, [&] { return !pushes_.empty() && pushes_.back().urls == expected; });
    return ok ? pushes_.back().at : Clock::time_point{};
  }

  std::size_t count() const {
    std::lock_guard lock(mu_);
    return pushes_.size();
  }

  std::vector<Push> pushes() const {
    std::lock_guard lock(mu_);
    return pushes_;
  }

  std::vector<std::string> latest() const {
    std::lock_guard lock(mu_);
    return pushes_.empty() ? std::vector<std::string>{} : pushes_.back().urls;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Push> pushes_;
};

// Option builders (designated initializers would trip -Wmissing-field-initializers).
inline tern::ServiceOptions service_options(std::string version, std::string group = {}, int weight = 100) {
  tern::ServiceOptions o;
  o.version = std::move(version);
  o.group = std::move(group);
  o.weight = weight;
  return o;
}
inline tern::ServiceOptions weight(int w) { return service_options({}, {}, w); }
inline tern::ClientOptions one_io_thread() {
  tern::ClientOptions o;
  o.io_threads = 1;
  return o;
}

// A Calculator that counts the add() calls it served.
class CountingCalculator : public testsvc::CalculatorImpl {
 public:
  int add(int a, int b) override {
    adds.fetch_add(1);
    return a + b;
  }
  std::atomic<int> adds{0};
};

// An in-process provider of testsvc::Calculator announced in `registry`.
struct InProcessProvider {
  InProcessProvider(const std::string& registry, tern::ServiceOptions so = {},
                    std::chrono::milliseconds heartbeat = 300ms) {
    tern::ProviderOptions po;
    po.server.listen = "127.0.0.1:0";
    po.server.io_threads = 1;
    po.server.worker_threads = 2;
    po.registry = registry;
    po.registry_options.heartbeat_interval = heartbeat;
    po.registry_options.initial_backoff = 50ms;
    po.registry_options.max_backoff = 500ms;
    provider = std::make_unique<tern::Provider>(po);
    impl = std::make_shared<CountingCalculator>();
    status = provider->expose<testsvc::Calculator>(impl, std::move(so));
    if (status.is_ok()) status = provider->start();
  }
  // The registered URL (one service).
  std::string url() const { return provider->urls().empty() ? std::string() : provider->urls().front().to_string(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(provider->port()); }

  std::unique_ptr<tern::Provider> provider;
  std::shared_ptr<CountingCalculator> impl;
  tern::Status status;
};

// Closes every descriptor above stderr (in a forked child, before exec).
// Needed because Tern's sockets are not close-on-exec (see
// FdLeakTest in embedded_registry_test.cc): without this a child would keep
// the parent's listening sockets alive.
inline void close_inherited_fds() {
  long max = sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); ++fd) close(fd);
}

// A child process with stdin/stdout pipes that inherits no other descriptor;
// SIGKILLed and reaped on destruction. (testutil::Subprocess without the fd leak.)
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close_inherited_fds();
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    kill_and_wait(SIGKILL);
    if (stdin_ >= 0) close(stdin_);
    if (stdout_ >= 0) close(stdout_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // One line of stdout (without '\n'); "" on EOF or after `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = 10s) {
    std::string line;
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
      char c;
      if (::read(stdout_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }
  // Reads lines until "PORT n" (tern_test_provider); n or 0.
  int wait_for_port(std::chrono::milliseconds timeout = 10s) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto l = read_line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (l.rfind("PORT ", 0) == 0) return std::stoi(l.substr(5));
      if (l.empty()) return 0;
    }
    return 0;
  }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Sends `sig` and reaps the child; its exit code, or -1 when killed by a signal.
  int kill_and_wait(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    if (sig == SIGKILL) ::kill(pid_, SIGCONT);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  // Waits for the child to exit; its exit code, or -1 when killed by a signal.
  int wait() {
    if (pid_ <= 0) return -1;
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
};

struct CommandResult {
  int exit_code = -1;  // -1: did not exit in time (killed) or died by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] with `argv`, collecting stdout and stderr; kills it after `timeout`.
inline CommandResult run_command(std::vector<std::string> argv, std::chrono::milliseconds timeout = 20s) {
  CommandResult res;
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return res;
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close_inherited_fds();
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  auto deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && Clock::now() < deadline) {
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    if (poll(p, 2, 50) <= 0) continue;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (p[i].revents == 0) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? res.out : res.err).append(buf, static_cast<std::size_t>(n));
      } else {
        (i == 0 ? out_open : err_open) = false;
      }
    }
  }
  if (out_open || err_open) ::kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  close(out[0]);
  close(err[0]);
  res.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return res;
}

inline std::string binary(const std::string& name) { return std::string(TERN_BINARY_DIR) + "/bin/" + name; }

}  // namespace regtest
