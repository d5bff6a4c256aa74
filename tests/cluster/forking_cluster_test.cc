// tests/cluster/forking_cluster_test.cc - forking through a fake call.
#include "cluster/ft/forking_cluster.h"

#include <gtest/gtest.h>

#include "fake_cluster_call.h"

namespace tern::cluster::ft {
namespace {

using testing::FakeWorld;
using Ending = FakeWorld::Ending;
using Strings = std::vector<std::string>;
using Kinds = std::vector<AttemptKind>;

void run(FakeWorld& w, int forks) {
  ClusterOptions o;
  o.forks = forks;
  ForkingCluster(o).invoke(w.make_call());
}

TEST(ForkingCluster, ForksDistinctProvidersAtOnce) {
  FakeWorld w(3);
  run(w, 2);
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p2:1"}));
  EXPECT_EQ(w.kinds(), Kinds({AttemptKind::kFirst, AttemptKind::kFork}));
  EXPECT_NE(w.attempts()[0].control, nullptr);
  EXPECT_NE(w.attempts()[0].control, w.attempts()[1].control);
  EXPECT_FALSE(w.attempts()[0].last);
  EXPECT_EQ(w.outcome().settled, 0);
}

TEST(ForkingCluster, FirstSuccessWinsTheOthersAreCancelled) {
  FakeWorld w(3);
  run(w, 3);
  ASSERT_EQ(w.attempts().size(), 3u);
  w.reply(1, testing::remote_error());  // a failure waits for the others
  EXPECT_EQ(w.outcome().settled, 0);
  w.reply(2, Status());
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p3:1");
  EXPECT_TRUE(w.attempts()[0].cancelled);
  EXPECT_TRUE(w.attempts()[0].control->cancelled());
  EXPECT_FALSE(w.attempts()[1].cancelled);
  w.reply(0, Status());  // a loser's late answer changes nothing
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(ForkingCluster, AllFailedIsTheLastError) {
  FakeWorld w(3);
  run(w, 2);
  w.reply(1, testing::overloaded());
  w.reply(0, testing::remote_error());
  EXPECT_EQ(w.outcome().ending, Ending::kFail);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kInternal);
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(ForkingCluster, FewerProvidersThanForks) {
  FakeWorld w(2);
  run(w, 5);
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p2:1"}));
}

TEST(ForkingCluster, NoProviderAndCancelledBeforeStart) {
  FakeWorld empty(0);
  run(empty, 2);
  EXPECT_EQ(empty.outcome().status.message(), "no provider for service 'Test'");

  FakeWorld zero(0);
  zero.add("z:1", 0);
  run(zero, 2);
  EXPECT_EQ(zero.outcome().status.message(), "no provider with a non-zero weight for 'Test'");

  FakeWorld cancelled(3);
  cancelled.control = std::make_shared<CallControl>();
  cancelled.control->cancel();
  run(cancelled, 2);
  EXPECT_TRUE(cancelled.attempts().empty());
  EXPECT_EQ(cancelled.outcome().status.code(), StatusCode::kCancelled);
}

TEST(ForkingCluster, CallerCancelCancelsEveryFork) {
  FakeWorld w(3);
  w.control = std::make_shared<CallControl>();
  run(w, 2);
  EXPECT_TRUE(w.control->cancel());
  EXPECT_TRUE(w.attempts()[0].cancelled);
  EXPECT_TRUE(w.attempts()[1].cancelled);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(w.outcome().status.message(), "cancelled by the caller");
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(ForkingCluster, ASpentDeadlineSendsNothing) {
  FakeWorld w(3);
  w.timeout = std::chrono::milliseconds(0);
  run(w, 2);
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().ending, Ending::kFail);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(w.outcome().settled, 1);
}

}  // namespace
}  // namespace tern::cluster::ft
