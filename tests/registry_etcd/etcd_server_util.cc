// etcd_server_util.cc - a real etcd per test suite.
#include "etcd_server_util.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "registry/etcd_client.h"

namespace tern::testing {
namespace {

using namespace std::chrono_literals;

etcd::Client client_for(std::uint16_t port) {
  return etcd::Client({HostPort{"127.0.0.1", port}}, 2000ms, nullptr);
}

}  // namespace

// ---- EtcdServer -----------------------------------------------------------------

EtcdServer::EtcdServer() {
  dir_.create("tern-etcd-");
  client_port_ = free_port();
  do {
    peer_port_ = free_port();
  } while (peer_port_ == client_port_);
}

EtcdServer::~EtcdServer() = default;

::testing::AssertionResult EtcdServer::start() {
  if (process_.running()) return ::testing::AssertionSuccess();
  if (dir_.path().empty()) return ::testing::AssertionFailure() << "could not create a temp dir";
  const char* env_bin = std::getenv("ETCD_BIN");
  const std::string bin = env_bin != nullptr ? env_bin : "/usr/bin/etcd";
  if (::access(bin.c_str(), X_OK) != 0) {
    return ::testing::AssertionFailure() << "etcd not found at " << bin << " (install etcd-server)";
  }
  const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> args = {
      bin,
      "--name=default",
      "--data-dir=" + dir_.path() + "/data",
      "--listen-client-urls=" + client,
      "--advertise-client-urls=" + client,
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=default=" + peer,
      // A lone member: short raft timings start it fast and lower etcd's
      // minimum lease TTL (1.5 x election timeout) for the expiry tests.
      "--heartbeat-interval=25",
      "--election-timeout=250",
      "--log-level=warn",
  };
  const std::string log = dir_.path() + "/etcd.log";
  if (int rc = process_.spawn(std::move(args), log); rc != 0) {
    return ::testing::AssertionFailure() << "posix_spawn(" << bin << ") failed: " << rc;
  }

  etcd::Client c = client_for(client_port_);
  switch (process_.wait_serving([&] { return c.call("maintenance/status", nlohmann::json::object(), 500ms).ok(); },
                                30s)) {
    case testutil::ServerProcess::Start::kServing:
      return ::testing::AssertionSuccess();
    case testutil::ServerProcess::Start::kExited:
      return ::testing::AssertionFailure() << "etcd exited at start; see " << log;
    case testutil::ServerProcess::Start::kTimedOut:
      break;
  }
  return ::testing::AssertionFailure() << "etcd did not answer within 30 s; see " << log;
}

void EtcdServer::kill() { process_.kill(); }

Url EtcdServer::registry_url() const { return Url("etcd", {HostPort{"127.0.0.1", client_port_}}); }

std::int64_t EtcdServer::revision() const {
  auto r = client_for(client_port_).call("kv/range", {{"key", etcd::base64_encode("/")}});
  return r ? etcd::json_int((*r)["header"], "revision") : 0;
}

std::int64_t EtcdServer::compact() const {
  const std::int64_t rev = revision();
  if (rev <= 0) return 0;
  auto r = client_for(client_port_)
               .call("kv/compaction", {{"revision", std::to_string(rev)}, {"physical", true}});
  return r ? rev : 0;
}

bool EtcdServer::put(const std::string& key, const std::string& value) const {
  return client_for(client_port_)
      .call("kv/put", {{"key", etcd::base64_encode(key)}, {"value", etcd::base64_encode(value)}})
      .ok();
}

}  // namespace tern::testing
