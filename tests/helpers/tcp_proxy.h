// Loopback TCP for tests that run a server process (header-only test
// helper): a port to give it, and a proxy that can cut its clients off while
// the server itself stays up (to make a session expire or a watch break
// deterministically).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace testutil {

namespace detail {

inline sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

// A listening socket on 127.0.0.1 and a free port (written to `*port`); -1 on failure.
inline int listen_loopback(std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = loopback_address(0);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// A connected socket to 127.0.0.1:`port`; -1 on failure.
inline int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = loopback_address(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace detail

// A loopback TCP port that was free a moment ago (binds port 0, reads it
// back, closes); 0 when none could be bound.
inline std::uint16_t free_port() {
  std::uint16_t port = 0;
  int fd = detail::listen_loopback(&port);
  if (fd >= 0) ::close(fd);
  return port;
}

// Forwards 127.0.0.1:port() to 127.0.0.1:<target_port>, on one thread of its
// own. While blocked, every open connection is closed and new ones are
// closed at once, as if the network between the clients and the server were
// down; unblocked, new connections are forwarded again.
class TcpProxy {
 public:
  explicit TcpProxy(std::uint16_t target_port) : target_(target_port) {
    listen_fd_ = detail::listen_loopback(&port_);
    thread_ = std::thread([this] { loop(); });
  }
  ~TcpProxy() {
    stop_ = true;
    thread_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const { return port_; }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  // Thread-safe; takes effect within ~10 ms.
  void set_blocked(bool blocked) { blocked_.store(blocked); }

 private:
  void loop() {
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
    std::vector<char> buf(64 * 1024);
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
          int s = blocked_ ? -1 : detail::connect_loopback(target_);
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
          ssize_t n = ::recv(from, buf.data(), buf.size(), 0);
          if (n <= 0 || !detail::write_all(to, buf.data(), static_cast<std::size_t>(n))) close_pair(p);
        }
      }
      pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [](const Pair& p) { return p.client < 0; }),
                  pairs.end());
    }
    for (Pair& p : pairs) close_pair(p);
  }

  std::uint16_t target_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> blocked_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace testutil
