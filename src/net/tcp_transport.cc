// Transport over a TCP socket; see transport.h.
#include <fcntl.h>
#include <sys/socket.h>

#include <asio/connect.hpp>
#include <asio/write.hpp>

#include "net/transport.h"

namespace tern::net {

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

namespace {

class TcpTransport final : public Transport {
 public:
  TcpTransport(asio::io_context& loop, asio::ip::tcp::socket socket, asio::ip::tcp::endpoint remote)
      : Transport(loop), socket_(std::move(socket)), remote_(remote) {}

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
  asio::ip::tcp::socket socket_;
  asio::ip::tcp::endpoint remote_;
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
