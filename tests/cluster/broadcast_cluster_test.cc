// tests/cluster/broadcast_cluster_test.cc - broadcast through a fake call.
#include "cluster/ft/broadcast_cluster.h"

#include <gtest/gtest.h>

#include "fake_cluster_call.h"

namespace tern::cluster::ft {
namespace {

using testing::FakeWorld;
using Ending = FakeWorld::Ending;
using Strings = std::vector<std::string>;
using Kinds = std::vector<AttemptKind>;

void run(FakeWorld& w) { BroadcastCluster().invoke(w.make_call()); }

TEST(BroadcastCluster, EveryProviderOnceTheLastSuccessWins) {
  FakeWorld w(3);
  w.invokers()[2]->set_available(false);  // ejected ones are part of "every"
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1", "p2:1", "p3:1"}));
  EXPECT_EQ(w.kinds(), Kinds({AttemptKind::kFirst, AttemptKind::kFork, AttemptKind::kFork}));
  w.reply(2, Status());
  w.reply(0, Status());
  EXPECT_EQ(w.outcome().settled, 0);  // waits for all
  w.reply(1, Status());
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p2:1");
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(BroadcastCluster, FailsWithTheFirstErrorIfAnyFailedAndNobodyIsCancelled) {
  FakeWorld w(3);
  run(w);
  w.reply(1, testing::remote_error());
  w.reply(0, testing::overloaded());
  EXPECT_EQ(w.outcome().settled, 0);
  EXPECT_FALSE(w.attempts()[2].cancelled);
  w.reply(2, Status());
  EXPECT_EQ(w.outcome().ending, Ending::kFail);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kInternal);
  EXPECT_EQ(w.outcome().status.message(), "handler threw");
  for (auto& a : w.attempts()) EXPECT_FALSE(a.cancelled);
}

TEST(BroadcastCluster, NoProviderOrARoutingErrorSendsNothing) {
  FakeWorld empty(0);
  run(empty);
  EXPECT_TRUE(empty.attempts().empty());
  EXPECT_EQ(empty.outcome().status.message(), "no provider for service 'Test'");

  FakeWorld routed(3);
  routed.route_error = Status(StatusCode::kUnavailable, "routes[0] left no provider");
  run(routed);
  EXPECT_TRUE(routed.attempts().empty());
  EXPECT_EQ(routed.outcome().status.message(), "routes[0] left no provider");
}

TEST(BroadcastCluster, CallerCancelCancelsEveryLeg) {
  FakeWorld w(3);
  w.control = std::make_shared<CallControl>();
  run(w);
  w.reply(0, Status());
  EXPECT_TRUE(w.control->cancel());
  EXPECT_TRUE(w.attempts()[1].cancelled);
  EXPECT_TRUE(w.attempts()[2].cancelled);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(w.outcome().settled, 1);
}

}  // namespace
}  // namespace tern::cluster::ft
