// tern/future.h - Future<T>: the result of an asynchronous call, available
// later (DESIGN §4, "future" call mode).
//
//   tern::Future<int> f = calc.async_call<&Calculator::add>(1, 2);   // returns at once
//   if (f.wait_for(100ms)) use(f.get());                           // get(): Result<int>
//   f.then([](tern::Result<int> r) { ... });                       // continuation
//   f.cancel();                                                      // CANCELLED, frees the pending call
//
// Completion: exactly once, with a value or a Status (remote error,
// DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, consumer shutdown).
// then(): the continuation runs exactly once — on the thread that completes
// the future (a client IO thread: keep it short, never block in it), or
// inline in then() when the future is already complete. then() returns a
// Future of the continuation's result, so continuations chain. A Future has
// one consumer: get() moves the value out; a second get() returns
// FAILED_PRECONDITION "Future::get() called twice", never a moved-from value.
//
// Thread safety: get/wait_for/ready/then/cancel may be called from any
// thread; a Future object itself is not copyable (move it), but its shared
// state is safe across threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "tern/detail/unique_function.h"
#include "tern/result.h"

namespace tern {

// Cancels one in-flight call (shared by a Future or coroutine and the call
// path). cancel() completes the call with CANCELLED at once, frees its
// pending entry and tells the provider with a cancel frame.
// Thread safety: every member may be called from any thread.
class CallControl {
 public:
  // Returns false if the call had already completed or was cancelled.
  bool cancel();
  // Whether cancel() has succeeded. Lock-free (the call path asks on every
  // attempt); a cancel() that returned before this call started is seen.
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
  // Call path: installs the hook cancel() runs while the call is pending. If
  // cancel() came first, the hook runs at once.
  void set_hook(detail::UniqueFunction<bool()> hook);
  // Call path: the call completed; drops the hook.
  void clear_hook();

 private:
  std::mutex mu_;
  std::atomic<bool> cancelled_{false};  // written under mu_, read without it
  bool done_ = false;
  detail::UniqueFunction<bool()> hook_;
};

namespace detail {

template <typename T>
struct FutureState {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<T>> value;
  UniqueFunction<void(Result<T>&&)> continuation;
  std::shared_ptr<CallControl> control;

  // Completes once; later calls are ignored (returns false).
  bool complete(Result<T>&& r) {
    UniqueFunction<void(Result<T>&&)> cont;
    {
      std::lock_guard lock(mu);
      if (value.has_value()) return false;
      if (continuation) {
        cont = std::move(continuation);
        value.emplace(Status(StatusCode::kFailedPrecondition, "value handed to then()"));
      } else {
        value.emplace(std::move(r));
      }
    }
    if (cont) {
      cont(std::move(r));
    } else {
      cv.notify_all();
    }
    return true;
  }
};

template <typename T>
struct ThenResult {
  using type = T;
};
template <typename T>
struct ThenResult<Result<T>> {
  using type = T;
};

}  // namespace detail

template <typename T>
class Promise;

template <typename T>
class [[nodiscard]] Future {
 public:
  Future() = default;
  explicit Future(std::shared_ptr<detail::FutureState<T>> s) : s_(std::move(s)) {}
  Future(Future&&) noexcept = default;
  Future& operator=(Future&&) noexcept = default;

  // A future that is already complete.
  static Future ready_with(Result<T> r) {
    auto s = std::make_shared<detail::FutureState<T>>();
    s->value.emplace(std::move(r));
    return Future(std::move(s));
  }

  bool valid() const noexcept { return s_ != nullptr; }

  bool ready() const {
    std::lock_guard lock(s_->mu);
    return s_->value.has_value();
  }

  // Blocks until complete; true when complete within `d`.
  template <typename Rep, typename Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    std::unique_lock lock(s_->mu);
    return s_->cv.wait_for(lock, d, [&] { return s_->value.has_value(); });
  }

  // Blocks until complete and returns the outcome (moved out: call once;
  // a later get() returns FAILED_PRECONDITION). The call's own timeout
  // bounds the wait, so this never blocks forever.
  Result<T> get() {
    std::unique_lock lock(s_->mu);
    s_->cv.wait(lock, [&] { return s_->value.has_value(); });
    Result<T> out = std::move(*s_->value);
    s_->value.emplace(Status(StatusCode::kFailedPrecondition,
                             "Future::get() called twice: the first call took the value"));
    return out;
  }

  // Cancels the call: completes with CANCELLED if it has not completed yet.
  bool cancel() {
    if (s_->control && s_->control->cancel()) return true;
    return s_->complete(Status(StatusCode::kCancelled, "cancelled by the caller"));
  }

  // Runs `f(Result<T>)` once the future completes; returns a Future of what f
  // returns (f may return U, Result<U>, or void). See the header comment for
  // the thread it runs on.
  template <typename F>
  auto then(F&& f) -> Future<typename detail::ThenResult<std::invoke_result_t<F, Result<T>>>::type> {
    using R = std::invoke_result_t<F, Result<T>>;
    using U = typename detail::ThenResult<R>::type;
    auto next = std::make_shared<detail::FutureState<U>>();
    next->control = s_->control;
    auto run = [next, f = std::forward<F>(f)](Result<T>&& r) mutable {
      try {
        if constexpr (std::is_void_v<R>) {
          f(std::move(r));
          next->complete(Result<void>());
        } else {
          next->complete(Result<U>(f(std::move(r))));
        }
      } catch (const RpcError& e) {
        next->complete(e.status());
      } catch (const std::exception& e) {
        next->complete(Status(StatusCode::kInternal, std::string("continuation threw: ") + e.what()));
      }
    };
    std::unique_lock lock(s_->mu);
    if (s_->value.has_value()) {
      Result<T> r = std::move(*s_->value);
      lock.unlock();
      run(std::move(r));
    } else {
      s_->continuation = std::move(run);
    }
    return Future<U>(std::move(next));
  }

 private:
  std::shared_ptr<detail::FutureState<T>> s_;
};

// The producing side of a Future.
template <typename T>
class Promise {
 public:
  Promise() : s_(std::make_shared<detail::FutureState<T>>()) {}
  Future<T> future() const { return Future<T>(s_); }
  // Completes the future; false if it was already complete.
  bool set(Result<T> r) const { return s_->complete(std::move(r)); }
  void set_control(std::shared_ptr<CallControl> c) const { s_->control = std::move(c); }

 private:
  std::shared_ptr<detail::FutureState<T>> s_;
};

}  // namespace tern
