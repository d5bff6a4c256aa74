// reconnect_loop.cc - see reconnect_loop.h.
#include "registry/common/reconnect_loop.h"

#include <algorithm>
#include <utility>

namespace tern {
namespace {

Backoff make_backoff(const BackoffPolicy& policy, std::uint64_t seed) {
  return seed == 0 ? Backoff(policy) : Backoff(policy, seed);
}

}  // namespace

ReconnectLoop::ReconnectLoop(BackoffPolicy policy, StepFn step, Clock& clock, std::uint64_t seed)
    : clock_(clock), step_(std::move(step)), backoff_(make_backoff(policy, seed)) {}

ReconnectLoop::~ReconnectLoop() { stop(); }

void ReconnectLoop::start(Clock::duration first_delay) {
  thread_ = std::thread([this, first_delay] { run(first_delay); });
}

void ReconnectLoop::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReconnectLoop::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void ReconnectLoop::reset_backoff() {
  std::lock_guard lock(mu_);
  backoff_.reset();
}

void ReconnectLoop::run(Clock::duration first_delay) {
  std::unique_lock lock(mu_);
  if (first_delay <= Clock::duration::zero()) {
    woken_ = true;
  } else {
    next_ = clock_.now() + first_delay;
  }
  for (;;) {
    const Clock::time_point deadline = retry_at_ ? std::min(*retry_at_, next_) : next_;
    clock_.wait_until(cv_, lock, deadline, [this] { return stop_ || woken_; });
    if (stop_) return;
    Pass pass;
    pass.now = clock_.now();
    if (!woken_ && pass.now < deadline) continue;  // a clock that woke early; wait again
    woken_ = false;
    if (retry_at_ && pass.now >= *retry_at_) {
      pass.retry = true;
      retry_at_.reset();
    }
    pass.backing_off = retry_at_.has_value();
    lock.unlock();
    const Step step = step_(pass);
    lock.lock();
    next_ = step.next;
    switch (step.outcome) {
      case Outcome::kSynced:
        backoff_.reset();
        retry_at_.reset();
        break;
      case Outcome::kFailed:
        if (!retry_at_) retry_at_ = clock_.now() + backoff_.next();
        break;
      case Outcome::kIdle:
        break;
    }
  }
}

}  // namespace tern
