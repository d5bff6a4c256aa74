// tern/status.h - the error model of every Tern API.
//
// A Status is gRPC's canonical code plus a human-readable message, plus the one
// fact a fault-tolerance strategy needs and gRPC does not carry: whether the
// request may have reached (and run on) the provider. Failover retries a call
// on another provider only when `may_have_executed()` is false, unless the
// method is declared idempotent.
//
// Thread safety: Status is a value type; distinct objects may be used from
// different threads, one object needs external synchronization for writes.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace tern {

// gRPC's canonical status codes (same numbers, so they map 1:1 onto gRPC and
// onto the 1-byte status field of the wire protocol). What a caller should do:
//   kCancelled         - the caller (or a cancel frame) cancelled; do not retry.
//   kInvalidArgument   - arguments could not be decoded or are invalid; fix the call.
//   kDeadlineExceeded  - the deadline passed; retrying needs a new deadline.
//   kNotFound          - an entity (e.g. registry node) does not exist.
//   kResourceExhausted - provider overloaded (pool full) or a limit hit; retry
//                        later or elsewhere (safe: the handler did not run).
//   kUnimplemented     - unknown service or method on that provider.
//   kInternal          - the handler threw or an invariant broke; message has details.
//   kUnavailable       - cannot connect, no provider, or connection lost; retry
//                        elsewhere, but check may_have_executed().
//   kUnauthenticated   - missing or bad credentials.
enum class StatusCode : std::uint8_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "OK", "CANCELLED", ... "UNAUTHENTICATED" (gRPC's spelling); "CODE(n)" for
// numbers outside the canonical range.
std::string_view status_code_name(StatusCode code) noexcept;

// Parses a gRPC code name ("UNAVAILABLE") back; returns false if unknown.
bool parse_status_code(std::string_view name, StatusCode* out) noexcept;

class [[nodiscard]] Status {
 public:
  // OK.
  Status() noexcept = default;
  // `may_have_executed`: true when the request may have run on the provider
  // (e.g. the connection dropped after the request was sent). Errors produced
  // before anything was sent (cannot connect, encode failure) leave it false.
  Status(StatusCode code, std::string message, bool may_have_executed = false)
      : code_(code), may_have_executed_(may_have_executed), message_(std::move(message)) {}

  static Status ok() noexcept { return Status(); }

  bool is_ok() const noexcept { return code_ == StatusCode::kOk; }
  explicit operator bool() const noexcept { return is_ok(); }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  bool may_have_executed() const noexcept { return may_have_executed_; }

  // "DEADLINE_EXCEEDED: call to Calculator.add timed out after 3000 ms".
  std::string to_string() const;

  friend bool operator==(const Status& a, const Status& b) noexcept {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  bool may_have_executed_ = false;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);
std::ostream& operator<<(std::ostream& os, StatusCode c);

}  // namespace tern
