// Credit-based flow control for one direction of one stream
// (shared/DESIGN.md §12): the reader grants credit in messages and bytes, the
// writer spends it, so a slow reader bounds the writer's memory end to end.
//
// The rule, the same on both ends so that both compute the same balance:
//   * a message may be sent while the writer holds at least one message of
//     credit and more than zero bytes of credit;
//   * sending it spends one message and its size in bytes. The byte balance
//     may go negative once: a message larger than the whole window still flows,
//     one at a time, instead of deadlocking (HTTP/2 would split it into DATA
//     frames; a Tern stream frame carries a whole message);
//   * so the reader holds at most `initial.messages` unread messages and at most
//     `initial.bytes` + one message's bytes (itself bounded by max_message_bytes).
//   * The reader grants credit back as the application consumes messages, in
//     batches of half the initial window (as nghttp2's and grpc-java's automatic
//     WINDOW_UPDATE do), so a stream that is read promptly never stalls and a
//     stream that is not read stops the writer after one window.
// A grant that would raise a balance past kMaxCredit (2^31 - 1, HTTP/2's
// largest window, RFC 9113 §6.9.1) is a flow-control error.
//
// The Tern codec carries grants in WINDOW frames; the HTTP/2 codec maps bytes
// onto WINDOW_UPDATE and keeps the message count itself.
//
// Thread safety: none; a window belongs to its stream, which belongs to one
// connection's IO thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace tern::stream {

// An amount of flow-control credit.
struct Credit {
  std::uint32_t messages = 0;  // whole messages
  std::uint32_t bytes = 0;     // serialized message bytes (framing not counted)

  friend bool operator==(const Credit&, const Credit&) = default;
};

// The largest balance either count may reach (HTTP/2's window limit).
inline constexpr std::int64_t kMaxCredit = 0x7FFFFFFF;

// The writer's side: what it may still send.
class SendWindow {
 public:
  explicit SendWindow(Credit initial) noexcept : messages_(initial.messages), bytes_(initial.bytes) {}

  // True when one more message (of any size) may be sent now.
  bool can_send() const noexcept { return messages_ > 0 && bytes_ > 0; }

  // Spends the credit of one message of `bytes` bytes. Precondition: can_send().
  void spend(std::size_t bytes) noexcept;

  // Adds the reader's grant. False (and no change) when a balance would pass
  // kMaxCredit: the peer broke flow control.
  [[nodiscard]] bool grant(Credit credit) noexcept;

  std::int64_t messages() const noexcept { return messages_; }
  std::int64_t bytes() const noexcept { return bytes_; }  // may be negative after one overdraw

 private:
  std::int64_t messages_;
  std::int64_t bytes_;
};

// The reader's side: the credit it has granted and not yet seen spent, and
// what the application has consumed since the last grant.
class RecvWindow {
 public:
  explicit RecvWindow(Credit initial) noexcept
      : initial_(initial), messages_(initial.messages), bytes_(initial.bytes) {}

  // A message of `bytes` bytes arrived. False (and no change) when the writer
  // had no credit for it: a flow-control violation, answered by resetting the
  // stream with RESOURCE_EXHAUSTED.
  [[nodiscard]] bool admit(std::size_t bytes) noexcept;

  // The application consumed a message of `bytes` bytes (it left the inbox).
  void consumed(std::size_t bytes) noexcept;

  // The grant to send now, if enough was consumed since the last one (half
  // the initial window in messages or in bytes); it is added to the balance
  // the writer holds. nullopt: send nothing yet.
  std::optional<Credit> take_grant() noexcept;

  // The writer's balance as this end sees it.
  std::int64_t messages() const noexcept { return messages_; }
  std::int64_t bytes() const noexcept { return bytes_; }

 private:
  Credit initial_;
  std::int64_t messages_;
  std::int64_t bytes_;
  std::int64_t pending_messages_ = 0;
  std::int64_t pending_bytes_ = 0;
};

}  // namespace tern::stream
