// Test helpers for the ZooKeeper registry suite (see zk_server_util.h).
#ifndef THREADED
#define THREADED
#endif
#include "zk_server_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace tern::testing {
namespace {

constexpr char kJar[] = "/usr/share/java/zookeeper.jar";
constexpr char kJava[] = "/usr/bin/java";

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  std::uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

// ---- ZkServer -------------------------------------------------------------------

ZkServer::~ZkServer() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string ZkServer::start() {
  if (running()) return {};
  if (::access(kJava, X_OK) != 0) return std::string("java not found at ") + kJava;
  if (::access(kJar, R_OK) != 0) return std::string("ZooKeeper jar not found at ") + kJar;
  if (dir_.empty()) {
    char tmpl[] = "/tmp/tern-zk-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return "mkdtemp failed";
    dir_ = tmpl;
    port_ = free_port();
    if (port_ == 0) return "no free port";
    std::filesystem::create_directories(dir_ + "/data");
    std::ofstream cfg(dir_ + "/zoo.cfg");
    cfg << "tickTime=100\n"
        << "dataDir=" << dir_ << "/data\n"
        << "clientPort=" << port_ << "\n"
        << "clientPortAddress=127.0.0.1\n"
        << "maxClientCnxns=0\n"
        << "minSessionTimeout=200\n"
        << "maxSessionTimeout=60000\n"
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=*\n"
        << "forceSync=no\n";
    if (!cfg) return "cannot write " + dir_ + "/zoo.cfg";
  }
  std::string cfg_path = dir_ + "/zoo.cfg";
  std::string log_path = dir_ + "/server.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> args = {kJava, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                   "-Dzookeeper.jmx.log4j.disable=true", "-cp", kJar,
                                   "org.apache.zookeeper.server.ZooKeeperServerMain", cfg_path};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, kJava, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return "posix_spawn java failed: " + std::string(std::strerror(rc));
  pid_ = pid;
  bool up = wait_until(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;  // exited: reported below
        }
        return serving();
      },
      std::chrono::seconds(30));
  if (pid_ < 0) return "ZooKeeper exited at start:\n" + log_tail();
  if (!up) {
    stop();
    return "ZooKeeper was not serving within 30 s:\n" + log_tail();
  }
  return {};
}

void ZkServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool ZkServer::serving() const {
  // `ruok` can answer "imok" before the server accepts sessions; `srvr` prints
  // its "Mode:" line only once the server is serving requests.
  int fd = connect_loopback(port_);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string reply;
  if (write_all(fd, "srvr", 4)) {
    char buf[512];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply.find("Mode: standalone") != std::string::npos;
}

std::string ZkServer::log_tail() const {
  std::ifstream in(dir_ + "/server.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > 4000 ? all.substr(all.size() - 4000) : all;
}

// ---- TcpProxy -------------------------------------------------------------------

TcpProxy::TcpProxy(std::uint16_t target_port) : target_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ >= 0 && ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::listen(listen_fd_, 64) == 0 && ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port_ = ntohs(addr.sin_port);
  }
  thread_ = std::thread([this] { loop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TcpProxy::loop() {
  struct Pair {
    int client;
    int server;
  };
  std::vector<Pair> pairs;
  auto close_pair = [](Pair& p) {
    ::close(p.client);
    ::close(p.server);
    p.client = p.server = -1;
  };
  char buf[64 * 1024];
  while (!stop_) {
    if (blocked_) {
      for (Pair& p : pairs) close_pair(p);
      pairs.clear();
    }
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Pair& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.server, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        int s = blocked_ ? -1 : connect_loopback(target_);
        if (s < 0) {
          ::close(c);
        } else {
          pairs.push_back({c, s});
        }
      }
    }
    for (std::size_t i = 0; i + 1 < fds.size(); i += 2) {
      Pair& p = pairs[i / 2];
      for (int side = 0; side < 2 && p.client >= 0; ++side) {
        const pollfd& pfd = fds[1 + i + static_cast<std::size_t>(side)];
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        int from = side == 0 ? p.client : p.server;
        int to = side == 0 ? p.server : p.client;
        ssize_t n = ::recv(from, buf, sizeof(buf), 0);
        if (n <= 0 || !write_all(to, buf, static_cast<std::size_t>(n))) close_pair(p);
      }
    }
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [](const Pair& p) { return p.client < 0; }), pairs.end());
  }
  for (Pair& p : pairs) close_pair(p);
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
