// A child process for tests: started with pipes on stdin/stdout, killed on
// destruction (header-only test helper).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace testutil {

class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
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
  ~Subprocess() {
    kill(SIGKILL);
    if (stdin_ >= 0) close(stdin_);
    if (stdout_ >= 0) close(stdout_);
  }

  // Reads one line from the child's stdout, waiting at most `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()).count());
      if (poll(&p, 1, std::max(left, 1)) <= 0) continue;
      char c;
      if (::read(stdout_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  // Reads lines until one starts with "PORT "; returns the port or 0.
  int wait_for_port() {
    for (int i = 0; i < 50; ++i) {
      auto l = read_line();
      if (l.rfind("PORT ", 0) == 0) return std::stoi(l.substr(5));
      if (l.empty()) return 0;
    }
    return 0;
  }

  void kill(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      if (sig == SIGKILL || sig == SIGTERM) {
        int st;
        waitpid(pid_, &st, 0);
        pid_ = -1;
      }
    }
  }
  // Closes the child's stdin (test_provider then shuts down gracefully) and waits.
  int close_stdin_and_wait() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
    int st = 0;
    if (pid_ > 0) waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
};

}  // namespace testutil
