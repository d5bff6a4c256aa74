// tern/net/connection.h - one connection on one event loop: a read loop
// that hands bytes up, and a coalescing write queue.
//
// The bytes travel over a Transport (src/net/transport.h): a TCP socket
// (dial(), adopt(socket)), or for tests an in-memory pipe
// (src/net/memory_transport.h) given to the Transport overloads.
//
// Bytes only: framing is the protocol layer's business (DESIGN §2). Reading:
// a connection that has not sent anything yet waits for readability (no read
// buffer of its own, so idle connections stay cheap); once it has, it keeps
// a 4 KiB buffer and a reactor read into it (no epoll_ctl per read, which a
// wait costs). Either way it then reads into the IO thread's shared 64 KiB
// buffer until the socket is drained, handing every chunk to the Handler on
// the connection's IO thread. Writing: send() appends to a queue
// from any thread; the queue is flushed by the IO thread in one gathered write
// (writev) of everything queued so far, so N responses produced while handling
// one read leave in one syscall (DESIGN §11).
//
// TLS (Options::tls set): the transport carries TLS records. An SSL object with
// memory BIOs lives inside the connection and is touched only on its IO
// thread: ciphertext read from the transport is fed to it and the plaintext it
// yields goes to Handler::on_data; queued plaintext is encrypted in flush()
// and the ciphertext written with one gathered write. send()'s direct write
// from the caller's thread is off. Both sides report the connection ready
// (connected(), Handler::on_connected) only after the handshake, which is
// bounded by Options::connect_timeout (dialled: connect plus handshake;
// accepted: the handshake). A failed handshake closes this connection with
// UNAVAILABLE "TLS handshake with <peer> failed: <OpenSSL's reason>", logged
// at warn level, and was_connected false.
//
// Lifetime: a Connection is owned by shared_ptr; pending asynchronous
// operations hold a reference, so it lives until it is closed and its last
// handler returned. The Handler is held by shared_ptr until on_close() has run,
// then released (break reference cycles there).
//
// Thread safety: send(), close(), is_open() and the accessors may be called
// from any thread. Handler callbacks run on the connection's IO thread, never
// concurrently with each other, and on_close() runs exactly once.
//
// Headers: this header keeps Asio (io_context, ip::tcp, steady_timer),
// because a Connection is an Asio reactor object: it is dialled to an
// asio::ip::tcp::endpoint, adopts an accepted socket and owns its connect
// timer. It is the transport layer's interface for src/ (server, channel,
// session) and for the transport's tests; no other public header includes it,
// so a program that uses Client, Server or Provider compiles no Asio header.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/status.h"

namespace tern::net {

class TlsContext;
class Transport;  // src/net/transport.h

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // The connection is ready for data: an outgoing one is established
    // (after its TLS handshake with TLS); an accepted TLS one finished its
    // handshake. Not called for accepted plain connections (ready at once).
    virtual void on_connected(Connection&) {}
    // Bytes arrived. The view is valid only during the call.
    virtual void on_data(Connection& conn, std::string_view data) = 0;
    // Optional direct reads (without TLS): where the next bytes should be
    // read, bypassing the IO thread's buffer and the copy out of it (a large
    // frame's body, issue #17). Asked before each read; empty (the default)
    // reads into that buffer and calls on_data(). After a read of n > 0
    // bytes into a non-empty target, on_data_read(conn, n) is called instead
    // of on_data(). The span must stay valid until then.
    virtual std::span<char> read_target() { return {}; }
    virtual void on_data_read(Connection& conn, std::size_t n) {
      (void)conn;
      (void)n;
    }
    // The connection is closed: by close(), by the peer, by an IO error, or
    // because a connect or TLS handshake failed (then `was_connected` is
    // false, also when a TLS 1.3 server refused our client certificate
    // right after the handshake completed on our side). Exactly once.
    virtual void on_close(Connection& conn, const Status& reason, bool was_connected) = 0;
  };

  struct Options {
    // Bytes queued for writing beyond which send() fails and the connection
    // is closed with RESOURCE_EXHAUSTED (a peer that stops reading cannot grow
    // our memory without bound). Default 256 MiB.
    std::size_t max_write_queue = 256u << 20;
    // Connect timeout for outgoing connections (connect plus TLS
    // handshake); with TLS, also the handshake timeout of accepted ones.
    // Default 3 s.
    std::chrono::milliseconds connect_timeout{3000};
    // TLS context (server role for adopt(), client role for dial()); null =
    // plain TCP. Default null.
    std::shared_ptr<TlsContext> tls;
  };

  // Wraps an accepted socket (already connected) on the socket's io_context.
  static std::shared_ptr<Connection> adopt(asio::ip::tcp::socket socket, Options options);
  // A connection that will connect to `endpoint` once started.
  static std::shared_ptr<Connection> dial(asio::io_context& loop, asio::ip::tcp::endpoint endpoint,
                                          Options options);
  // The same over any transport (internal, src/net/transport.h), on the
  // transport's loop: adopt() takes a connected one, dial() one it connects
  // once started.
  static std::shared_ptr<Connection> adopt(std::unique_ptr<Transport> transport, Options options);
  static std::shared_ptr<Connection> dial(std::unique_ptr<Transport> transport, Options options);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Must be called once, before start().
  void set_handler(std::shared_ptr<Handler> handler) { handler_ = std::move(handler); }
  // Starts connecting (dialled) and reading. Thread-safe; posts to the loop.
  void start();

  // Queues `bytes` for writing; frames queued before connecting leave once
  // connected. Returns false if the connection is closed or the queue limit is
  // hit (the connection is then being closed). Never blocks.
  //
  // Off the IO threads, with nothing queued, `bytes` is written at once from
  // the caller's thread (no IO-thread wakeup for a lone frame). `more_follow`
  // says more frames for this connection are coming from other threads (a
  // provider answering several calls in flight on it): the frame is then
  // queued for the IO thread's next writev instead, so N responses cost one
  // write and one wakeup of the peer, not N (issue #17).
  bool send(std::string bytes, bool more_follow = false);

  // Closes the connection with `reason` (reported to on_close()); queued bytes
  // not yet written are dropped. Idempotent; thread-safe.
  void close(Status reason = Status());

  bool is_open() const noexcept { return !closed_.load(std::memory_order_acquire); }
  // Why the connection is closed or closing: the first non-OK reason given to
  // close() or found by the IO thread (connect, TLS handshake, read or write
  // failure). OK while open, or when it was closed without a reason. Set
  // before send() starts refusing, so a caller whose send() failed can name
  // the cause. Thread-safe.
  Status close_reason() const;
  bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }
  // True when the connection speaks TLS (fixed at creation).
  bool tls() const noexcept { return tls_ != nullptr; }
  asio::io_context& loop() noexcept { return loop_; }
  // Peer as "ip:port" / "[v6]:port" for logs (a memory pipe: its name).
  std::string remote_text() const;
  // Bytes queued and not yet handed to the kernel.
  std::size_t queued_bytes() const noexcept { return queued_bytes_.load(std::memory_order_relaxed); }
  // Monotonic time of the last successful read (for heartbeats), from the
  // coarse monotonic clock (steady_clock's epoch, 1-4 ms behind at most; a
  // heartbeat interval is seconds): no counter read per read (issue #17).
  std::chrono::steady_clock::time_point last_read() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_read_.load(std::memory_order_relaxed)));
  }

 private:
  Connection(std::unique_ptr<Transport> transport, bool dialled, Options options);
  void do_connect();
  void do_read();
  // A read readiness (`first` bytes already in own_read_, or a wait that
  // completed): reads until drained; false once the connection closed.
  bool on_readable(std::error_code ec, std::size_t first, bool waited);
  void flush();
  void release_written();
  void close_in_loop(Status reason);
  void note_close_reason(const Status& reason);
  void on_open();
  // TLS over the transport (src/net/connection_tls.cc; IO thread only).
  struct Tls;
  void init_tls();
  bool tls_handshake();
  void tls_handshake_done();
  bool tls_on_cipher(const char* data, std::size_t n, std::vector<char>& buffer);
  void flush_tls();
  void tls_fail(int ssl_error);

  std::unique_ptr<Transport> transport_;  // its state is loop-thread only but for try_write() (write_mu_)
  asio::io_context& loop_;
  asio::steady_timer connect_timer_;
  Options options_;
  std::shared_ptr<Handler> handler_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> close_requested_{false};  // close() called: send() refuses, close is posted once
  std::atomic<bool> connected_{false};
  bool dialled_ = false;
  bool tcp_connected_ = false;            // loop thread only
  std::unique_ptr<Tls> tls_;              // set at creation; its state is loop-thread only
  bool close_reported_ = false;
  mutable std::mutex reason_mu_;
  Status close_reason_;                   // guarded by reason_mu_; first non-OK reason
  std::atomic<std::int64_t> last_read_{0};
  // The connection's own read buffer, from its first bytes read on (not
  // with TLS); loop thread only. See do_read().
  static constexpr std::size_t kOwnReadBuffer = 4096;
  std::unique_ptr<char[]> own_read_;
  bool own_next_ = false;  // the next read goes into own_read_ (the last ones were small)

  std::mutex write_mu_;
  std::vector<std::string> queue_;        // guarded by write_mu_
  bool flush_scheduled_ = false;          // guarded by write_mu_
  std::atomic<std::size_t> queued_bytes_{0};
  std::vector<std::string> writing_;      // loop thread only
  std::vector<asio::const_buffer> iov_;   // loop thread only
};

}  // namespace tern::net
