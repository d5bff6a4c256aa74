// A Reference's call on the client's Clock (issue #21): its remaining time
// follows the clock, and its hedge timer is an entry in an IO loop's
// LoopTimers (no timer of its own), due when the clock reaches the delay and
// removed when the call ends first.
#include "proxy/reference_call.h"

#include <gtest/gtest.h>

#include <future>

#include "fake_clock.h"
#include "proxy/client_core.h"

using namespace std::chrono_literals;

namespace {

struct Fixture {
  tern::testing::FakeClock clock;
  std::shared_ptr<tern::ClientCore> client;
  std::shared_ptr<tern::ReferenceCore> core = std::make_shared<tern::ReferenceCore>();
  Fixture() {
    tern::ClientOptions o;
    o.io_threads = 1;
    o.tracing = false;
    client = std::make_shared<tern::ClientCore>(std::move(o), clock);
    core->client = client;
    core->service = "Svc";
  }
  ~Fixture() { client->channels.shutdown(); }
  std::unique_ptr<tern::ReferenceCall> call(std::chrono::milliseconds budget, tern::Status* outcome) {
    auto now = clock.now();
    return std::make_unique<tern::ReferenceCall>(
        core, std::make_shared<tern::CallPolicy>(), "m", std::string(tern::protocol::kHeaderSize, '\0'), now,
        now + budget, [outcome](tern::CallResult&& r) { *outcome = r.status; }, nullptr, nullptr);
  }
  std::size_t pending_timers() const {
    std::size_t n = 0;
    for (auto& t : client->timers) n += t->pending();
    return n;
  }
};

}  // namespace

TEST(ReferenceCallClock, RemainingFollowsTheClientsClock) {
  Fixture f;
  tern::Status outcome;
  auto c = f.call(100ms, &outcome);
  EXPECT_EQ(c->remaining(), 100ms);
  f.clock.advance(30ms);
  EXPECT_EQ(c->remaining(), 70ms);
  f.clock.advance(70ms);
  EXPECT_EQ(c->remaining(), 0ms);
  f.clock.advance(5ms);
  EXPECT_EQ(c->remaining(), -5ms);
  c->fail(tern::Status(tern::StatusCode::kDeadlineExceeded, "done"));
  EXPECT_EQ(outcome.code(), tern::StatusCode::kDeadlineExceeded);
}

TEST(ReferenceCallClock, TheHedgeIsALoopTimerEntryDueWhenTheClockReachesTheDelay) {
  Fixture f;
  ASSERT_EQ(f.client->timers.size(), 1u);  // one timer structure per IO loop
  tern::Status outcome;
  auto c = f.call(1000ms, &outcome);
  std::promise<void> fired;
  c->schedule(50ms, [&] { fired.set_value(); });
  EXPECT_EQ(f.pending_timers(), 1u);
  auto done = fired.get_future();
  f.clock.advance(49ms);
  EXPECT_EQ(f.pending_timers(), 1u);  // not due: still queued (it would be taken out to run)
  f.clock.advance(1ms);
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);  // the loop's timer wakes and finds it due
  EXPECT_EQ(f.pending_timers(), 0u);
  c->fail(tern::Status(tern::StatusCode::kCancelled, "end"));
}

TEST(ReferenceCallClock, ACallThatEndsFirstRemovesItsHedgeAtOnce) {
  Fixture f;
  tern::Status outcome;
  auto c = f.call(1000ms, &outcome);
  bool ran = false;
  c->schedule(50ms, [&] { ran = true; });
  c->schedule(60ms, [&] { ran = true; });  // replaces the first: at most one pending
  EXPECT_EQ(f.pending_timers(), 1u);
  c->fail(tern::Status(tern::StatusCode::kUnavailable, "answered"));
  c.reset();
  EXPECT_EQ(f.pending_timers(), 0u);  // eager removal, before its deadline
  EXPECT_FALSE(ran);
}
