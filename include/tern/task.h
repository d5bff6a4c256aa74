// tern/task.h - Task<T>: a small lazy C++20 coroutine type for Tern's
// coroutine call mode, on both sides (DESIGN §4, §5).
//
// Consumer:
//   tern::Task<int> sum(tern::Proxy<Calculator> calc) {
//     tern::Result<int> r = co_await calc.co_call<&Calculator::add>(1, 2);
//     co_return r.value();
//   }
//   tern::Result<int> v = tern::sync_wait(sum(calc));   // or co_await it from another Task
//
// Provider: an interface method may return tern::Task<R>; the provider then
// answers when the coroutine finishes, and a co_await of another call inside
// it holds no thread while waiting:
//   tern::Task<int> FrontImpl::total(int a) { auto r = co_await backend.co_call<&Back::add>(a, 1); co_return r.value(); }
// A method returning tern::Task<tern::Result<R>> answers with the status it
// co_returns, or its value; its consumers see R.
//
// A Task starts when awaited (or by start()/sync_wait()); it resumes its
// awaiter when it finishes (symmetric transfer, no extra thread). After a
// co_await of a call, the coroutine continues on the client IO thread that
// completed the call: do not block there. An exception escaping a Task is
// rethrown to its awaiter (get()/sync_wait turn it into a Status).
// Thread safety: a Task is a move-only handle owned by one awaiter.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "tern/detail/unique_function.h"
#include "tern/result.h"

namespace tern {

template <typename T = void>
class Task;

namespace detail {

struct TaskPromiseBase {
  std::coroutine_handle<> continuation;
  std::exception_ptr error;

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      auto c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <typename T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <typename U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;

  Task() = default;
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return !h_ || h_.done(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    h_.promise().continuation = awaiter;
    return h_;
  }
  T await_resume() { return h_.promise().take(); }

  // Runs the task detached; `done(Result<T>)` runs exactly once when it
  // finishes (exceptions become INTERNAL, RpcError its status). The task
  // frame frees itself.
  void start(detail::UniqueFunction<void(Result<T>)> done) &&;

 private:
  std::coroutine_handle<promise_type> h_;
};

namespace detail {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

// A fire-and-forget coroutine that owns the task it runs.
struct Detached {
  struct promise_type {
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

template <typename T>
Detached run_detached(Task<T> task, UniqueFunction<void(Result<T>)> done) {
  Result<T> out = Status(StatusCode::kInternal, "task did not finish");
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      out = Result<void>();
    } else {
      out = Result<T>(co_await std::move(task));
    }
  } catch (const RpcError& e) {
    out = e.status();
  } catch (const std::exception& e) {
    out = Status(StatusCode::kInternal, e.what(), true);
  } catch (...) {
    out = Status(StatusCode::kInternal, "coroutine threw a non-standard exception", true);
  }
  done(std::move(out));
}
}  // namespace detail

template <typename T>
void Task<T>::start(detail::UniqueFunction<void(Result<T>)> done) && {
  detail::run_detached<T>(std::move(*this), std::move(done));
}

// Runs `task` to completion on the calling thread's behalf and returns its
// outcome. Blocks: never call it on a client IO thread.
template <typename T>
Result<T> sync_wait(Task<T> task) {
  struct State {
    std::atomic<int> done{0};
    std::optional<Result<T>> out;
  };
  auto st = std::make_shared<State>();
  std::move(task).start([st](Result<T> r) {
    st->out.emplace(std::move(r));
    st->done.store(1, std::memory_order_release);
    st->done.notify_one();
  });
  st->done.wait(0, std::memory_order_acquire);
  return std::move(*st->out);
}

}  // namespace tern
