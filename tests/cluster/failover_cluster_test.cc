// tests/cluster/failover_cluster_test.cc - failover, sequential and hedged,
// driven through a fake call (no sockets, no clock, no threads).
#include "cluster/ft/failover_cluster.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_cluster_call.h"

namespace tern::cluster::ft {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorld;
using Ending = FakeWorld::Ending;
using Strings = std::vector<std::string>;
using Kinds = std::vector<AttemptKind>;

void run(FakeWorld& w, ClusterOptions options = {}) { FailoverCluster(options).invoke(w.make_call()); }

TEST(FailoverCluster, FirstSuccessIsOneAttempt) {
  FakeWorld w(3);
  w.answer_with("p1:1", Status());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_EQ(w.kinds(), Kinds({AttemptKind::kFirst}));
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p1:1");
  EXPECT_EQ(w.outcome().settled, 1);
  EXPECT_FALSE(w.attempts()[0].last);  // retries left: the call path keeps the request
}

TEST(FailoverCluster, RetriesRetryableErrorsOnProvidersNotTriedYetInOrder) {
  FakeWorld w(3);
  w.answer_with("p1:1", testing::connect_failed());
  w.answer_with("p2:1", testing::overloaded());
  w.answer_with("p3:1", Status());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p2:1", "p3:1"}));
  EXPECT_EQ(w.kinds(), Kinds({AttemptKind::kFirst, AttemptKind::kRetry, AttemptKind::kRetry}));
  EXPECT_FALSE(w.attempts()[0].last);
  EXPECT_FALSE(w.attempts()[1].last);
  EXPECT_TRUE(w.attempts()[2].last);  // no retry left: the request moves into it
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p3:1");
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(FailoverCluster, StopsAfterRetriesWithTheLastAttemptsOutcome) {
  FakeWorld w(3);
  w.retries = 1;
  for (auto id : {"p1:1", "p2:1", "p3:1"}) w.answer_with(id, testing::connect_failed());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p2:1"}));
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p2:1");
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kUnavailable);
}

TEST(FailoverCluster, RetriesZeroIsExactlyOneAttempt) {
  FakeWorld w(3);
  w.retries = 0;
  w.answer_with("p1:1", testing::overloaded());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_TRUE(w.attempts()[0].last);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kResourceExhausted);
}

TEST(FailoverCluster, RunsOutOfProvidersWithTheLastError) {
  FakeWorld w(2);
  w.retries = 5;
  w.answer_with("p1:1", testing::connect_failed());
  w.answer_with("p2:1", testing::overloaded());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p2:1"}));
  EXPECT_EQ(w.outcome().ending, Ending::kFail);  // no third provider: the last error, without an answer
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(FailoverCluster, NeverRetriesAnswersDeadlinesOrCancels) {
  for (const Status& s : {testing::remote_error(), Status(StatusCode::kDeadlineExceeded, "late"),
                          Status(StatusCode::kInvalidArgument, "bad"), Status(StatusCode::kCancelled, "c")}) {
    FakeWorld w(3);
    w.idempotent = true;
    w.answer_with("p1:1", s);
    run(w);
    EXPECT_EQ(w.tried(), Strings({"p1:1"})) << s.to_string();
    EXPECT_EQ(w.outcome().ending, Ending::kFinish);
    EXPECT_EQ(w.outcome().status.code(), s.code());
  }
}

TEST(FailoverCluster, ConnectionLostIsRetriedOnlyForIdempotentMethods) {
  FakeWorld w(3);
  w.answer_with("p1:1", testing::connection_lost());
  w.answer_with("p2:1", Status());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(w.outcome().status.may_have_executed());

  FakeWorld idem(3);
  idem.idempotent = true;
  idem.answer_with("p1:1", testing::connection_lost());
  idem.answer_with("p2:1", Status());
  run(idem);
  EXPECT_EQ(idem.tried(), Strings({"p1:1", "p2:1"}));
  EXPECT_TRUE(idem.outcome().status.is_ok());
}

TEST(FailoverCluster, EachAttemptGetsTheTimeLeft) {
  FakeWorld w(3);
  w.timeout = 1000ms;
  run(w);  // p1 pending
  ASSERT_EQ(w.attempts().size(), 1u);
  EXPECT_EQ(w.attempts()[0].timeout, 1000ms);
  w.now = 300ms;
  w.reply(0, testing::connect_failed());
  ASSERT_EQ(w.attempts().size(), 2u);
  EXPECT_EQ(w.attempts()[1].timeout, 700ms);
}

TEST(FailoverCluster, NoRetryOnceTheDeadlinePassed) {
  FakeWorld w(3);
  w.timeout = 100ms;
  run(w);
  w.now = 100ms;
  w.reply(0, testing::connect_failed());
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_EQ(w.outcome().ending, Ending::kFail);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kUnavailable);  // the last error, not the deadline
  EXPECT_EQ(w.outcome().status.message(), "connect refused");
}

TEST(FailoverCluster, NothingSentWhenTheDeadlineHasPassed) {
  FakeWorld w(3);
  w.timeout = 0ms;
  run(w);
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(w.outcome().status.message(), "deadline passed before sending");
}

TEST(FailoverCluster, EmptyDirectoryFailsWithNoProvider) {
  FakeWorld w(0);
  run(w);
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().ending, Ending::kFail);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(w.outcome().status.message(), "no provider for service 'Test'");
}

TEST(FailoverCluster, ZeroWeightsFailWithNoWeightedProvider) {
  FakeWorld w(0);
  w.add("z:1", 0);
  run(w);
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(w.outcome().status.message(), "no provider with a non-zero weight for 'Test'");
}

TEST(FailoverCluster, RoutingErrorFailsTheCallUnsent) {
  FakeWorld w(3);
  w.route_error = Status(StatusCode::kUnavailable, "routes[0] left no provider");
  run(w);
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().status.message(), "routes[0] left no provider");
}

TEST(FailoverCluster, CallerCancelBeforeStartSendsNothing) {
  FakeWorld w(3);
  w.control = std::make_shared<CallControl>();
  w.control->cancel();
  run(w);
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(w.outcome().status.message(), "cancelled by the caller");
}

TEST(FailoverCluster, CallerCancelDuringAnAttemptIsNotRetried) {
  FakeWorld w(3);
  w.control = std::make_shared<CallControl>();
  run(w);
  ASSERT_EQ(w.attempts().size(), 1u);
  EXPECT_EQ(w.attempts()[0].control, w.control);  // sequential: the caller's control
  EXPECT_TRUE(w.control->cancel());
  EXPECT_TRUE(w.attempts()[0].cancelled);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(FailoverCluster, RetryPrefersAvailableProviders) {
  FakeWorld w(3);
  w.invokers()[1]->set_available(false);
  w.answer_with("p1:1", testing::connect_failed());
  w.answer_with("p3:1", Status());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p3:1"}));
}

// ---- hedging ---------------------------------------------------------------

ClusterOptions hedge(std::chrono::milliseconds delay) {
  ClusterOptions o;
  o.backup_request = delay;
  return o;
}

TEST(FailoverHedging, NotHedgedUnlessIdempotentWithRetries) {
  FakeWorld w(3);
  run(w, hedge(50ms));
  EXPECT_FALSE(w.timer_armed());
  FakeWorld none(3);
  none.idempotent = true;
  none.retries = 0;
  run(none, hedge(50ms));
  EXPECT_FALSE(none.timer_armed());
  FakeWorld off(3);
  off.idempotent = true;
  run(off);
  EXPECT_FALSE(off.timer_armed());
}

TEST(FailoverHedging, BackupAfterTheDelayFirstAnswerWinsOtherCancelled) {
  FakeWorld w(3);
  w.idempotent = true;
  w.retries = 2;
  run(w, hedge(50ms));
  ASSERT_TRUE(w.timer_armed());
  EXPECT_EQ(w.timer_delay(), 50ms);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  w.fire_timer();
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p2:1"}));
  EXPECT_EQ(w.kinds(), Kinds({AttemptKind::kFirst, AttemptKind::kHedge}));
  EXPECT_NE(w.attempts()[0].control, w.attempts()[1].control);  // one control per leg
  w.reply(1, Status());
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p2:1");
  EXPECT_TRUE(w.attempts()[0].cancelled);
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(FailoverHedging, RetryableFailureRetriesElsewhereAndCountsAgainstRetries) {
  FakeWorld w(3);
  w.idempotent = true;
  w.retries = 1;
  run(w, hedge(50ms));
  w.reply(0, testing::connect_failed());
  EXPECT_EQ(w.kinds(), Kinds({AttemptKind::kFirst, AttemptKind::kRetry}));
  w.fire_timer();  // no attempt left for a backup
  EXPECT_EQ(w.attempts().size(), 2u);
  w.reply(1, testing::overloaded());
  EXPECT_EQ(w.outcome().ending, Ending::kFail);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kResourceExhausted);
}

TEST(FailoverHedging, AnAnswerEndsTheCallEvenWithAnotherLegPending) {
  FakeWorld w(3);
  w.idempotent = true;
  run(w, hedge(50ms));
  w.fire_timer();
  w.reply(0, testing::remote_error());
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p1:1");
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kInternal);
  EXPECT_TRUE(w.attempts()[1].cancelled);
}

TEST(FailoverHedging, RetryableFailureWaitsForTheOtherLeg) {
  FakeWorld w(3);
  w.idempotent = true;
  w.retries = 1;
  run(w, hedge(50ms));
  w.fire_timer();
  w.reply(0, testing::connect_failed());  // no retry left, the backup still pending
  EXPECT_EQ(w.outcome().settled, 0);
  w.reply(1, Status());
  EXPECT_EQ(w.outcome().answer, "p2:1");
  EXPECT_TRUE(w.outcome().status.is_ok());
}

TEST(FailoverHedging, CallerCancelCancelsEveryLeg) {
  FakeWorld w(3);
  w.idempotent = true;
  w.control = std::make_shared<CallControl>();
  run(w, hedge(50ms));
  w.fire_timer();
  EXPECT_TRUE(w.control->cancel());
  EXPECT_TRUE(w.attempts()[0].cancelled);
  EXPECT_TRUE(w.attempts()[1].cancelled);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(w.outcome().settled, 1);
}

}  // namespace
}  // namespace tern::cluster::ft
