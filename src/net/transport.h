// src/net/transport.h - the byte stream under a net::Connection (internal).
//
// A Transport moves bytes and nothing else: it does not frame, queue, time
// out or encrypt (net::Connection does, with its TLS layer on top of any
// Transport). Implementations:
//   TCP          make_tcp_transport() (src/net/tcp_transport.cc), what
//                Connection::dial() and Connection::adopt(socket) use;
//   memory pipe  make_memory_pipe() (src/net/memory_transport.h), two ends on
//                io_contexts that deliver bytes to each other, for tests of
//                the protocol, session, channel and server without sockets.
//
// The interface follows how Connection drives a socket (reactor style):
// wait until readable, then read non-blocking until would_block; one
// gathered write in flight at a time; an optional direct non-blocking write
// from any thread. One virtual call per operation, no allocation of its own:
// completions are UniqueFunctions (stored inline when they capture little,
// as Connection's do: one shared_ptr).
//
// Threading: everything runs on loop() except try_write(), which may run on
// any thread while the caller excludes close() (Connection holds its write
// mutex around both).
#pragma once

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include "tern/detail/unique_function.h"

namespace tern::net {

class Transport {
 public:
  using Completion = detail::UniqueFunction<void(std::error_code)>;

  explicit Transport(asio::io_context& loop) noexcept : loop_(loop) {}
  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // The event loop every completion runs on.
  asio::io_context& loop() const noexcept { return loop_; }

  // Connects a transport made for dialling (once). `done` gets the error
  // (e.g. connection_refused), or none.
  virtual void async_connect(Completion done) = 0;
  // Called once when the transport is connected (dialled) or adopted, before
  // the first read or write: socket options (TCP_NODELAY, close-on-exec,
  // non-blocking).
  virtual void prepare() {}
  // Completes when bytes, the end of the stream or an error can be read;
  // with operation_aborted once close() ran.
  virtual void async_wait_readable(Completion done) = 0;
  // Reads into data[0, size) once bytes, the end of the stream or an error
  // are there: `done(ec, n)` with n > 0 bytes, or an error (eof when the
  // peer closed; operation_aborted once close() ran). data[0, size) stays
  // valid until then. The default waits for readability, then read_some().
  // TCP overrides it with a reactor read, which asks the kernel for nothing
  // more than the read (an async_wait re-arms the socket in epoll with one
  // epoll_ctl per wait, issue #17).
  using ReadCompletion = detail::UniqueFunction<void(std::error_code, std::size_t)>;
  virtual void async_read_some(char* data, std::size_t size, ReadCompletion done) {
    async_wait_readable([this, data, size, done = std::move(done)](std::error_code ec) mutable {
      if (ec) {
        done(ec, 0);
        return;
      }
      std::size_t n = read_some(data, size, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        async_read_some(data, size, std::move(done));  // woken with nothing to read: wait again
        return;
      }
      done(ec, n);
    });
  }
  // Non-blocking read into data[0, size): the bytes read (> 0), or 0 with
  // `ec` = would_block/try_again (nothing now), eof (the peer closed), or
  // another error.
  virtual std::size_t read_some(char* data, std::size_t size, std::error_code& ec) = 0;
  // Writes all of `buffers` and then calls `done` (an error, or none). The
  // buffers and the span's array stay valid until then; one write at a time.
  virtual void async_write(std::span<const asio::const_buffer> buffers, Completion done) = 0;
  // Non-blocking write of a prefix of [data, data + size) from any thread:
  // the bytes written (may be fewer), or < 0 when nothing could be written
  // now (would block, or an error the next async_write reports).
  virtual std::ptrdiff_t try_write(const char* data, std::size_t size) noexcept = 0;
  // Shuts down both directions and closes. Pending operations complete with
  // operation_aborted. Idempotent.
  virtual void close() noexcept = 0;
  virtual bool is_open() const noexcept = 0;
  // The peer / this end for logs and statuses: "ip:port", "[v6]:port".
  virtual std::string remote_text() const = 0;
  virtual std::string local_text() const = 0;

 private:
  asio::io_context& loop_;
};

// TCP (src/net/tcp_transport.cc): an accepted (connected) socket, or one to
// connect to `remote` on `loop`.
std::unique_ptr<Transport> make_tcp_transport(asio::ip::tcp::socket socket);
std::unique_ptr<Transport> make_tcp_transport(asio::io_context& loop, const asio::ip::tcp::endpoint& remote);

// "ip:port" / "[v6]:port".
std::string endpoint_text(const asio::ip::tcp::endpoint& ep);

// Test seam: Connection::dial(loop, endpoint, options) asks this hook for the
// transport to `endpoint` first; an empty result (or no hook) dials TCP.
// Tests install a hook that hands out memory pipes, so a Channel (or any
// other dialler) talks to a scripted peer without a socket. Process-wide;
// set it before the dials it should see, and reset it (nullptr) after.
using DialHook = std::function<std::unique_ptr<Transport>(asio::io_context&, const asio::ip::tcp::endpoint&)>;
void set_dial_hook_for_test(DialHook hook);

}  // namespace tern::net
