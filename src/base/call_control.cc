// CallControl: the link between a Future/coroutine and its pending call.
#include "tern/future.h"

namespace tern {

bool CallControl::cancel() {
  detail::UniqueFunction<bool()> hook;
  {
    std::lock_guard lock(mu_);
    if (cancelled_.load(std::memory_order_relaxed) || done_) return false;
    cancelled_.store(true, std::memory_order_release);
    hook = std::move(hook_);
  }
  if (hook) return hook();
  return true;  // not pending yet: the call path sees cancelled() and fails the call
}

void CallControl::set_hook(detail::UniqueFunction<bool()> hook) {
  bool run_now = false;
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    if (cancelled_.load(std::memory_order_relaxed)) {
      run_now = true;
    } else {
      hook_ = std::move(hook);
    }
  }
  if (run_now) hook();
}

void CallControl::clear_hook() {
  detail::UniqueFunction<bool()> old;
  std::lock_guard lock(mu_);
  done_ = true;
  old = std::move(hook_);
}

}  // namespace tern
