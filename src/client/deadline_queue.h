// src/client/deadline_queue.h - the FIFO of (deadline, request id) a
// channel session keeps per timeout value (src/client/channel.cc): calls of
// one timeout are started in deadline order, so the timer only looks at the
// front. A ring buffer that doubles when full (a power of two): unlike the
// std::deque it replaces, it allocates nothing once its capacity covers the
// entries kept between two timer runs (issue #17: the deque allocated a
// 512-byte block every 32 calls). Entries of finished calls stay until the
// timer pops them (lazy removal). Not thread-safe: the session's mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

namespace tern::rpc {

class DeadlineQueue {
 public:
  using Entry = std::pair<std::chrono::steady_clock::time_point, std::uint64_t>;
  bool empty() const noexcept { return size_ == 0; }
  // The oldest entry; only when !empty().
  const Entry& front() const noexcept { return buf_[head_]; }
  // Drops the oldest entry; only when !empty().
  void pop_front() noexcept {
    head_ = (head_ + 1) & (buf_.size() - 1);
    --size_;
  }
  void emplace_back(std::chrono::steady_clock::time_point deadline, std::uint64_t id) {
    if (size_ == buf_.size()) grow();
    buf_[(head_ + size_) & (buf_.size() - 1)] = Entry{deadline, id};
    ++size_;
  }

 private:
  void grow() {
    std::vector<Entry> next(buf_.empty() ? 64 : buf_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) next[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    buf_.swap(next);
    head_ = 0;
  }

  std::vector<Entry> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace tern::rpc
