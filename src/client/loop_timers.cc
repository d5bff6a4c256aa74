// Per-loop one-shot timers; see loop_timers.h.
#include "client/loop_timers.h"

#include <asio/post.hpp>

#include <algorithm>

namespace tern::rpc {

// ---------------------------------------------------------------------------
// TimerQueue

TimerQueue::Id TimerQueue::add(std::chrono::milliseconds delay, Callback fn, Clock::time_point* deadline_out) {
  delay = std::max(delay, std::chrono::milliseconds(0));
  const auto deadline = clock_->now() + delay;
  if (deadline_out) *deadline_out = deadline;
  const Id id = next_id_++;
  DeadlineQueue& fifo = fifos_[delay.count()];
  if (spare_.empty()) {
    entries_.emplace(id, Entry{std::move(fn), &fifo});
  } else {  // a finished entry's node: no allocation
    auto node = std::move(spare_.back());
    spare_.pop_back();
    node.key() = id;
    node.mapped() = Entry{std::move(fn), &fifo};
    entries_.insert(std::move(node));
  }
  fifo.emplace_back(deadline, id);
  return id;
}

TimerQueue::Callback TimerQueue::cancel(Id id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  Callback fn = std::move(it->second.fn);
  DeadlineQueue* fifo = it->second.fifo;
  recycle(it);
  // Eager removal: the cancelled slots at the front go now, not when the
  // timer reaches them (a hedged call that settles first cancels its timer).
  pop_finished_front(*fifo, id, [this](Id other, Clock::time_point) { return entries_.contains(other); });
  return fn;
}

std::size_t TimerQueue::slots() const noexcept {
  std::size_t n = 0;
  for (const auto& [delay, q] : fifos_) n += q.size();
  return n;
}

void TimerQueue::recycle(Entries::iterator it) {
  auto node = entries_.extract(it);
  if (spare_.size() >= kSpareNodes) return;
  node.mapped() = Entry{};
  spare_.push_back(std::move(node));
}

Clock::time_point TimerQueue::take_due(std::vector<Callback>& due) {
  const auto now = clock_->now();
  auto next = Clock::time_point::max();
  for (auto& [delay, q] : fifos_) {
    while (!q.empty()) {
      auto [deadline, id] = q.front();
      auto it = entries_.find(id);
      if (it == entries_.end()) {  // cancelled
        q.pop_front();
        continue;
      }
      if (deadline > now) {
        next = std::min(next, deadline);
        break;
      }
      due.push_back(std::move(it->second.fn));
      recycle(it);
      q.pop_front();
    }
  }
  return next;
}

// ---------------------------------------------------------------------------
// LoopTimers

LoopTimers::Id LoopTimers::schedule(std::chrono::milliseconds delay, TimerQueue::Callback fn) {
  Id id;
  bool rearm_needed = false;
  {
    std::lock_guard lock(mu_);
    Clock::time_point deadline;
    id = queue_.add(delay, std::move(fn), &deadline);
    if (deadline < armed_) {
      armed_ = deadline;
      rearm_needed = true;
    }
  }
  // Only when the earliest deadline moved earlier: with one delay per
  // reference that is when the queue was idle, not per call.
  if (rearm_needed) asio::post(timer_.get_executor(), [self = shared_from_this()] { self->rearm(); });
  return id;
}

void LoopTimers::cancel(Id id) {
  TimerQueue::Callback dropped;  // destroyed after the lock is released
  std::lock_guard lock(mu_);
  dropped = queue_.cancel(id);
}

std::size_t LoopTimers::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void LoopTimers::rearm() {
  Clock::duration wait;
  {
    std::lock_guard lock(mu_);
    if (armed_ == Clock::time_point::max()) return;
    wait = std::max(armed_ - queue_.clock().now(), Clock::duration::zero());
  }
  timer_.expires_after(wait);
  timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_timer();
  });
}

void LoopTimers::on_timer() {
  {
    std::lock_guard lock(mu_);
    armed_ = queue_.take_due(due_);
  }
  for (auto& fn : due_) fn();
  due_.clear();
  rearm();
}

}  // namespace tern::rpc
