// tests/cluster/failfast_cluster_test.cc - failfast through a fake call.
#include "cluster/ft/failfast_cluster.h"

#include <gtest/gtest.h>

#include "fake_cluster_call.h"

namespace tern::cluster::ft {
namespace {

using testing::FakeWorld;
using Ending = FakeWorld::Ending;
using Strings = std::vector<std::string>;

void run(FakeWorld& w) { FailfastCluster().invoke(w.make_call()); }

TEST(FailfastCluster, OneAttemptEvenForARetryableError) {
  FakeWorld w(3);
  w.retries = 5;
  w.idempotent = true;
  w.answer_with("p1:1", testing::connect_failed());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_TRUE(w.attempts()[0].last);
  EXPECT_EQ(w.attempts()[0].kind, AttemptKind::kFirst);
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(w.outcome().status.message(), "connect refused");
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(FailfastCluster, SuccessIsTheAnswer) {
  FakeWorld w(2);
  w.answer_with("p1:1", Status());
  run(w);
  EXPECT_EQ(w.outcome().answer, "p1:1");
  EXPECT_TRUE(w.outcome().status.is_ok());
}

TEST(FailfastCluster, NoProviderAndSpentDeadlineFailUnsent) {
  FakeWorld empty(0);
  run(empty);
  EXPECT_TRUE(empty.attempts().empty());
  EXPECT_EQ(empty.outcome().status.message(), "no provider for service 'Test'");

  FakeWorld late(2);
  late.timeout = std::chrono::milliseconds(0);
  run(late);
  EXPECT_TRUE(late.attempts().empty());
  EXPECT_EQ(late.outcome().status.code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace tern::cluster::ft
