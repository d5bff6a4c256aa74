// Transport over a TCP socket; see transport.h.
#include <fcntl.h>
#include <sys/socket.h>

#include <asio/connect.hpp>
#include <asio/version.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "net/transport.h"

// A reactor read that does not read again until the socket has new data
// when speculating does not pay (issue #17). Asio's own async_read_some
// starts with a speculative recv() whenever the reactor has not seen the
// socket drained, and Asio 1.22 counts a socket as drained only after a read
// of 0 bytes. A connection reads again as soon as it has handled a read, so
// with one call in flight per connection each message cost one recv() that
// found nothing (EAGAIN): 3 syscalls per message on each side where the raw
// echo makes 2 (strace -c, conn64), ~0.5 us each on a VM. This op can tell
// the reactor that a read shorter than its buffer drained the socket
// (done_and_exhausted), as level-triggered readers such as the raw echo
// assume: the next read then waits for epoll's next edge, which a later
// arrival always raises (the reactor registers sockets edge-triggered and
// marks them readable again on every event).
//
// It does so only while speculation does not pay. When the peer pipelines
// (many calls in flight), the recv() right after a read often finds the
// next bytes, one syscall where waiting costs an epoll_wait and a recv()
// and delays the batch. So the transport counts its speculative reads that
// found nothing in a row; after kMissesToWait of them, short reads exhaust
// the socket, and every kProbeEvery-th read speculates again to notice a
// change (one that finds data starts the count again).
//
// It uses Asio's reactor interface (asio/detail), which is not public API:
// only for the version it was written against (Debian 12's Asio 1.22 with
// epoll); any other build uses Asio's public async_read_some.
#if ASIO_VERSION >= 102200 && ASIO_VERSION < 102300 && defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING) && \
    !defined(ASIO_DISABLE_EPOLL)
#define TERN_SHORT_READ_OP 1
#include <asio/detail/reactor.hpp>
#include <asio/detail/reactor_op.hpp>
#else
#define TERN_SHORT_READ_OP 0
#endif

namespace tern::net {

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

namespace {

#if TERN_SHORT_READ_OP
// Whether speculative reads find data on one socket; the loop's thread only.
struct Speculation {
  static constexpr unsigned kMissesToWait = 4;
  static constexpr unsigned kProbeEvery = 8;
  unsigned misses = 0;       // speculative reads in a row that found nothing (saturates)
  unsigned since_probe = 0;  // reads since the last one allowed to speculate
  bool pays() const noexcept { return misses < kMissesToWait; }
};

// The op being started by TcpTransport::async_read_some on this thread: a
// perform() that sees itself here is Asio's speculative read.
thread_local const void* t_starting_read = nullptr;

class ShortReadOp final : public asio::detail::reactor_op {
 public:
  // `speculation` (the transport's) outlives every perform: the transport
  // closes its socket before it goes, and a closed socket's ops are aborted,
  // never performed.
  ShortReadOp(int fd, char* data, std::size_t size, Transport::ReadCompletion done, Speculation* speculation,
              bool exhaust_short)
      : reactor_op(asio::error_code(), &ShortReadOp::do_perform, &ShortReadOp::do_complete),
        fd_(fd), data_(data), size_(size), exhaust_short_(exhaust_short), speculation_(speculation),
        handler_(std::move(done)) {}

 private:
  // The reactor's thread, under the descriptor's lock: one recv().
  static status do_perform(reactor_op* base) {
    auto* o = static_cast<ShortReadOp*>(base);
    ssize_t n;
    do {
      n = ::recv(o->fd_, o->data_, o->size_, 0);
    } while (n < 0 && errno == EINTR);
    const bool nothing = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (t_starting_read == o) {  // Asio's speculative read: did it pay?
      Speculation& spec = *o->speculation_;
      spec.misses = nothing ? std::min(spec.misses + 1, Speculation::kMissesToWait) : 0;
    }
    if (nothing) return not_done;
    if (n > 0) {
      o->bytes_transferred_ = static_cast<std::size_t>(n);
      return o->exhaust_short_ && o->bytes_transferred_ < o->size_ ? done_and_exhausted : done;
    }
    if (n == 0) {
      o->ec_ = asio::error::eof;
      return done_and_exhausted;
    }
    o->ec_ = asio::error_code(errno, asio::error::get_system_category());
    return done;
  }
  // owner null: the io_context is being destroyed; only free the op.
  static void do_complete(void* owner, asio::detail::scheduler_operation* base, const asio::error_code&,
                          std::size_t) {
    std::unique_ptr<ShortReadOp> o(static_cast<ShortReadOp*>(base));
    Transport::ReadCompletion handler = std::move(o->handler_);
    asio::error_code ec = o->ec_;  // operation_aborted when the socket closed
    std::size_t n = o->bytes_transferred_;
    o.reset();
    if (owner) handler(ec, n);
  }

  int fd_;
  char* data_;
  std::size_t size_;
  bool exhaust_short_;  // a short read reports the socket drained
  Speculation* speculation_;
  Transport::ReadCompletion handler_;
};

// Exposes the socket's reactor registration (protected in basic_socket).
class ReactorSocket : public asio::ip::tcp::socket {
 public:
  explicit ReactorSocket(asio::ip::tcp::socket&& s) : asio::ip::tcp::socket(std::move(s)) {}
  asio::detail::reactive_socket_service<asio::ip::tcp>::implementation_type& implementation() {
    return impl_.get_implementation();
  }
};
using Socket = ReactorSocket;
#else
using Socket = asio::ip::tcp::socket;
#endif

class TcpTransport final : public Transport {
 public:
  TcpTransport(asio::io_context& loop, asio::ip::tcp::socket socket, asio::ip::tcp::endpoint remote)
      : Transport(loop),
        socket_(std::move(socket)),
        remote_(remote)
#if TERN_SHORT_READ_OP
        ,
        reactor_(asio::use_service<asio::detail::reactor>(loop))
#endif
  {
  }

  void async_connect(Completion done) override { socket_.async_connect(remote_, std::move(done)); }

  void prepare() override {
    std::error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    // Child processes must not inherit our connections (Asio does not set it).
    ::fcntl(socket_.native_handle(), F_SETFD, FD_CLOEXEC);
    socket_.non_blocking(true, ec);
  }

  void async_wait_readable(Completion done) override {
    socket_.async_wait(asio::ip::tcp::socket::wait_read, std::move(done));
  }

  void async_read_some(char* data, std::size_t size, ReadCompletion done) override {
#if TERN_SHORT_READ_OP
    // A prepared socket (non-blocking) and a buffer: what a connection asks.
    if (size > 0 && socket_.is_open() && socket_.non_blocking()) {
      auto& impl = socket_.implementation();
      bool exhaust_short = !speculation_.pays() && ++speculation_.since_probe < Speculation::kProbeEvery;
      if (!exhaust_short) speculation_.since_probe = 0;
      auto* op = new ShortReadOp(impl.socket_, data, size, std::move(done), &speculation_, exhaust_short);
      // The reactor owns the op from here: it completes or destroys it.
      t_starting_read = op;
      reactor_.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, op,
                        /*is_continuation=*/false, /*allow_speculative=*/true);
      t_starting_read = nullptr;
      return;
    }
#endif
    socket_.async_read_some(asio::buffer(data, size), std::move(done));
  }
  std::size_t read_some(char* data, std::size_t size, std::error_code& ec) override {
    return socket_.read_some(asio::buffer(data, size), ec);
  }

  void async_write(std::span<const asio::const_buffer> buffers, Completion done) override {
    // A span, not a vector: async_write copies its buffer sequence into the
    // operation, and a vector copy is a heap allocation per write (issue #17).
    asio::async_write(socket_, buffers,
                      [done = std::move(done)](std::error_code ec, std::size_t) mutable { done(ec); });
  }

  std::ptrdiff_t try_write(const char* data, std::size_t size) noexcept override {
    return ::send(socket_.native_handle(), data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  void close() noexcept override {
    std::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  bool is_open() const noexcept override { return socket_.is_open(); }
  std::string remote_text() const override { return endpoint_text(remote_); }
  std::string local_text() const override {
    std::error_code ec;
    auto ep = socket_.local_endpoint(ec);
    return ec ? std::string() : endpoint_text(ep);
  }

 private:
  Socket socket_;
  asio::ip::tcp::endpoint remote_;
#if TERN_SHORT_READ_OP
  asio::detail::reactor& reactor_;  // the loop's, shared with the socket's own operations
  Speculation speculation_;
#endif
};

}  // namespace

std::unique_ptr<Transport> make_tcp_transport(asio::ip::tcp::socket socket) {
  auto& loop = static_cast<asio::io_context&>(socket.get_executor().context());
  std::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  return std::make_unique<TcpTransport>(loop, std::move(socket), remote);
}

std::unique_ptr<Transport> make_tcp_transport(asio::io_context& loop, const asio::ip::tcp::endpoint& remote) {
  return std::make_unique<TcpTransport>(loop, asio::ip::tcp::socket(loop), remote);
}

}  // namespace tern::net
