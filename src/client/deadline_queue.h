// src/client/deadline_queue.h - the FIFO of (deadline, request id) a
// channel session keeps per timeout value (src/client/channel_session.cc): calls of
// one timeout are queued in about deadline order, so the timer only looks at
// the front. About: a deadline is the attempt's start + timeout
// (Channel::call's `started`), and calls started on two threads can queue in
// the other order by the time between their start and their queueing
// (encoding, compression, filters: microseconds, more for a large body to
// compress), so an expired entry behind a live one fires late by at most
// that much. A ring buffer that doubles when full (a power of two): unlike the
// std::deque it replaces, it allocates nothing once its capacity covers the
// entries it holds (issue #17: the deque allocated a 512-byte block every 32
// calls). A call that finishes pops the finished entries at the front of its
// FIFO (pop_finished_front), so with responses in call order a FIFO holds
// about the calls in flight. An entry behind an older live call waits for
// that call to end (response, cancel or timeout), or for the channel's
// compaction (retain) when such entries pile up behind a stuck call. Not
// thread-safe: the session's mutex.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace tern::rpc {

class DeadlineQueue {
 public:
  using Entry = std::pair<std::chrono::steady_clock::time_point, std::uint64_t>;
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
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
  // Keeps only the entries for which `keep(id, deadline)` is true, in order
  // (in place, no allocation). O(size()).
  template <class Keep>
  void retain(Keep&& keep) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      const Entry e = buf_[(head_ + i) & (buf_.size() - 1)];
      if (keep(e.second, e.first)) buf_[(head_ + kept++) & (buf_.size() - 1)] = e;
    }
    size_ = kept;
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

// Call `finished` has just finished (its pending entry is gone): pops the
// entries at the front of `q` whose calls are over, `finished`'s own without
// asking, every other one while `live(id, deadline)` says false, and stops
// at the first live one. Each entry is popped once, here or by the sweep,
// so a call finished in call order costs one lookup here (of the entry
// behind it) in place of the one the sweep would make. Returns how many
// entries it popped.
template <class Live>
std::size_t pop_finished_front(DeadlineQueue& q, std::uint64_t finished, Live&& live) {
  std::size_t popped = 0;
  while (!q.empty()) {
    auto [deadline, id] = q.front();
    if (id != finished && live(id, deadline)) break;
    q.pop_front();
    ++popped;
  }
  return popped;
}

// The channel timer's pass over its FIFOs (one per timeout value) at `now`
// (the session's Clock): drops the entries of calls that finished
// (`live(id, deadline)` false: those left behind an older live call), hands every live entry whose
// deadline is <= now to `expire(id)` and drops it, and erases FIFOs left
// empty. Returns the earliest live deadline left (time_point::max(): none),
// for the one timer to wait for. Tested with a FakeClock in
// tests/base/deadline_queue_test.cc.
template <class Live, class Expire>
std::chrono::steady_clock::time_point sweep_deadlines(std::map<std::uint32_t, DeadlineQueue>& fifos,
                                                      std::chrono::steady_clock::time_point now, Live&& live,
                                                      Expire&& expire) {
  auto next = std::chrono::steady_clock::time_point::max();
  for (auto qit = fifos.begin(); qit != fifos.end();) {
    auto& q = qit->second;
    while (!q.empty()) {
      auto [deadline, id] = q.front();
      if (!live(id, deadline)) {
        q.pop_front();  // completed already
        continue;
      }
      if (deadline > now) break;
      expire(id);
      q.pop_front();
    }
    if (q.empty()) {
      qit = fifos.erase(qit);
    } else {
      next = std::min(next, q.front().first);
      ++qit;
    }
  }
  return next;
}

}  // namespace tern::rpc
