// etcd_server_util.cc - a real etcd per test suite and a cuttable TCP proxy.
#include "etcd_server_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fcntl.h>

#include "registry/etcd_client.h"

extern char** environ;

namespace tern::testing {
namespace {

using namespace std::chrono_literals;

int listen_loopback(std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

etcd::Client client_for(std::uint16_t port) {
  return etcd::Client({HostPort{"127.0.0.1", port}}, 2000ms, nullptr);
}

}  // namespace

std::uint16_t free_port() {
  std::uint16_t port = 0;
  int fd = listen_loopback(&port);
  if (fd >= 0) ::close(fd);
  return port;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// ---- EtcdServer -----------------------------------------------------------------

EtcdServer::EtcdServer() {
  char tmpl[] = "/tmp/tern-etcd-XXXXXX";
  if (char* d = ::mkdtemp(tmpl)) dir_ = d;
  client_port_ = free_port();
  do {
    peer_port_ = free_port();
  } while (peer_port_ == client_port_);
}

EtcdServer::~EtcdServer() {
  kill();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

::testing::AssertionResult EtcdServer::start() {
  if (pid_ > 0) return ::testing::AssertionSuccess();
  if (dir_.empty()) return ::testing::AssertionFailure() << "could not create a temp dir";
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
      "--data-dir=" + dir_ + "/data",
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
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir_ + "/etcd.log";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ::testing::AssertionFailure() << "posix_spawn(" << bin << ") failed: " << rc;
  pid_ = pid;

  etcd::Client c = client_for(client_port_);
  const bool up = wait_until(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;  // died: reported below
        }
        return c.call("maintenance/status", nlohmann::json::object(), 500ms).ok();
      },
      30s);
  if (pid_ < 0) return ::testing::AssertionFailure() << "etcd exited at start; see " << log;
  if (!up) {
    kill();
    return ::testing::AssertionFailure() << "etcd did not answer within 30 s; see " << log;
  }
  return ::testing::AssertionSuccess();
}

void EtcdServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

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

// ---- TcpProxy ---------------------------------------------------------------------

TcpProxy::TcpProxy(std::uint16_t target_port) : target_port_(target_port) {
  listen_fd_ = listen_loopback(&port_);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stop_.store(true);
  accept_thread_.join();
  std::lock_guard lk(mu_);
  for (auto& t : threads_) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TcpProxy::accept_loop() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (!enabled_.load()) {
      ::close(fd);
      continue;
    }
    std::lock_guard lk(mu_);
    threads_.emplace_back([this, fd] { pipe_loop(fd); });
  }
}

void TcpProxy::pipe_loop(int client_fd) {
  int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(target_port_);
  if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (upstream >= 0) ::close(upstream);
    ::close(client_fd);
    return;
  }
  char buf[16384];
  while (!stop_.load() && enabled_.load()) {
    pollfd p[2] = {{client_fd, POLLIN, 0}, {upstream, POLLIN, 0}};
    if (::poll(p, 2, 20) <= 0) continue;
    bool closed = false;
    for (int i = 0; i < 2 && !closed; ++i) {
      if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n <= 0) {
        closed = true;
        break;
      }
      const int out = i == 0 ? upstream : client_fd;
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::write(out, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) {
          closed = true;
          break;
        }
        off += w;
      }
    }
    if (closed) break;
  }
  ::close(upstream);
  ::close(client_fd);
}

}  // namespace tern::testing
