// bench/raw/raw_stream_server.cc - the raw TCP ceiling of the streaming
// benchmark (stream16 / stream64k): a one-way firehose. A client sends one
// 4-byte big-endian message size; the server then writes length-prefixed
// messages ([4-byte big-endian length][payload]) of that size as fast as the
// socket takes them, until the client closes. Writes are batched (about
// 256 KiB of whole messages per send), which is what any framed stream on
// plain TCP can do at best. One blocking thread per connection (the
// benchmark opens one). Prints "PORT <n>" and serves until SIGTERM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "common/bench_common.h"

namespace {

void on_term(int) { std::_Exit(0); }  // the measurement is over: leave at once

void serve(int fd) {
  unsigned char hdr[4];
  std::size_t got = 0;
  while (got < sizeof hdr) {
    ssize_t r = ::recv(fd, hdr + got, sizeof hdr - got, 0);
    if (r <= 0) {
      close(fd);
      return;
    }
    got += static_cast<std::size_t>(r);
  }
  std::uint32_t size = (std::uint32_t{hdr[0]} << 24) | (std::uint32_t{hdr[1]} << 16) |
                       (std::uint32_t{hdr[2]} << 8) | std::uint32_t{hdr[3]};
  std::string one(4, '\0');
  std::memcpy(one.data(), hdr, 4);
  one.append(size, 'x');
  std::string batch;
  do batch += one;
  while (batch.size() < (256u << 10));
  for (;;) {
    const char* p = batch.data();
    std::size_t n = batch.size();
    while (n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        close(fd);
        return;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
}

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 64) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("PORT %d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  for (;;) {
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(serve, fd).detach();
  }
}
