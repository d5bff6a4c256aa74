// Test helpers for the ZooKeeper registry suite (see zk_server_util.h).
#ifndef THREADED
#define THREADED
#endif
#include "zk_server_util.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tern::testing {
namespace {

constexpr char kJar[] = "/usr/share/java/zookeeper.jar";
constexpr char kJava[] = "/usr/bin/java";

}  // namespace

// ---- ZkServer -------------------------------------------------------------------

ZkServer::~ZkServer() = default;

std::string ZkServer::start() {
  if (running()) return {};
  if (::access(kJava, X_OK) != 0) return std::string("java not found at ") + kJava;
  if (::access(kJar, R_OK) != 0) return std::string("ZooKeeper jar not found at ") + kJar;
  if (dir_.path().empty()) {
    if (!dir_.create("tern-zk-")) return "mkdtemp failed";
    const std::string& dir = dir_.path();
    port_ = free_port();
    if (port_ == 0) return "no free port";
    std::filesystem::create_directories(dir + "/data");
    std::ofstream cfg(dir + "/zoo.cfg");
    cfg << "tickTime=100\n"
        << "dataDir=" << dir << "/data\n"
        << "clientPort=" << port_ << "\n"
        << "clientPortAddress=127.0.0.1\n"
        << "maxClientCnxns=0\n"
        << "minSessionTimeout=200\n"
        << "maxSessionTimeout=60000\n"
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=*\n"
        << "forceSync=no\n";
    if (!cfg) return "cannot write " + dir + "/zoo.cfg";
  }
  const std::string& dir = dir_.path();
  int rc = process_.spawn({kJava, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                           "-Dzookeeper.jmx.log4j.disable=true", "-cp", kJar,
                           "org.apache.zookeeper.server.ZooKeeperServerMain", dir + "/zoo.cfg"},
                          dir + "/server.log");
  if (rc != 0) return "posix_spawn java failed: " + std::string(std::strerror(rc));
  switch (process_.wait_serving([&] { return serving(); }, std::chrono::seconds(30))) {
    case testutil::ServerProcess::Start::kServing:
      return {};
    case testutil::ServerProcess::Start::kExited:
      return "ZooKeeper exited at start:\n" + log_tail();
    case testutil::ServerProcess::Start::kTimedOut:
      break;
  }
  return "ZooKeeper was not serving within 30 s:\n" + log_tail();
}

void ZkServer::stop() { process_.kill(); }

bool ZkServer::serving() const {
  // `ruok` can answer "imok" before the server accepts sessions; `srvr` prints
  // its "Mode:" line only once the server is serving requests.
  int fd = testutil::detail::connect_loopback(port_);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string reply;
  if (testutil::detail::write_all(fd, "srvr", 4)) {
    char buf[512];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply.find("Mode: standalone") != std::string::npos;
}

std::string ZkServer::log_tail() const {
  std::ifstream in(dir_.path() + "/server.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > 4000 ? all.substr(all.size() - 4000) : all;
}

// ---- ZkTestClient ---------------------------------------------------------------

int ZkTestClient::connected_state() { return ZOO_CONNECTED_STATE; }

void ZkTestClient::on_watch(zhandle_t* /*zh*/, int type, int state, const char* /*path*/, void* ctx) {
  if (type == ZOO_SESSION_EVENT) static_cast<ZkTestClient*>(ctx)->state_.store(state);
}

ZkTestClient::ZkTestClient(const std::string& hosts, int session_timeout_ms) {
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  // The C client backs off for a third of the session timeout after a failed
  // attempt; a fresh handle per attempt keeps a slow first connect from
  // costing 10 s.
  for (int attempt = 0; attempt < 5 && !connected(); ++attempt) {
    if (zh_ != nullptr) zookeeper_close(zh_);
    state_ = 0;
    zh_ = zookeeper_init(hosts.c_str(), &ZkTestClient::on_watch, session_timeout_ms, nullptr, this, 0);
    if (zh_ != nullptr) wait_until([&] { return connected(); }, std::chrono::seconds(3));
  }
}

ZkTestClient::~ZkTestClient() {
  if (zh_ != nullptr) zookeeper_close(zh_);
}

std::int64_t ZkTestClient::session_id() const { return zh_ == nullptr ? 0 : zoo_client_id(zh_)->client_id; }

int ZkTestClient::create_ephemeral(const std::string& path, const std::string& data) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    int rc = zoo_create(zh_, path.substr(0, slash).c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                        nullptr, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) return rc;
  }
  return zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                    ZOO_EPHEMERAL, nullptr, 0);
}

int ZkTestClient::exists(const std::string& path, std::int64_t* ephemeral_owner) {
  Stat stat{};
  int rc = zoo_exists(zh_, path.c_str(), 0, &stat);
  if (ephemeral_owner != nullptr) *ephemeral_owner = rc == ZOK ? stat.ephemeralOwner : 0;
  return rc;
}

std::vector<std::string> ZkTestClient::children(const std::string& path, int* rc) {
  String_vector names{};
  *rc = zoo_get_children(zh_, path.c_str(), 0, &names);
  std::vector<std::string> out;
  if (*rc == ZOK) {
    out.assign(names.data, names.data + names.count);
    deallocate_String_vector(&names);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tern::testing
