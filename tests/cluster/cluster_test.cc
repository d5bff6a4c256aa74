// tests/cluster/cluster_test.cc - the strategy name table (tern/cluster/cluster.h).
#include "tern/cluster/cluster.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tern/cluster/fault_tolerance.h"

namespace tern::cluster {
namespace {

TEST(ClusterFactory, EveryBuiltinCreatesUnderItsName) {
  for (std::string name : {"failover", "failfast", "failsafe", "forking", "broadcast"}) {
    auto c = create_cluster(name);
    ASSERT_TRUE(c.ok()) << name << ": " << c.status();
    EXPECT_EQ((*c)->name(), name);
    EXPECT_TRUE(parse_fault_tolerance(name).ok()) << name;
  }
}

TEST(ClusterFactory, UnknownNameIsTheSameErrorAsParseFaultTolerance) {
  auto c = create_cluster("failback");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "unknown cluster strategy 'failback' (failover, failfast, failsafe, forking, broadcast)");
  EXPECT_EQ(c.status().message(), parse_fault_tolerance("failback").status().message());
}

TEST(ClusterFactory, CustomRegistration) {
  struct Refuse final : Cluster {
    void invoke(std::unique_ptr<ClusterCall> call) override { call->fail(Status(StatusCode::kUnavailable, "no")); }
    std::string_view name() const override { return "refuse"; }
  };
  register_cluster("refuse", [](const ClusterOptions&) { return std::make_unique<Refuse>(); });
  auto c = create_cluster("refuse");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->name(), "refuse");
  register_cluster("null", [](const ClusterOptions&) { return std::unique_ptr<Cluster>(); });
  EXPECT_EQ(create_cluster("null").status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace tern::cluster
