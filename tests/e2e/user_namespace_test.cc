// TERN_STRUCT and TERN_SERVICE on types in user namespaces that share a name
// with one of Tern's own (tern::trace, tern::monitor, tern::net): the macro
// bodies are in namespace tern's scope, so they must not spell the user's
// type there, where `trace::Span` would mean tern::trace::Span.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "loopback.h"
#include "tern/client.h"
#include "tern/provider.h"
#include "tern/server.h"

namespace trace {
struct Span {
  std::string name;
  std::int64_t duration_us = 0;
};
}  // namespace trace
TERN_STRUCT(trace::Span, name, duration_us)

namespace monitor {
struct Collector {
  virtual ~Collector() = default;
  virtual std::int64_t total(std::vector<trace::Span> spans) = 0;
  virtual trace::Span longest(std::vector<trace::Span> spans) = 0;
};
}  // namespace monitor
TERN_SERVICE(monitor::Collector, total, longest)

namespace net {
struct CollectorImpl : monitor::Collector {
  std::int64_t total(std::vector<trace::Span> spans) override {
    std::int64_t sum = 0;
    for (auto& s : spans) sum += s.duration_us;
    return sum;
  }
  trace::Span longest(std::vector<trace::Span> spans) override {
    trace::Span best;
    for (auto& s : spans) {
      if (s.duration_us > best.duration_us) best = s;
    }
    return best;
  }
};
}  // namespace net

namespace {

static_assert(std::is_same_v<tern::MethodTraits<&monitor::Collector::total>::Service, monitor::Collector>);
static_assert(tern::ServiceTraits<monitor::Collector>::name == "monitor::Collector");
static_assert(tern::Reflect<trace::Span>::name() == "trace::Span");

struct UserNamespaceFixture : testutil::LoopbackFixture {
  void SetUp() override {
    start({}, [&](tern::Server& s) { ASSERT_TRUE(s.expose<monitor::Collector>(impl).is_ok()); });
  }
  std::shared_ptr<net::CollectorImpl> impl = std::make_shared<net::CollectorImpl>();
};

TEST_F(UserNamespaceFixture, StructsAndServicesInNamespacesNamedLikeTernsOwnWork) {
  auto p = client->refer<monitor::Collector>(url).value();
  std::vector<trace::Span> spans{{"read", 120}, {"decode", 480}, {"write", 75}};
  auto total = p.call<&monitor::Collector::total>(spans);
  ASSERT_TRUE(total.has_value()) << total.status();
  EXPECT_EQ(*total, 675);
  auto longest = p.call<&monitor::Collector::longest>(spans);
  ASSERT_TRUE(longest.has_value()) << longest.status();
  EXPECT_EQ(longest->name, "decode");
  EXPECT_EQ(longest->duration_us, 480);
}

}  // namespace
