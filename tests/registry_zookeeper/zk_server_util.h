// zk_server_util.h - test helpers for the ZooKeeper registry suite: a real
// standalone ZooKeeper server run as a child process, and a raw ZooKeeper C
// client to look at and tamper with nodes behind the registry's back. The TCP
// proxy that cuts a client off (to make a session expire deterministically)
// is testutil::TcpProxy (tcp_proxy.h).
//
// Nothing here skips: a missing java or zookeeper.jar makes start() fail, and
// the suite fails with it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "server_process.h"
#include "tcp_proxy.h"
#include "wait_until.h"

struct _zhandle;

namespace tern::testing {

using testutil::free_port;
using testutil::TcpProxy;
using testutil::wait_until;

// One standalone ZooKeeper (org.apache.zookeeper.server.ZooKeeperServerMain
// from /usr/share/java/zookeeper.jar) on 127.0.0.1:<free port>, with a fresh
// temporary data directory, tickTime 100 ms (sessions of 200 ms .. 60 s),
// the admin server off and every four-letter word allowed.
class ZkServer {
 public:
  ZkServer() = default;
  ~ZkServer();  // kills the server and removes the data directory
  ZkServer(const ZkServer&) = delete;
  ZkServer& operator=(const ZkServer&) = delete;

  // Starts the server (first call: picks the port and the directory) and
  // waits until `srvr` reports it serving (at most 30 s). On failure the
  // returned string says why; empty on success.
  std::string start();
  // SIGKILL and reap; the data directory stays, so start() brings the same
  // data back on the same port.
  void stop();
  bool running() const { return process_.running(); }

  std::uint16_t port() const { return port_; }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  // The server's stdout/stderr (for failure messages).
  std::string log_tail() const;

 private:
  bool serving() const;

  // Declared before process_: the server is killed before its directory goes.
  testutil::TempDir dir_;
  std::uint16_t port_ = 0;
  testutil::ServerProcess process_;
};

// A plain ZooKeeper C client session (its own session, independent of any
// registry). Methods return ZooKeeper result codes (ZOK = 0).
class ZkTestClient {
 public:
  // Connects and waits up to 10 s; check connected().
  explicit ZkTestClient(const std::string& hosts, int session_timeout_ms = 10000);
  ~ZkTestClient();  // closes the session
  ZkTestClient(const ZkTestClient&) = delete;
  ZkTestClient& operator=(const ZkTestClient&) = delete;

  bool connected() const { return state_.load() == connected_state(); }
  std::int64_t session_id() const;

  // Creates an ephemeral node (parents created as persistent nodes).
  int create_ephemeral(const std::string& path, const std::string& data);
  // ZOK and the owner session (0 for persistent nodes), or ZNONODE.
  int exists(const std::string& path, std::int64_t* ephemeral_owner);
  // Sorted children; `*rc` gets the result code.
  std::vector<std::string> children(const std::string& path, int* rc);

 private:
  static int connected_state();
  static void on_watch(struct _zhandle* zh, int type, int state, const char* path, void* ctx);

  struct _zhandle* zh_ = nullptr;
  std::atomic<int> state_{0};
};

}  // namespace tern::testing
