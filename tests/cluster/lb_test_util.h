// tests/cluster/lb_test_util.h - helpers shared by the load balancer tests
// (tests/cluster/*_load_balancer_test.cc): seeded options, so a randomized
// balancer makes the same picks on every run, and a pick counter.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fake_invoker.h"
#include "tern/cluster/load_balancer.h"

namespace tern::cluster::testing {

// Balancer options with `seed` (fixed seeds: reproducible picks).
inline LoadBalancerOptions seeded(std::uint64_t seed) {
  LoadBalancerOptions o;
  o.seed = seed;
  return o;
}

// How many of `picks` selections (each of an empty Invocation) `balancer`
// gave to each invoker of `list`, by index. A selection that is not an
// invoker of the list is a test failure.
inline std::vector<int> count_picks(LoadBalancer& balancer, const FakeInvokerList& list, int picks) {
  std::vector<int> counts(list.size());
  int outside = 0;
  for (int i = 0; i < picks; ++i) {
    int idx = list.index_of(balancer.select(list.span(), {}));
    if (idx < 0) {
      ++outside;
      continue;
    }
    ++counts[static_cast<std::size_t>(idx)];
  }
  EXPECT_EQ(outside, 0) << "selections that are not an invoker of the list";
  return counts;
}

}  // namespace tern::cluster::testing
