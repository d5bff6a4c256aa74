// The name -> factory table shared by load balancers and routers
// (src/cluster/factory_table.h): replace vs keep rules and the error text.
#include "cluster/factory_table.h"

#include <gtest/gtest.h>

#include <functional>

namespace {

using Table = tern::cluster::FactoryTable<std::function<int()>>;

TEST(FactoryTable, ABuiltinNeverReplacesWhatTheApplicationRegistered) {
  Table t("widget");
  t.register_factory("b", [] { return 7; });
  t.add_builtin("b", [] { return 1; });
  t.add_builtin("a", [] { return 2; });
  ASSERT_TRUE(t.find("b").has_value());
  EXPECT_EQ((*t.find("b"))(), 7);
  EXPECT_EQ((*t.find("a"))(), 2);
}

TEST(FactoryTable, RegisteringAgainReplaces) {
  Table t("widget");
  t.add_builtin("a", [] { return 2; });
  t.register_factory("a", [] { return 3; });
  EXPECT_EQ((*t.find("a"))(), 3);
}

TEST(FactoryTable, UnknownAndEmptyNamesListTheKnownOnesInOrder) {
  Table t("widget");
  t.add_builtin("zeta", [] { return 0; });
  t.add_builtin("alpha", [] { return 0; });
  t.register_factory("hollow", nullptr);
  auto missing = t.find("beta");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "unknown widget 'beta' (known: alpha, zeta)");
  auto empty = t.find("hollow");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.status().message(), "unknown widget 'hollow' (known: alpha, zeta)");
}

}  // namespace
