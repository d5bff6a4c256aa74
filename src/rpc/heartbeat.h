// src/rpc/heartbeat.h - the heartbeat decision of one connection (issue #21),
// apart from sockets and timers so that it is tested by advancing a Clock
// (tests/rpc/heartbeat_test.cc).
//
// Session (rpc/session.h) calls tick() every `interval` with the time of the
// connection's last read. The rule (DESIGN §3):
//   - a read since the previous tick means the peer is alive: the count of
//     unanswered pings goes back to 0 (any bytes count, not only pongs);
//   - when nothing was read for `interval` or longer, a ping is due;
//   - when `max_unanswered` pings went out and still nothing was read for an
//     interval, the connection is dead: close it.
// With the defaults (3 pings) an idle dead peer is closed at the 4th idle
// tick, i.e. between 4 and 5 intervals after its last byte.
//
// Not thread-safe: the connection's IO thread.
#pragma once

#include <chrono>

#include "base/clock.h"

namespace tern::rpc {

class HeartbeatMonitor {
 public:
  enum class Action { kNone, kPing, kClose };

  // `clock` must outlive the monitor.
  HeartbeatMonitor(std::chrono::milliseconds interval, int max_unanswered, const Clock& clock) noexcept
      : interval_(interval), max_unanswered_(max_unanswered), clock_(&clock) {}

  // One tick; `last_read`: when the connection last read bytes.
  Action tick(Clock::time_point last_read) noexcept {
    if (last_read != last_seen_read_) {
      last_seen_read_ = last_read;
      unanswered_ = 0;
    }
    if (clock_->now() - last_read < interval_) return Action::kNone;
    if (unanswered_ >= max_unanswered_) return Action::kClose;
    ++unanswered_;
    return Action::kPing;
  }

  // Pings sent since the last read.
  int unanswered() const noexcept { return unanswered_; }
  std::chrono::milliseconds interval() const noexcept { return interval_; }
  const Clock& clock() const noexcept { return *clock_; }

 private:
  std::chrono::milliseconds interval_;
  int max_unanswered_;
  const Clock* clock_;
  Clock::time_point last_seen_read_{};
  int unanswered_ = 0;
};

}  // namespace tern::rpc
