// Credit-based flow control (window.h).
#include "stream/window.h"

namespace tern::stream {

void SendWindow::spend(std::size_t bytes) noexcept {
  messages_ -= 1;
  bytes_ -= static_cast<std::int64_t>(bytes);
}

bool SendWindow::grant(Credit credit) noexcept {
  const std::int64_t m = messages_ + credit.messages;
  const std::int64_t b = bytes_ + credit.bytes;
  if (m > kMaxCredit || b > kMaxCredit) return false;
  messages_ = m;
  bytes_ = b;
  return true;
}

bool RecvWindow::admit(std::size_t bytes) noexcept {
  // The writer's own test (SendWindow::can_send), applied to our mirror of
  // its balance: identical arithmetic on both ends.
  if (messages_ <= 0 || bytes_ <= 0) return false;
  messages_ -= 1;
  bytes_ -= static_cast<std::int64_t>(bytes);
  return true;
}

void RecvWindow::consumed(std::size_t bytes) noexcept {
  pending_messages_ += 1;
  pending_bytes_ += static_cast<std::int64_t>(bytes);
}

std::optional<Credit> RecvWindow::take_grant() noexcept {
  // Half the window, but at least one message / one byte, so that a window
  // of one message still moves.
  const std::int64_t half_messages = initial_.messages / 2 > 0 ? initial_.messages / 2 : 1;
  const std::int64_t half_bytes = initial_.bytes / 2 > 0 ? initial_.bytes / 2 : 1;
  if (pending_messages_ < half_messages && pending_bytes_ < half_bytes) return std::nullopt;
  // balance + unread + pending == initial, so the grant never lifts the
  // writer's balance above the initial window (<= kMaxCredit).
  Credit grant{static_cast<std::uint32_t>(pending_messages_), static_cast<std::uint32_t>(pending_bytes_)};
  messages_ += pending_messages_;
  bytes_ += pending_bytes_;
  pending_messages_ = 0;
  pending_bytes_ = 0;
  return grant;
}

}  // namespace tern::stream
