// etcd_server_util.h - test helpers for the etcd registry suite: a real etcd
// process on free loopback ports, and a TCP proxy that can cut one client
// off from etcd while etcd itself stays up.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tern/url.h"

namespace tern::testing {

// A loopback TCP port that was free a moment ago (binds port 0, reads it
// back, closes).
std::uint16_t free_port();

// Polls `done` every 10 ms until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// One single-member etcd cluster with its own temp data dir and ports. The
// ports and data dir stay the same across stop()/start(), so a restart is
// the same cluster at the same address.
class EtcdServer {
 public:
  EtcdServer();
  // Kills etcd and removes the data dir.
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Starts /usr/bin/etcd (or $ETCD_BIN) and waits until it serves requests
  // (up to 30 s). Fails (never skips) when etcd is missing or does not come up.
  ::testing::AssertionResult start();
  // SIGKILL and reap; a no-op when not running.
  void kill();

  std::uint16_t client_port() const { return client_port_; }
  // etcd://127.0.0.1:<client port>
  Url registry_url() const;
  // Current store revision (0 on error).
  std::int64_t revision() const;
  // Compacts the history up to the current revision (physically); returns it.
  std::int64_t compact() const;
  // Writes a key directly (for tests that change etcd behind a registry).
  bool put(const std::string& key, const std::string& value) const;

 private:
  std::string dir_;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
  pid_t pid_ = -1;
};

// Forwards connections from its own loopback port to `target_port`. When
// disabled it drops every open connection and refuses new ones (accepts and
// closes them), so its clients see etcd as unreachable.
class TcpProxy {
 public:
  explicit TcpProxy(std::uint16_t target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const { return port_; }
  void set_enabled(bool enabled) { enabled_.store(enabled); }

 private:
  void accept_loop();
  void pipe_loop(int client_fd);

  std::uint16_t target_port_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> enabled_{true};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::thread accept_thread_;
};

}  // namespace tern::testing
