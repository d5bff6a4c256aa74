// net::Connection's TLS layer over its Transport (see connection_tls.h and
// the TLS paragraph of tern/net/connection.h): handshake, decryption of what
// the transport read, encryption of the write queue, failures.
#include "net/connection_tls.h"

#include <algorithm>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/transport.h"
#include "tern/buffer_pool.h"
#include "tern/log.h"
#include "tern/net/tls_context.h"

namespace tern::net {

Connection::Tls::~Tls() {
  if (ssl != nullptr) SSL_free(ssl);
}

void Connection::Tls::drain(std::string& to) {
  std::size_t pending = BIO_ctrl_pending(out);
  if (pending == 0) return;
  std::size_t old = to.size();
  to.resize(old + pending);
  int n = BIO_read(out, to.data() + old, static_cast<int>(pending));
  to.resize(old + static_cast<std::size_t>(std::max(n, 0)));
}

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
  iov_.clear();  // unused by plain writes under TLS
  iov_.emplace_back(tls_->sending.data(), tls_->sending.size());
  transport_->async_write(std::span<const asio::const_buffer>(iov_), [self = shared_from_this(), plain](std::error_code ec) {
    self->queued_bytes_.fetch_sub(plain, std::memory_order_relaxed);
    self->tls_->writing = false;
    self->tls_->sending.clear();
    if (ec) {
      self->close_in_loop(Status(StatusCode::kUnavailable,
                                 fmt::format("write to {} failed: {}", self->remote_text(), ec.message())));
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
      [[maybe_unused]] std::ptrdiff_t n = transport_->try_write(alert.data(), alert.size());
    }
  }
  // Nothing we sent was processed by a peer that refused the handshake.
  if (refused_handshake) connected_.store(false, std::memory_order_release);
  close_in_loop(Status(StatusCode::kUnavailable, std::move(msg)));
}

}  // namespace tern::net
