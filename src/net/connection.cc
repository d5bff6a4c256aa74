// Connection: read loop, coalescing write queue, connect with timeout, over
// a Transport (src/net/transport.h). The TLS layer is in connection_tls.cc.
#include "tern/net/connection.h"

#include <ctime>
#include <span>

#include <asio/post.hpp>

#include "net/connection_tls.h"
#include "net/transport.h"
#include "tern/log.h"
#include "tern/net/io_context_pool.h"
#include "tern/net/tls_context.h"
#include "tern/buffer_pool.h"

namespace tern::net {
namespace {

// steady_clock ticks from CLOCK_MONOTONIC_COARSE (the same epoch as
// steady_clock's CLOCK_MONOTONIC at a tick's resolution): read on every read
// for heartbeats, which need seconds, not the ~25 ns counter read.
std::int64_t now_ticks() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                          std::chrono::nanoseconds(ts.tv_nsec))
      .count();
}

std::mutex g_dial_hook_mu;
std::shared_ptr<DialHook> g_dial_hook;  // guarded by g_dial_hook_mu

std::unique_ptr<Transport> dial_transport(asio::io_context& loop, const asio::ip::tcp::endpoint& endpoint) {
  std::shared_ptr<DialHook> hook;
  {
    std::lock_guard lock(g_dial_hook_mu);
    hook = g_dial_hook;
  }
  if (hook) {
    if (auto t = (*hook)(loop, endpoint)) return t;
  }
  return make_tcp_transport(loop, endpoint);
}

}  // namespace

void set_dial_hook_for_test(DialHook hook) {
  std::lock_guard lock(g_dial_hook_mu);
  g_dial_hook = hook ? std::make_shared<DialHook>(std::move(hook)) : nullptr;
}

std::shared_ptr<Connection> Connection::adopt(asio::ip::tcp::socket socket, Options options) {
  return adopt(make_tcp_transport(std::move(socket)), std::move(options));
}

std::shared_ptr<Connection> Connection::dial(asio::io_context& loop, asio::ip::tcp::endpoint endpoint,
                                             Options options) {
  return dial(dial_transport(loop, endpoint), std::move(options));
}

std::shared_ptr<Connection> Connection::adopt(std::unique_ptr<Transport> transport, Options options) {
  auto c = std::shared_ptr<Connection>(new Connection(std::move(transport), false, std::move(options)));
  if (c->options_.tls) {
    c->init_tls();  // ready after the handshake
  } else {
    c->connected_.store(true, std::memory_order_release);
  }
  return c;
}

std::shared_ptr<Connection> Connection::dial(std::unique_ptr<Transport> transport, Options options) {
  auto c = std::shared_ptr<Connection>(new Connection(std::move(transport), true, std::move(options)));
  if (c->options_.tls) c->init_tls();
  return c;
}

Connection::Connection(std::unique_ptr<Transport> transport, bool dialled, Options options)
    : transport_(std::move(transport)),
      loop_(transport_->loop()),
      connect_timer_(loop_),
      options_(std::move(options)),
      dialled_(dialled) {
  last_read_.store(now_ticks(), std::memory_order_relaxed);
}

Connection::~Connection() = default;

std::string Connection::remote_text() const { return transport_->remote_text(); }

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
  transport_->async_connect([self = shared_from_this()](std::error_code ec) {
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
  transport_->prepare();  // TCP: TCP_NODELAY, close-on-exec, non-blocking
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
  // Reactor style: no per-connection read buffer until the connection has
  // sent something, so an idle connection costs only its socket and this
  // object (10,000 idle connections per provider, docs/reliability.md): it
  // waits for readability, then reads into the IO thread's own buffer until
  // the socket is drained. A connection that has sent bytes gets a small
  // buffer of its own (kOwnReadBuffer) and a reactor read into it: Asio then
  // re-arms nothing per read, where every wait costs an epoll_ctl syscall
  // (one per call on each side with one call in flight, issue #17). TLS
  // keeps the wait (its bytes go through the BIO).
  if (own_next_) {
    transport_->async_read_some(own_read_.get(), kOwnReadBuffer,
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                  if (self->on_readable(ec, n, false)) self->do_read();
                                });
    return;
  }
  transport_->async_wait_readable([self = shared_from_this()](std::error_code ec) {
    if (self->on_readable(ec, 0, true)) self->do_read();
  });
}

bool Connection::on_readable(std::error_code ec, std::size_t first, bool waited) {
  if (closed_.load(std::memory_order_acquire)) {
    close_in_loop(Status());
    return false;
  }
  auto failed = [&](std::error_code e, bool waiting) {
    if (e == asio::error::eof && tls_ && !tls_->handshake_done) {
      std::string msg = fmt::format("TLS handshake with {} failed: connection closed by the peer{}", remote_text(),
                                    dialled_ ? " (is it a TLS server?)" : "");
      TERN_LOG(kWarn, "{}", msg);
      close_in_loop(Status(StatusCode::kUnavailable, std::move(msg)));
    } else if (e == asio::error::eof) {
      close_in_loop(Status(StatusCode::kUnavailable, "connection closed by peer " + remote_text()));
    } else {
      close_in_loop(Status(StatusCode::kUnavailable,
                           fmt::format("{} {} failed: {}", waiting ? "wait on" : "read from", remote_text(),
                                       e.message())));
    }
  };
  if (ec) {
    failed(ec, waited);
    return false;
  }
  if (first > 0) {  // already in own_read_
    last_read_.store(now_ticks(), std::memory_order_relaxed);
    if (handler_) handler_->on_data(*this, std::string_view(own_read_.get(), first));
    if (closed_.load(std::memory_order_acquire)) {
      close_in_loop(Status());
      return false;
    }
    if (first < kOwnReadBuffer) return true;  // drained
  }
  bool got = first > 0;
  std::size_t total = first;
  thread_local std::vector<char> buffer(64 * 1024);
  for (int round = 0; round < 16; ++round) {  // bounded: other connections on this loop get their turn
    // A large frame's body goes straight into its own buffer (Handler::read_target).
    std::span<char> target = tls_ || !handler_ ? std::span<char>() : handler_->read_target();
    std::size_t want = target.empty() ? buffer.size() : target.size();
    std::size_t n = target.empty() ? transport_->read_some(buffer.data(), buffer.size(), ec)
                                   : transport_->read_some(target.data(), target.size(), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      failed(ec, false);
      return false;
    }
    got = true;
    total += n;
    last_read_.store(now_ticks(), std::memory_order_relaxed);
    if (tls_) {
      if (!tls_on_cipher(buffer.data(), n, buffer)) return false;  // closed
    } else if (!target.empty()) {
      handler_->on_data_read(*this, n);
    } else if (handler_) {
      handler_->on_data(*this, std::string_view(buffer.data(), n));
    }
    if (closed_.load(std::memory_order_acquire)) {
      close_in_loop(Status());
      return false;
    }
    if (n < want) break;  // drained
  }
  // Small reads (one call or a few at a time): the next one goes into the
  // connection's own buffer. Larger ones wait and read 64 KiB at a time (or
  // straight into a large frame): measured, a 4 KiB first read slowed 64
  // pipelined calls and 64 KiB bodies by 5-10 %, where this choice gave
  // 16-byte calls +7 % (64 connections) and +28 % (one call in flight).
  own_next_ = got && total < kOwnReadBuffer && !tls_;
  if (own_next_ && !own_read_) own_read_ = std::make_unique<char[]>(kOwnReadBuffer);
  return true;
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
    // close_in_loop() closes the transport under write_mu_, so it is open here.
    if (!more_follow && !tls_ && !flush_scheduled_ && queue_.empty() && connected_.load(std::memory_order_acquire) &&
        !closed_.load(std::memory_order_acquire) && !IoContextPool::in_io_thread()) {
      std::ptrdiff_t n = transport_->try_write(bytes.data(), bytes.size());
      if (n == static_cast<std::ptrdiff_t>(bytes.size())) {
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
  // A span, not the vector (no copy of the vector per write, issue #17);
  // iov_ is not touched again until the completion has run.
  std::span<const asio::const_buffer> bufs(iov_);
  transport_->async_write(bufs, [self = shared_from_this(), total](std::error_code ec) {
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
  connect_timer_.cancel();
  bool was_connected;
  {
    std::lock_guard lock(write_mu_);  // excludes a direct write in send()
    transport_->close();
    was_connected = connected_.exchange(false, std::memory_order_acq_rel);
    queue_.clear();
  }
  if (auto h = std::move(handler_)) h->on_close(*this, reason, was_connected);
}

}  // namespace tern::net
