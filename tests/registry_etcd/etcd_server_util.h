// etcd_server_util.h - test helpers for the etcd registry suite: a real etcd
// process on free loopback ports; the TCP proxy that can cut one client off
// from etcd while etcd itself stays up is testutil::TcpProxy (tcp_proxy.h).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "server_process.h"
#include "tcp_proxy.h"
#include "tern/url.h"
#include "wait_until.h"

namespace tern::testing {

using testutil::free_port;
using testutil::TcpProxy;
using testutil::wait_until;

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
  // Declared before process_: the process is killed before its directory goes.
  testutil::TempDir dir_;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
  testutil::ServerProcess process_;
};

}  // namespace tern::testing
