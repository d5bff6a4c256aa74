// TCP connection: read loop, coalescing write queue, connect with timeout.
#include "tern/net/connection.h"

#include <fcntl.h>

#include <span>

#include <asio/connect.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tern/log.h"
#include "tern/net/io_context_pool.h"
#include "tern/net/tls_context.h"
#include "tern/buffer_pool.h"

#include <sys/socket.h>

namespace tern::net {
namespace {

std::int64_t now_ticks() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  std::error_code ec;
  auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

// TLS state: one SSL object over two memory BIOs (OpenSSL never touches the
// socket). IO thread only.
struct Connection::Tls {
  std::shared_ptr<TlsContext> context;
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // ciphertext read from the socket (owned by ssl)
  BIO* out = nullptr;  // ciphertext to write to the socket (owned by ssl)
  bool handshake_done = false;
  // Dialled TLS 1.3: the server said something after our handshake finished
  // (a session ticket or data), so it accepted us; before that a fatal alert
  // means it refused the handshake (e.g. our client certificate).
  bool peer_confirmed = false;
  bool writing = false;           // an async_write of `sending` is in progress
  std::string sending;            // ciphertext being written
  ~Tls() {
    if (ssl != nullptr) SSL_free(ssl);
  }
  // Moves the ciphertext OpenSSL produced to the end of `to`.
  void drain(std::string& to) {
    std::size_t pending = BIO_ctrl_pending(out);
    if (pending == 0) return;
    std::size_t old = to.size();
    to.resize(old + pending);
    int n = BIO_read(out, to.data() + old, static_cast<int>(pending));
    to.resize(old + static_cast<std::size_t>(std::max(n, 0)));
  }
};

std::shared_ptr<Connection> Connection::adopt(asio::ip::tcp::socket socket, Options options) {
  auto& loop = static_cast<asio::io_context&>(socket.get_executor().context());
  auto c = std::shared_ptr<Connection>(new Connection(loop, std::move(socket), options));
  std::error_code ec;
  c->remote_ = c->socket_.remote_endpoint(ec);
  if (c->options_.tls) {
    c->init_tls();  // ready after the handshake
  } else {
    c->connected_.store(true, std::memory_order_release);
  }
  return c;
}

std::shared_ptr<Connection> Connection::dial(asio::io_context& loop, asio::ip::tcp::endpoint endpoint,
                                             Options options) {
  auto c = std::shared_ptr<Connection>(new Connection(loop, asio::ip::tcp::socket(loop), options));
  c->remote_ = endpoint;
  c->dialled_ = true;
  if (c->options_.tls) c->init_tls();
  return c;
}

Connection::Connection(asio::io_context& loop, asio::ip::tcp::socket socket, Options options)
    : loop_(loop), socket_(std::move(socket)), connect_timer_(loop), options_(options) {
  last_read_.store(now_ticks(), std::memory_order_relaxed);
}

Connection::~Connection() = default;

std::string Connection::remote_text() const { return endpoint_text(remote_); }

void Connection::start() {
  asio::post(loop_, [self = shared_from_this()] {
    if (self->closed_.load(std::memory_order_acquire)) {
      self->close_in_loop(Status(StatusCode::kCancelled, "connection closed before it started"));
      return;
    }
    if (self->dialled_) {
      self->do_connect();
    } else {
      self->on_open();
    }
  });
}

void Connection::do_connect() {
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (ec || self->connected_.load(std::memory_order_acquire) || self->closed_.load(std::memory_order_acquire)) return;
    std::string what = self->tcp_connected_ ? fmt::format("TLS handshake with {}", self->remote_text())
                                            : fmt::format("connect to {}", self->remote_text());
    if (self->tcp_connected_) TERN_LOG(kWarn, "{} timed out after {} ms", what, self->options_.connect_timeout.count());
    self->close_in_loop(Status(StatusCode::kUnavailable,
                               fmt::format("{} timed out after {} ms", what, self->options_.connect_timeout.count())));
  });
  socket_.async_connect(remote_, [self = shared_from_this()](std::error_code ec) {
    // With TLS the timer keeps running: it bounds the handshake too.
    if (!self->tls_) self->connect_timer_.cancel();
    if (self->closed_.load(std::memory_order_acquire)) {
      self->close_in_loop(Status(StatusCode::kCancelled, "connection closed while connecting"));
      return;
    }
    if (ec) {
      self->close_in_loop(Status(StatusCode::kUnavailable,
                                 fmt::format("cannot connect to {}: {}", self->remote_text(), ec.message())));
      return;
    }
    self->tcp_connected_ = true;
    if (!self->tls_) {
      self->connected_.store(true, std::memory_order_release);
      if (self->handler_) self->handler_->on_connected(*self);
    }
    self->on_open();
  });
}

void Connection::on_open() {
  std::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  // Child processes must not inherit our connections (Asio does not set it).
  ::fcntl(socket_.native_handle(), F_SETFD, FD_CLOEXEC);
  socket_.non_blocking(true, ec);
  if (tls_) {
    if (tls_->ssl == nullptr) {
      close_in_loop(Status(StatusCode::kUnavailable, "TLS session for " + remote_text() + ": " + tls_error_text()));
      return;
    }
    if (!dialled_) {
      tcp_connected_ = true;
      connect_timer_.expires_after(options_.connect_timeout);
      connect_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec || self->connected_.load(std::memory_order_acquire) || self->closed_.load(std::memory_order_acquire))
          return;
        TERN_LOG(kWarn, "TLS handshake with {} timed out after {} ms", self->remote_text(),
                 self->options_.connect_timeout.count());
        self->close_in_loop(Status(StatusCode::kUnavailable,
                                   fmt::format("TLS handshake with {} timed out after {} ms", self->remote_text(),
                                               self->options_.connect_timeout.count())));
      });
    }
    if (!tls_handshake()) return;  // closed
    do_read();
    return;
  }
  do_read();
  // Flush what was queued while connecting.
  bool need_flush = false;
  {
    std::lock_guard lock(write_mu_);
    if (!queue_.empty() && !flush_scheduled_) {
      flush_scheduled_ = true;
      need_flush = true;
    }
  }
  if (need_flush) flush();
}

void Connection::do_read() {
  // Reactor style: wait for readability, then read into the IO thread's own
  // buffer until the socket is drained. No per-connection read buffer, so an
  // idle connection costs only its socket and this object (issue: 10,000
  // idle connections per provider).
  socket_.async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](std::error_code ec) {
    if (self->closed_.load(std::memory_order_acquire)) {
      self->close_in_loop(Status());
      return;
    }
    if (ec) {
      self->close_in_loop(Status(StatusCode::kUnavailable,
                                 fmt::format("wait on {} failed: {}", self->remote_text(), ec.message())));
      return;
    }
    thread_local std::vector<char> buffer(64 * 1024);
    for (int round = 0; round < 16; ++round) {  // bounded: other connections on this loop get their turn
      // A large frame's body goes straight into its own buffer (Handler::read_target).
      std::span<char> target = self->tls_ || !self->handler_ ? std::span<char>() : self->handler_->read_target();
      std::size_t want = target.empty() ? buffer.size() : target.size();
      std::size_t n = target.empty() ? self->socket_.read_some(asio::buffer(buffer), ec)
                                     : self->socket_.read_some(asio::buffer(target.data(), target.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) {
        if (ec == asio::error::eof && self->tls_ && !self->tls_->handshake_done) {
          std::string msg = fmt::format("TLS handshake with {} failed: connection closed by the peer{}",
                                        self->remote_text(),
                                        self->dialled_ ? " (is it a TLS server?)" : "");
          TERN_LOG(kWarn, "{}", msg);
          self->close_in_loop(Status(StatusCode::kUnavailable, std::move(msg)));
        } else if (ec == asio::error::eof) {
          self->close_in_loop(Status(StatusCode::kUnavailable, "connection closed by peer " + self->remote_text()));
        } else {
          self->close_in_loop(Status(StatusCode::kUnavailable,
                                     fmt::format("read from {} failed: {}", self->remote_text(), ec.message())));
        }
        return;
      }
      self->last_read_.store(now_ticks(), std::memory_order_relaxed);
      if (self->tls_) {
        if (!self->tls_on_cipher(buffer.data(), n, buffer)) return;  // closed
      } else if (!target.empty()) {
        self->handler_->on_data_read(*self, n);
      } else if (self->handler_) {
        self->handler_->on_data(*self, std::string_view(buffer.data(), n));
      }
      if (self->closed_.load(std::memory_order_acquire)) {
        self->close_in_loop(Status());
        return;
      }
      if (n < want) break;  // drained
    }
    self->do_read();
  });
}

bool Connection::send(std::string bytes, bool more_follow) {
  if (closed_.load(std::memory_order_acquire) || close_requested_.load(std::memory_order_acquire)) return false;
  std::size_t size = bytes.size();
  std::size_t queued = queued_bytes_.fetch_add(size, std::memory_order_relaxed) + size;
  if (queued > options_.max_write_queue) {
    queued_bytes_.fetch_sub(size, std::memory_order_relaxed);
    close(Status(StatusCode::kResourceExhausted,
                 fmt::format("write queue to {} exceeded {} bytes (peer not reading)", remote_text(),
                             options_.max_write_queue)));
    return false;
  }
  bool schedule = false;
  {
    std::lock_guard lock(write_mu_);
    // Fast path, off the IO threads: nothing queued or being written, so
    // write straight from the caller's thread (non-blocking). A sync call then
    // costs no wakeup of the IO thread to send (DESIGN §11: a cross-vCPU
    // wakeup costs ~20 µs here). On IO threads frames are queued instead, so
    // everything produced while handling one read leaves in one writev.
    // close_in_loop() closes the socket under write_mu_, so the fd is valid here.
    if (!more_follow && !tls_ && !flush_scheduled_ && queue_.empty() && connected_.load(std::memory_order_acquire) &&
        !closed_.load(std::memory_order_acquire) && !IoContextPool::in_io_thread()) {
      ssize_t n = ::send(socket_.native_handle(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n == static_cast<ssize_t>(bytes.size())) {
        queued_bytes_.fetch_sub(size, std::memory_order_relaxed);
        BufferPool::recycle(std::move(bytes));
        return true;
      }
      if (n > 0) {
        queued_bytes_.fetch_sub(static_cast<std::size_t>(n), std::memory_order_relaxed);
        bytes.erase(0, static_cast<std::size_t>(n));  // the rest goes through the IO thread
      }
      // n < 0: EAGAIN, or an error the IO thread's write will report.
    }
    queue_.push_back(std::move(bytes));
    if (!flush_scheduled_ && connected_.load(std::memory_order_acquire)) {
      flush_scheduled_ = true;
      schedule = true;
    }
  }
  if (schedule) asio::post(loop_, [self = shared_from_this()] { self->flush(); });
  return true;
}

void Connection::flush() {
  if (closed_.load(std::memory_order_acquire)) return;
  if (tls_) {
    flush_tls();
    return;
  }
  {
    std::lock_guard lock(write_mu_);
    if (queue_.empty()) {
      flush_scheduled_ = false;
      return;
    }
    writing_.swap(queue_);
  }
  iov_.clear();
  std::size_t total = 0;
  for (auto& b : writing_) {
    iov_.emplace_back(b.data(), b.size());
    total += b.size();
  }
  // A span, not the vector: async_write copies its buffer sequence into the
  // operation, and a vector copy is a heap allocation per write (issue #17).
  // iov_ is not touched again until the completion has run.
  std::span<const asio::const_buffer> bufs(iov_);
  asio::async_write(socket_, bufs, [self = shared_from_this(), total](std::error_code ec, std::size_t) {
    self->queued_bytes_.fetch_sub(total, std::memory_order_relaxed);
    self->release_written();
    if (ec) {
      self->close_in_loop(Status(StatusCode::kUnavailable,
                                 fmt::format("write to {} failed: {}", self->remote_text(), ec.message())));
      return;
    }
    self->flush();
  });
}

// Clears writing_, giving frames' buffers back to the pool (large) or this
// thread's cache (small) for the next frames (tern/buffer_pool.h).
void Connection::release_written() {
  for (auto& b : writing_) {
    BufferPool::recycle(std::move(b));
  }
  writing_.clear();
}

// ---------------------------------------------------------------------------
// TLS

void Connection::init_tls() {
  tls_ = std::make_unique<Tls>();
  tls_->context = options_.tls;
  ERR_clear_error();
  SSL* ssl = SSL_new(tls_->context->native());
  if (ssl == nullptr) return;  // on_open() reports it
  tls_->in = BIO_new(BIO_s_mem());
  tls_->out = BIO_new(BIO_s_mem());
  if (tls_->in == nullptr || tls_->out == nullptr) {
    BIO_free(tls_->in);
    BIO_free(tls_->out);
    SSL_free(ssl);
    return;
  }
  BIO_set_mem_eof_return(tls_->in, -1);  // empty = "want more", not EOF
  SSL_set_bio(ssl, tls_->in, tls_->out);
  tls_->ssl = ssl;
  if (dialled_) {
    SSL_set_connect_state(ssl);
    // Notes any handshake message or data the server sends after our
    // handshake completed (see Tls::peer_confirmed).
    SSL_set_msg_callback(ssl, [](int write_p, int, int content_type, const void*, std::size_t, SSL*, void* arg) {
      auto* tls = static_cast<Tls*>(arg);
      if (write_p == 0 && tls->handshake_done &&
          (content_type == SSL3_RT_HANDSHAKE || content_type == SSL3_RT_APPLICATION_DATA)) {
        tls->peer_confirmed = true;
      }
    });
    SSL_set_msg_callback_arg(ssl, tls_.get());
    const std::string& name = tls_->context->server_name();
    if (!name.empty()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      std::error_code ec;
      asio::ip::make_address(name, ec);
      if (!ec) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        SSL_set_tlsext_host_name(ssl, name.c_str());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(ssl, name.c_str());
      }
    }
  } else {
    SSL_set_accept_state(ssl);
  }
}

// Advances the handshake with what is buffered; false when it failed (closed).
bool Connection::tls_handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(tls_->ssl);
  if (r == 1) {
    tls_handshake_done();
  } else {
    int err = SSL_get_error(tls_->ssl, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      tls_fail(err);
      return false;
    }
  }
  flush_tls();  // our next handshake flight (and, once done, what was queued)
  return !closed_.load(std::memory_order_acquire);
}

void Connection::tls_handshake_done() {
  tls_->handshake_done = true;
  connect_timer_.cancel();
  connected_.store(true, std::memory_order_release);
  if (handler_) handler_->on_connected(*this);
  std::lock_guard lock(write_mu_);
  if (!queue_.empty()) flush_scheduled_ = true;  // the caller's flush_tls() writes it
}

// Ciphertext arrived: feed it, finish the handshake, hand plaintext up.
// False when the connection was closed.
bool Connection::tls_on_cipher(const char* data, std::size_t n, std::vector<char>& buffer) {
  // The BIO copies the bytes, so `buffer` is free for plaintext below.
  BIO_write(tls_->in, data, static_cast<int>(n));
  if (!tls_->handshake_done) {
    if (!tls_handshake()) return false;
    if (!tls_->handshake_done) return true;  // wants more bytes
  }
  for (;;) {
    ERR_clear_error();
    int r = SSL_read(tls_->ssl, buffer.data(), static_cast<int>(buffer.size()));
    if (r > 0) {
      tls_->peer_confirmed = true;
      if (handler_) handler_->on_data(*this, std::string_view(buffer.data(), static_cast<std::size_t>(r)));
      if (closed_.load(std::memory_order_acquire)) return false;
      continue;
    }
    int err = SSL_get_error(tls_->ssl, r);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      close_in_loop(Status(StatusCode::kUnavailable, "connection closed by peer " + remote_text() + " (TLS close_notify)"));
      return false;
    }
    tls_fail(err);
    return false;
  }
  flush_tls();  // post-handshake messages OpenSSL wants to send, and what on_data queued
  return !closed_.load(std::memory_order_acquire);
}

// TLS flush: encrypt the queued plaintext (once the handshake is done), then
// write all pending ciphertext in one write. One write in flight at a time;
// its completion calls flush() again.
void Connection::flush_tls() {
  if (closed_.load(std::memory_order_acquire) || tls_->writing) return;
  std::size_t plain = 0;
  if (tls_->handshake_done) {
    {
      std::lock_guard lock(write_mu_);
      if (queue_.empty()) {
        flush_scheduled_ = false;
      } else {
        writing_.swap(queue_);
      }
    }
    for (auto& b : writing_) {
      plain += b.size();
      if (b.empty()) continue;
      ERR_clear_error();
      // A memory BIO never pushes back: SSL_write takes all of `b` at once.
      int r = SSL_write(tls_->ssl, b.data(), static_cast<int>(b.size()));
      if (r <= 0) {
        writing_.clear();
        queued_bytes_.fetch_sub(plain, std::memory_order_relaxed);
        tls_fail(SSL_get_error(tls_->ssl, r));
        return;
      }
    }
    release_written();
  }
  tls_->drain(tls_->sending);
  if (tls_->sending.empty()) {
    queued_bytes_.fetch_sub(plain, std::memory_order_relaxed);
    return;
  }
  tls_->writing = true;
  asio::async_write(socket_, asio::buffer(tls_->sending),
                    [self = shared_from_this(), plain](std::error_code ec, std::size_t) {
                      self->queued_bytes_.fetch_sub(plain, std::memory_order_relaxed);
                      self->tls_->writing = false;
                      self->tls_->sending.clear();
                      if (ec) {
                        self->close_in_loop(Status(StatusCode::kUnavailable, fmt::format("write to {} failed: {}",
                                                                                         self->remote_text(),
                                                                                         ec.message())));
                        return;
                      }
                      self->flush();
                    });
}

// A TLS error: log it, send the alert OpenSSL produced (best effort), close.
void Connection::tls_fail(int ssl_error) {
  std::string why;
  if (ssl_error == SSL_ERROR_SSL) {
    why = tls_error_text();
    long verify = SSL_get_verify_result(tls_->ssl);
    if (verify != X509_V_OK) {
      why += fmt::format(" ({})", X509_verify_cert_error_string(verify));
    }
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    why = tls_error_text("unexpected end of the TLS stream");
  } else {
    why = fmt::format("{} (SSL_get_error {})", tls_error_text(), ssl_error);
  }
  // A TLS 1.3 server checks our certificate after our side of the handshake
  // completed; an alert before it said anything else is its refusal.
  bool refused_handshake = dialled_ && tls_->handshake_done && !tls_->peer_confirmed &&
                           SSL_version(tls_->ssl) == TLS1_3_VERSION;
  bool in_handshake = !tls_->handshake_done || refused_handshake;
  std::string msg = in_handshake ? fmt::format("TLS handshake with {} failed: {}", remote_text(), why)
                                 : fmt::format("TLS error on the connection with {}: {}", remote_text(), why);
  TERN_LOG(kWarn, "{}", msg);
  if (!tls_->writing) {
    std::string alert;
    tls_->drain(alert);
    if (!alert.empty()) {
      [[maybe_unused]] ssize_t n =
          ::send(socket_.native_handle(), alert.data(), alert.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  // Nothing we sent was processed by a peer that refused the handshake.
  if (refused_handshake) connected_.store(false, std::memory_order_release);
  close_in_loop(Status(StatusCode::kUnavailable, std::move(msg)));
}

Status Connection::close_reason() const {
  std::lock_guard lock(reason_mu_);
  return close_reason_;
}

void Connection::note_close_reason(const Status& reason) {
  if (reason.is_ok()) return;
  std::lock_guard lock(reason_mu_);
  if (close_reason_.is_ok()) close_reason_ = reason;
}

void Connection::close(Status reason) {
  note_close_reason(reason);  // before send() can see close_requested_ (the first reason wins)
  if (closed_.load(std::memory_order_acquire) || close_requested_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(loop_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
    self->close_in_loop(std::move(reason));
  });
}

void Connection::close_in_loop(Status reason) {
  note_close_reason(reason);  // before send() can see closed_
  closed_.store(true, std::memory_order_release);
  if (close_reported_) return;
  close_reported_ = true;
  std::error_code ec;
  connect_timer_.cancel();
  bool was_connected;
  {
    std::lock_guard lock(write_mu_);  // excludes a direct write in send()
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    was_connected = connected_.exchange(false, std::memory_order_acq_rel);
    queue_.clear();
  }
  if (auto h = std::move(handler_)) h->on_close(*this, reason, was_connected);
}

}  // namespace tern::net
