// bench/raw/raw_echo_server.cc - the raw TCP ceiling: a minimal single-thread
// epoll echo server. Every byte read is written back unchanged; no framing,
// no allocation per message. Prints "PORT <n>" and serves until SIGTERM.
//
// Level-triggered epoll; per connection one output buffer that only grows
// when the peer does not read fast enough (large pipelined payloads), with
// reading paused while more than 4 MiB are queued.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>

#include "common/bench_common.h"

namespace {

struct Conn {
  int fd;
  std::string out;  // bytes not yet written
  std::size_t out_off = 0;
  bool want_out = false;
  bool paused = false;
};

volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

constexpr std::size_t kPauseAt = 4u << 20;

void update_events(int ep, Conn& c) {
  std::size_t pending = c.out.size() - c.out_off;
  bool want_out = pending > 0;
  bool paused = pending > kPauseAt;
  if (want_out == c.want_out && paused == c.paused) return;
  c.want_out = want_out;
  c.paused = paused;
  epoll_event ev{};
  ev.events = (paused ? 0u : static_cast<std::uint32_t>(EPOLLIN)) | (want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  ev.data.ptr = &c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
}

// Returns false when the connection is done.
bool flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      break;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  } else if (c.out_off > (1u << 20)) {
    c.out.erase(0, c.out_off);
    c.out_off = 0;
  }
  return true;
}

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  bench::raise_fd_limit();

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 4096) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("PORT %d\n", ntohs(a.sin_port));
  std::fflush(stdout);

  int ep = epoll_create1(0);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

  static char buf[256 * 1024];
  epoll_event events[256];
  while (!g_stop) {
    int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        for (;;) {
          int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* c = new Conn{fd, {}};
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      bool alive = true;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = ::recv(c->fd, buf, sizeof buf, 0);
        if (r > 0) {
          if (c->out.size() == c->out_off) {
            // Fast path: nothing queued, write straight from the read buffer.
            ssize_t w = ::send(c->fd, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN) alive = false;
            else if (w < r) c->out.append(buf + (w < 0 ? 0 : w), static_cast<std::size_t>(r - (w < 0 ? 0 : w)));
          } else {
            c->out.append(buf, static_cast<std::size_t>(r));
          }
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          alive = false;
        }
      }
      if (alive && (events[i].events & EPOLLOUT)) alive = flush(*c);
      if (!alive) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
        close(c->fd);
        delete c;
        continue;
      }
      update_events(ep, *c);
    }
  }
  return 0;
}
