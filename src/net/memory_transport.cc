// In-memory byte pipe; see memory_transport.h.
#include "net/memory_transport.h"

#include <asio/error.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <mutex>

namespace tern::net {

struct MemoryTransport::Shared {
  std::mutex mu;
  std::string inbox[2];          // bytes for end i, unread from head[i]
  std::size_t head[2] = {0, 0};
  bool closed[2] = {false, false};
  Completion waiter[2];          // end i's pending async_wait_readable
  asio::io_context* loops[2] = {nullptr, nullptr};

  std::size_t unread(int side) const { return inbox[side].size() - head[side]; }
  // End `side` can read: bytes, or the end of the stream.
  bool readable(int side) const { return unread(side) > 0 || closed[1 - side]; }
};

namespace {

void post_completion(asio::io_context& loop, Transport::Completion done, std::error_code ec) {
  asio::post(loop, [done = std::move(done), ec]() mutable { done(ec); });
}

}  // namespace

MemoryTransport::MemoryTransport(asio::io_context& loop, std::shared_ptr<Shared> shared, int side,
                                 std::string local_name, std::string remote_name)
    : Transport(loop),
      shared_(std::move(shared)),
      side_(side),
      local_name_(std::move(local_name)),
      remote_name_(std::move(remote_name)) {}

MemoryTransport::~MemoryTransport() { close(); }

std::size_t MemoryTransport::available() const {
  std::lock_guard lock(shared_->mu);
  return shared_->unread(side_);
}

void MemoryTransport::async_connect(Completion done) { post_completion(loop(), std::move(done), connect_error_); }

void MemoryTransport::async_wait_readable(Completion done) {
  std::error_code ec;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->closed[side_]) {
      ec = asio::error::operation_aborted;
    } else if (!shared_->readable(side_)) {
      shared_->waiter[side_] = std::move(done);  // a write or the peer's close wakes it
      return;
    }
  }
  post_completion(loop(), std::move(done), ec);
}

std::size_t MemoryTransport::read_some(char* data, std::size_t size, std::error_code& ec) {
  ec.clear();
  std::lock_guard lock(shared_->mu);
  if (shared_->closed[side_]) {
    ec = asio::error::bad_descriptor;
    return 0;
  }
  std::size_t avail = shared_->unread(side_);
  if (avail == 0) {
    ec = shared_->closed[1 - side_] ? std::error_code(asio::error::eof) : std::error_code(asio::error::would_block);
    return 0;
  }
  std::size_t n = std::min(size, avail);
  if (read_sizes_) n = std::min(n, std::max<std::size_t>(read_sizes_(), 1));
  std::string& in = shared_->inbox[side_];
  std::copy_n(in.data() + shared_->head[side_], n, data);
  shared_->head[side_] += n;
  if (shared_->head[side_] == in.size()) {
    in.clear();
    shared_->head[side_] = 0;
  }
  return n;
}

void MemoryTransport::async_write(std::span<const asio::const_buffer> buffers, Completion done) {
  std::error_code ec;
  Completion wake;
  int peer = 1 - side_;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->closed[side_]) {
      ec = asio::error::bad_descriptor;
    } else if (!shared_->closed[peer]) {  // else discarded (see the header)
      for (const auto& b : buffers) shared_->inbox[peer].append(static_cast<const char*>(b.data()), b.size());
      wake = std::move(shared_->waiter[peer]);
    }
  }
  if (wake) post_completion(*shared_->loops[peer], std::move(wake), {});
  post_completion(loop(), std::move(done), ec);
}

std::ptrdiff_t MemoryTransport::try_write(const char* data, std::size_t size) noexcept {
  Completion wake;
  int peer = 1 - side_;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->closed[side_]) return -1;
    if (shared_->closed[peer]) return static_cast<std::ptrdiff_t>(size);  // discarded (see the header)
    shared_->inbox[peer].append(data, size);
    wake = std::move(shared_->waiter[peer]);
  }
  if (wake) post_completion(*shared_->loops[peer], std::move(wake), {});
  return static_cast<std::ptrdiff_t>(size);
}

void MemoryTransport::close() noexcept {
  Completion mine;
  Completion theirs;
  int peer = 1 - side_;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->closed[side_]) return;
    shared_->closed[side_] = true;
    shared_->inbox[side_].clear();
    shared_->head[side_] = 0;
    mine = std::move(shared_->waiter[side_]);
    theirs = std::move(shared_->waiter[peer]);  // it reads the end of the stream
  }
  if (mine) post_completion(loop(), std::move(mine), asio::error::operation_aborted);
  if (theirs) post_completion(*shared_->loops[peer], std::move(theirs), {});
}

bool MemoryTransport::is_open() const noexcept {
  std::lock_guard lock(shared_->mu);
  return !shared_->closed[side_];
}

std::pair<std::unique_ptr<MemoryTransport>, std::unique_ptr<MemoryTransport>> make_memory_pipe(
    asio::io_context& first_loop, asio::io_context& second_loop, std::string first_name, std::string second_name) {
  auto shared = std::make_shared<MemoryTransport::Shared>();
  shared->loops[0] = &first_loop;
  shared->loops[1] = &second_loop;
  auto first = std::make_unique<MemoryTransport>(first_loop, shared, 0, first_name, second_name);
  auto second = std::make_unique<MemoryTransport>(second_loop, shared, 1, second_name, first_name);
  return {std::move(first), std::move(second)};
}

}  // namespace tern::net
