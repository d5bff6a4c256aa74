// tests/cluster/failsafe_cluster_test.cc - failsafe through a fake call.
#include "cluster/ft/failsafe_cluster.h"

#include <gtest/gtest.h>

#include "fake_cluster_call.h"

namespace tern::cluster::ft {
namespace {

using testing::FakeWorld;
using Ending = FakeWorld::Ending;
using Strings = std::vector<std::string>;

void run(FakeWorld& w) { FailsafeCluster().invoke(w.make_call()); }

TEST(FailsafeCluster, AnErrorEndsEmptyAndOkWithTheRealStatusForTheFilters) {
  FakeWorld w(3);
  w.answer_with("p1:1", testing::remote_error());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_EQ(w.outcome().ending, Ending::kEmpty);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kInternal);  // what the filters see
  EXPECT_EQ(w.outcome().answer, "p1:1");                        // with the failed attempt's answer
  EXPECT_EQ(w.outcome().settled, 1);
}

TEST(FailsafeCluster, OneAttemptNoRetry) {
  FakeWorld w(3);
  w.answer_with("p1:1", testing::connect_failed());
  run(w);
  EXPECT_EQ(w.tried(), Strings({"p1:1"}));
  EXPECT_EQ(w.outcome().ending, Ending::kEmpty);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kUnavailable);
}

TEST(FailsafeCluster, SuccessIsTheAnswer) {
  FakeWorld w(3);
  w.answer_with("p1:1", Status());
  run(w);
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().answer, "p1:1");
}

TEST(FailsafeCluster, NoProviderEndsEmptyToo) {
  FakeWorld w(0);
  run(w);
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().ending, Ending::kEmpty);
  EXPECT_EQ(w.outcome().status.message(), "no provider for service 'Test'");
}

TEST(FailsafeCluster, TheCallersCancelStaysCancelled) {
  FakeWorld w(3);
  w.control = std::make_shared<CallControl>();
  run(w);
  EXPECT_TRUE(w.control->cancel());
  EXPECT_EQ(w.outcome().ending, Ending::kFinish);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kCancelled);

  FakeWorld before(3);
  before.control = std::make_shared<CallControl>();
  before.control->cancel();
  run(before);
  EXPECT_EQ(before.outcome().ending, Ending::kFail);
  EXPECT_EQ(before.outcome().status.code(), StatusCode::kCancelled);
}

TEST(FailsafeCluster, ACallThatCannotStartEndsEmpty) {
  FakeWorld w(3);
  FailsafeCluster().fail(w.make_call(), Status(StatusCode::kDeadlineExceeded, "no time left"));
  EXPECT_TRUE(w.attempts().empty());
  EXPECT_EQ(w.outcome().ending, Ending::kEmpty);
  EXPECT_EQ(w.outcome().status.code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace tern::cluster::ft
