// Child processes for tests (header-only test helper): a Subprocess started
// with pipes on stdin/stdout and killed on destruction, and run_command(),
// which runs a program to completion and collects its output.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace testutil {

// Closes every descriptor above stderr (in a forked child, before exec), so
// that a child cannot keep the parent's sockets alive (see
// EmbeddedRegistry.ChildProcessesDoNotInheritTheListeningSocket in
// tests/registry_embedded/embedded_registry_test.cc).
inline void close_inherited_fds() {
  long max = sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); ++fd) close(fd);
}

// argv as execv() takes it: pointers into `argv`, then nullptr. Built before
// fork(), so the child only execs.
inline std::vector<char*> exec_args(std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  return args;
}

// What a Subprocess's child inherits besides its stdin/stdout pipes.
enum class Inherit {
  kAllDescriptors,  // whatever fork()/exec() pass on, as an application's child would get
  kNothing,         // no other descriptor (close_inherited_fds())
};

class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv, Inherit inherit = Inherit::kAllDescriptors) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    auto args = exec_args(argv);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      if (inherit == Inherit::kNothing) close_inherited_fds();
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Subprocess() {
    kill_and_wait(SIGKILL);
    if (stdin_ >= 0) close(stdin_);
    if (stdout_ >= 0) close(stdout_);
  }
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // One line of the child's stdout (without '\n'); what was read so far on
  // EOF or after `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 1))) <= 0) continue;
      char c;
      if (::read(stdout_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  // Reads lines until "PORT n" (tern_test_provider prints it once
  // listening); n, or 0 on EOF or after `timeout`.
  int wait_for_port(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto l = read_line(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (l.rfind("PORT ", 0) == 0) return std::stoi(l.substr(5));
      if (l.empty()) return 0;
    }
    return 0;
  }

  // Sends `sig`; SIGKILL and SIGTERM also reap the child.
  void kill(int sig) {
    if (sig == SIGKILL || sig == SIGTERM) {
      kill_and_wait(sig);
    } else {
      signal(sig);
    }
  }
  // Sends `sig` and nothing else.
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Sends `sig` (a SIGKILL also wakes a stopped child) and reaps the child;
  // its exit code, or -1 when it died by a signal.
  int kill_and_wait(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    if (sig == SIGKILL) ::kill(pid_, SIGCONT);
    return wait();
  }
  // Waits for the child to exit; its exit code, or -1 when it died by a signal.
  int wait() {
    if (pid_ <= 0) return -1;
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  // Closes the child's stdin (tern_test_provider then shuts down gracefully)
  // and waits; its exit code, or -1.
  int close_stdin_and_wait() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
    return wait();
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

// Runs argv[0] with `argv` (stdin /dev/null, no other descriptor inherited),
// collecting stdout and stderr; kills it after `timeout`.
inline CommandResult run_command(std::vector<std::string> argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  CommandResult res;
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return res;
  auto args = exec_args(argv);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close_inherited_fds();
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && std::chrono::steady_clock::now() < deadline) {
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

}  // namespace testutil
