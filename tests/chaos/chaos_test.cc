// Faults under load, the quick scenarios of `make chaos` (chaos_util.h) with
// short load phases, so `make test` guards them: a SIGKILLed provider, a
// registry restart, rolling SIGTERM restarts (through the registry and with a
// direct:// list) and a connect that is never answered. Every call sent must
// be accounted for (0 missing) and fail only as expected.
#include "chaos_util.h"

#include <gtest/gtest.h>

#include "tern/log.h"

namespace {

chaos::Config quick() {
  chaos::Config c;
  c.bin_dir = TERN_BINARY_DIR "/bin";
  c.duration = std::chrono::milliseconds(2000);
  c.callers = 8;
  c.log_dir = "/tmp/tern-chaos-test";
  c.slack = std::chrono::milliseconds(100);  // ctest runs other suites alongside
  tern::set_log_level(tern::LogLevel::kError);
  return c;
}

// Prints the report (tables for the log) and checks what every scenario
// promises: its own checks held and every call sent was accounted for.
void expect_accounted(const chaos::Report& r) {
  std::printf("%s%s", chaos::format_table({r}).c_str(), chaos::format_details({r}).c_str());
  for (auto& [what, held] : r.checks) EXPECT_TRUE(held) << what;
  EXPECT_EQ(r.missing, 0u);
}

// A scenario that must fail no call: under real load, every call sent
// answered OK.
void expect_no_call_failed(const chaos::Report& r) {
  expect_accounted(r);
  EXPECT_GT(r.sent, 100u);
  EXPECT_EQ(r.failed_total(), 0u);
  EXPECT_EQ(r.ok, r.sent);
}

}  // namespace

TEST(Chaos, KilledProviderFailsOnlyItsInFlightCallsPromptly) {
  auto c = quick();
  auto r = chaos::kill_provider(c);
  expect_accounted(r);
  EXPECT_GT(r.sent, 100u);
  EXPECT_EQ(r.sent, r.ok + r.failed_total());
  EXPECT_EQ(r.failed_total(), r.failed[tern::StatusCode::kUnavailable]);
  EXPECT_LE(r.failed_total(), static_cast<std::uint64_t>(c.callers));
  EXPECT_LT(r.max_failed_ms, 500.0);
}

TEST(Chaos, RollingRestartFailsNoCall) { expect_no_call_failed(chaos::rolling_restart(quick())); }

TEST(Chaos, RestartedRegistryFailsNoCall) { expect_no_call_failed(chaos::restart_registry(quick())); }

// Without a registry push, the goaway alone must move the consumer away
// without losing a request in transit.
TEST(Chaos, RollingRestartBehindADirectListFailsNoCall) {
  expect_no_call_failed(chaos::rolling_restart(quick(), /*direct=*/true));
}

TEST(Chaos, UnansweredConnectFailsWithinTheDeadline) {
  auto c = quick();
  auto r = chaos::blackhole_connect(c);
  expect_accounted(r);
  EXPECT_GE(r.sent, static_cast<std::uint64_t>(c.callers));
  EXPECT_EQ(r.ok, 0u);
  EXPECT_EQ(r.failed_total(), r.failed[tern::StatusCode::kDeadlineExceeded] + r.failed[tern::StatusCode::kUnavailable]);
  EXPECT_LE(r.max_ms, 600.0);  // deadline 500 ms + slack
}
