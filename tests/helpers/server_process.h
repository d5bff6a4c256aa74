// A real server (etcd, ZooKeeper) run by a test suite as a child process
// (header-only test helper): its temporary directory, and the process
// itself with its output in a log file, killed on destruction.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "wait_until.h"

extern char** environ;

namespace testutil {

// A directory /tmp/<prefix>XXXXXX made by create(), removed with everything
// in it on destruction.
class TempDir {
 public:
  TempDir() = default;
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Makes the directory; false when mkdtemp() fails (path() stays empty).
  bool create(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return false;
    path_ = tmpl;
    return true;
  }
  // Empty until create() succeeded.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One server process: stdin /dev/null, stdout and stderr appended to a log
// file. SIGKILLed and reaped by kill() and on destruction.
class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess() { kill(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts argv[0] (a path) with `argv`; 0, or posix_spawn()'s error number.
  int spawn(std::vector<std::string> argv, const std::string& log_path) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc == 0) pid_ = pid;
    return rc;
  }

  enum class Start { kServing, kExited, kTimedOut };
  // Polls `serving` until it holds (kServing), the process exits (kExited;
  // reaped), or `timeout` passes (kTimedOut; the process is killed).
  Start wait_serving(const std::function<bool()>& serving, std::chrono::milliseconds timeout) {
    bool up = wait_until(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return true;  // exited: reported below
          }
          return serving();
        },
        timeout);
    if (pid_ < 0) return Start::kExited;
    if (!up) {
      kill();
      return Start::kTimedOut;
    }
    return Start::kServing;
  }

  // SIGKILL and reap; a no-op when not running.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

}  // namespace testutil
