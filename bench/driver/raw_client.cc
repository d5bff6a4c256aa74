// bench/driver/raw_client.cc - the raw TCP ceiling's load generator.
//   1 conn x 1 in flight: a blocking ping-pong loop (write 16 B, read 16 B).
//   otherwise: one epoll thread; each connection keeps `inflight` fixed-size
//   messages outstanding (pipelined), a completed echo re-issues one message.
#include <sys/epoll.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "driver/generator.h"

namespace bench {
namespace {

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

class RawGenerator : public Generator {
 public:
  RawGenerator(const Spec& spec, int port, Recorder& rec) : spec_(spec), port_(port), rec_(rec) {}
  ~RawGenerator() override {
    stop();
    for (auto& c : conns_) close(c.fd);
    if (ep_ >= 0) close(ep_);
  }

  bool setup() override {
    std::vector<char> buf(spec_.size, 'x');
    for (int i = 0; i < spec_.conns; ++i) {
      int fd = connect_loopback(port_, false);
      if (fd < 0) {
        error_ = "connect failed: " + std::string(std::strerror(errno));
        return false;
      }
      conns_.push_back(Conn{fd});
    }
    for (auto& c : conns_) {
      if (!write_all(c.fd, buf.data(), buf.size()) || !read_all(c.fd, buf.data(), buf.size())) {
        error_ = "first echo failed";
        return false;
      }
    }
    return true;
  }

  void start() override {
    if (spec_.conns == 1 && spec_.inflight == 1) {
      thread_ = std::thread([this] { ping_pong(); });
    } else {
      thread_ = std::thread([this] { pipelined(); });
    }
  }

  void stop() override {
    issuing_.store(false);
    if (thread_.joinable()) thread_.join();
  }

  std::uint64_t errors() const override { return errors_; }

 private:
  struct Conn {
    int fd;
    std::vector<std::uint64_t> ring{};  // send times of outstanding messages (FIFO)
    std::size_t head = 0, count = 0;
    std::size_t to_send = 0;      // bytes queued, not yet written
    std::size_t recv_partial = 0;  // bytes of the message being received
    bool want_out = false;
  };

  void ping_pong() {
    std::vector<char> buf(spec_.size, 'x');
    int fd = conns_[0].fd;
    while (issuing_.load(std::memory_order_relaxed)) {
      std::uint64_t t0 = now_ns();
      if (!write_all(fd, buf.data(), buf.size()) || !read_all(fd, buf.data(), buf.size())) {
        ++errors_;
        return;
      }
      rec_.done(now_ns() - t0);
    }
  }

  void push(Conn& c, std::uint64_t t) {
    c.ring[(c.head + c.count) % c.ring.size()] = t;
    ++c.count;
    c.to_send += spec_.size;
  }

  bool flush(Conn& c) {
    while (c.to_send > 0) {
      std::size_t n = std::min(c.to_send, zeros_.size());
      ssize_t w = ::send(c.fd, zeros_.data(), n, MSG_NOSIGNAL);
      if (w > 0) {
        c.to_send -= static_cast<std::size_t>(w);
      } else if (w < 0 && errno == EAGAIN) {
        break;
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    bool want = c.to_send > 0;
    if (want != c.want_out) {
      c.want_out = want;
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
      ev.data.ptr = &c;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
    return true;
  }

  void pipelined() {
    zeros_.assign(std::min<std::size_t>(spec_.size * spec_.inflight, 1u << 20), 'x');
    std::vector<char> buf(1u << 20);
    ep_ = epoll_create1(0);
    std::uint64_t t = now_ns();
    std::size_t outstanding = 0;
    for (auto& c : conns_) {
      fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      c.ring.assign(static_cast<std::size_t>(spec_.inflight), 0);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &c;
      epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
      for (int k = 0; k < spec_.inflight; ++k) push(c, t);
      outstanding += static_cast<std::size_t>(spec_.inflight);
      flush(c);
    }
    std::vector<epoll_event> events(1024);
    std::uint64_t drain_deadline = 0;
    while (outstanding > 0) {
      bool issuing = issuing_.load(std::memory_order_relaxed);
      if (!issuing) {
        if (drain_deadline == 0) drain_deadline = now_ns() + 3'000'000'000ull;
        if (now_ns() > drain_deadline) break;
      }
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 10);
      std::uint64_t now = now_ns();
      for (int i = 0; i < n; ++i) {
        Conn& c = *static_cast<Conn*>(events[i].data.ptr);
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          ssize_t r = ::recv(c.fd, buf.data(), buf.size(), 0);
          if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            ++errors_;
            return;
          }
          if (r > 0) {
            c.recv_partial += static_cast<std::size_t>(r);
            while (c.recv_partial >= spec_.size) {
              c.recv_partial -= spec_.size;
              rec_.done(now - c.ring[c.head]);
              c.head = (c.head + 1) % c.ring.size();
              --c.count;
              if (issuing) {
                push(c, now);
              } else {
                --outstanding;
              }
            }
          }
        }
        if (!flush(c)) {
          ++errors_;
          return;
        }
      }
    }
  }

  Spec spec_;
  int port_;
  Recorder& rec_;
  std::vector<Conn> conns_;
  std::vector<char> zeros_;
  int ep_ = -1;
  std::thread thread_;
  std::atomic<bool> issuing_{true};
  std::uint64_t errors_ = 0;
};

}  // namespace

std::unique_ptr<Generator> make_raw_generator(const Spec& spec, int port, Recorder& rec) {
  return std::make_unique<RawGenerator>(spec, port, rec);
}

}  // namespace bench
