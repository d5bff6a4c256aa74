// tern/result.h - Result<T>: a value or a non-OK Status, returned by every
// call that can fail (sync RPCs above all).
//
//   tern::Result<int> r = calc.call<&Calculator::add>(1, 2);
//   if (r) use(*r); else log(r.status());
//   int v = calc.call<&Calculator::add>(1, 2).value();   // throws tern::RpcError
//
// Thread safety: a value type; no internal synchronization.
#pragma once

#include <cassert>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "tern/status.h"

namespace tern {

// Thrown by Result<T>::value() on an error, and nowhere on the call path
// itself. Carries the full Status.
class RpcError : public std::runtime_error {
 public:
  explicit RpcError(Status status)
      : std::runtime_error(status.to_string()), status_(std::move(status)) {}
  const Status& status() const noexcept { return status_; }
  StatusCode code() const noexcept { return status_.code(); }

 private:
  Status status_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  // A value.
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT implicit
  // An error; `status` must not be OK (an OK status becomes INTERNAL).
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT implicit
    if (std::get<1>(v_).is_ok()) v_.template emplace<1>(StatusCode::kInternal, "Result built from an OK status");
  }

  bool has_value() const noexcept { return v_.index() == 0; }
  bool ok() const noexcept { return has_value(); }
  explicit operator bool() const noexcept { return has_value(); }

  // OK status when holding a value.
  Status status() const { return has_value() ? Status() : std::get<1>(v_); }

  // The value; throws RpcError carrying the status on an error.
  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }

  // Unchecked access (asserts in debug builds).
  T& operator*() & { assert(has_value()); return std::get<0>(v_); }
  const T& operator*() const& { assert(has_value()); return std::get<0>(v_); }
  T* operator->() { assert(has_value()); return &std::get<0>(v_); }
  const T* operator->() const { assert(has_value()); return &std::get<0>(v_); }

  template <typename U>
  T value_or(U&& fallback) const& { return has_value() ? std::get<0>(v_) : T(std::forward<U>(fallback)); }

 private:
  void check() const { if (!has_value()) throw RpcError(std::get<1>(v_)); }
  std::variant<T, Status> v_;
};

// Result<void>: success or a Status.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Status status) : status_(std::move(status)) {}  // NOLINT implicit
  bool has_value() const noexcept { return status_.is_ok(); }
  bool ok() const noexcept { return has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  const Status& status() const noexcept { return status_; }
  // Throws RpcError on an error.
  void value() const { if (!status_.is_ok()) throw RpcError(status_); }

 private:
  Status status_;
};

// Result<Status>: the result of a computation whose value is itself a
// Status (a stream handler's Task<Status>: its final status). Both the
// value and an error are a Status, so it always holds one: an error (an
// exception that escaped a Task<Status>) becomes the value.
template <>
class [[nodiscard]] Result<Status> {
 public:
  Result() = default;
  Result(Status status) : status_(std::move(status)) {}  // NOLINT implicit
  bool has_value() const noexcept { return true; }
  bool ok() const noexcept { return true; }
  explicit operator bool() const noexcept { return true; }
  // OK: the held Status is the value, not an error of the Result.
  Status status() const { return Status(); }
  Status& value() & { return status_; }
  const Status& value() const& { return status_; }
  Status&& value() && { return std::move(status_); }
  Status& operator*() & { return status_; }
  const Status& operator*() const& { return status_; }
  Status* operator->() { return &status_; }
  const Status* operator->() const { return &status_; }

 private:
  Status status_;
};

}  // namespace tern
