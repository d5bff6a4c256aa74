// TCP connection: read loop, coalescing write queue, connect with timeout.
#include "tern/net/connection.h"

#include <fcntl.h>

#include <asio/connect.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include "tern/log.h"
#include "tern/net/io_context_pool.h"

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

std::shared_ptr<Connection> Connection::adopt(asio::ip::tcp::socket socket, Options options) {
  auto& loop = static_cast<asio::io_context&>(socket.get_executor().context());
  auto c = std::shared_ptr<Connection>(new Connection(loop, std::move(socket), options));
  std::error_code ec;
  c->remote_ = c->socket_.remote_endpoint(ec);
  c->connected_.store(true, std::memory_order_release);
  return c;
}

std::shared_ptr<Connection> Connection::dial(asio::io_context& loop, asio::ip::tcp::endpoint endpoint,
                                             Options options) {
  auto c = std::shared_ptr<Connection>(new Connection(loop, asio::ip::tcp::socket(loop), options));
  c->remote_ = endpoint;
  c->dialled_ = true;
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
    if (ec || self->connected_.load(std::memory_order_acquire)) return;
    self->close_in_loop(Status(StatusCode::kUnavailable,
                               fmt::format("connect to {} timed out after {} ms", self->remote_text(),
                                           self->options_.connect_timeout.count())));
  });
  socket_.async_connect(remote_, [self = shared_from_this()](std::error_code ec) {
    self->connect_timer_.cancel();
    if (self->closed_.load(std::memory_order_acquire)) {
      self->close_in_loop(Status(StatusCode::kCancelled, "connection closed while connecting"));
      return;
    }
    if (ec) {
      self->close_in_loop(Status(StatusCode::kUnavailable,
                                 fmt::format("cannot connect to {}: {}", self->remote_text(), ec.message())));
      return;
    }
    self->connected_.store(true, std::memory_order_release);
    if (self->handler_) self->handler_->on_connected(*self);
    self->on_open();
  });
}

void Connection::on_open() {
  std::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  // Child processes must not inherit our connections (Asio does not set it).
  ::fcntl(socket_.native_handle(), F_SETFD, FD_CLOEXEC);
  socket_.non_blocking(true, ec);
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
      std::size_t n = self->socket_.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) {
        if (ec == asio::error::eof) {
          self->close_in_loop(Status(StatusCode::kUnavailable, "connection closed by peer " + self->remote_text()));
        } else {
          self->close_in_loop(Status(StatusCode::kUnavailable,
                                     fmt::format("read from {} failed: {}", self->remote_text(), ec.message())));
        }
        return;
      }
      self->last_read_.store(now_ticks(), std::memory_order_relaxed);
      if (self->handler_) self->handler_->on_data(*self, std::string_view(buffer.data(), n));
      if (self->closed_.load(std::memory_order_acquire)) {
        self->close_in_loop(Status());
        return;
      }
      if (n < buffer.size()) break;  // drained
    }
    self->do_read();
  });
}

bool Connection::send(std::string bytes) {
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
    if (!flush_scheduled_ && queue_.empty() && connected_.load(std::memory_order_acquire) &&
        !closed_.load(std::memory_order_acquire) && !IoContextPool::in_io_thread()) {
      ssize_t n = ::send(socket_.native_handle(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n == static_cast<ssize_t>(bytes.size())) {
        queued_bytes_.fetch_sub(size, std::memory_order_relaxed);
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
  asio::async_write(socket_, iov_, [self = shared_from_this(), total](std::error_code ec, std::size_t) {
    self->queued_bytes_.fetch_sub(total, std::memory_order_relaxed);
    self->writing_.clear();
    if (ec) {
      self->close_in_loop(Status(StatusCode::kUnavailable,
                                 fmt::format("write to {} failed: {}", self->remote_text(), ec.message())));
      return;
    }
    self->flush();
  });
}

void Connection::close(Status reason) {
  if (closed_.load(std::memory_order_acquire) || close_requested_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(loop_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
    self->close_in_loop(std::move(reason));
  });
}

void Connection::close_in_loop(Status reason) {
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
