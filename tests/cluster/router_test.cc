// tests/cluster/router_test.cc - the routers (tern/cluster/router.h,
// docs/governance.md): condition, tag and weighted, with fixed inputs and the
// exact providers each leaves; malformed rules and their messages; force and
// fallback; the chain; the weighted split's share with a fixed seed.
#include "tern/cluster/router.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cluster/lb/random_load_balancer.h"
#include "fake_invoker.h"

namespace tern::cluster {
namespace {

using testing::FakeInvokerList;
using Params = std::vector<std::map<std::string, std::string>>;

// Providers "10.0.0.<i+1>:<20880 + i>" of service "Calc", each with its URL
// parameters.
class Providers {
 public:
  explicit Providers(const Params& params) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      std::string host = "10.0.0." + std::to_string(i + 1);
      auto port = static_cast<std::uint16_t>(20880 + i);
      auto& inv = list_.add(host + ":" + std::to_string(port));
      inv.mutable_url() = Url("tern", {HostPort{host, port}}, "Calc");
      for (const auto& [k, v] : params[i]) inv.mutable_url().set_param(k, v);
    }
  }
  std::span<Invoker* const> span() const { return list_.span(); }
  // The ids ("host:port") of `picked`, in order.
  static std::vector<std::string> ids(const std::vector<Invoker*>& picked) {
    std::vector<std::string> out;
    for (auto* p : picked) out.push_back(p->id());
    return out;
  }

 private:
  FakeInvokerList list_;
};

RouteContext call(std::string_view method, std::span<const RouteAttachment> attachments = {},
                  std::string_view application = "shop", std::string_view host = "10.0.0.9") {
  return RouteContext{"Calc", method, application, host, attachments};
}

std::unique_ptr<Router> make(std::string_view name, std::string_view rule, std::uint64_t seed = 0) {
  RouterOptions o;
  o.seed = seed;
  auto r = create_router(name, rule, o);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return r.has_value() ? std::move(*r) : nullptr;
}

// Routes `ctx` through `router`; the ids left, or "error: <message>".
std::vector<std::string> route(Router& router, const Providers& p, const RouteContext& ctx) {
  std::vector<Invoker*> out;
  Status s = router.route(p.span(), ctx, out);
  if (!s.is_ok()) return {"error " + std::string(status_code_name(s.code())) + ": " + s.message()};
  return Providers::ids(out);
}

std::string error_of(std::string_view name, std::string_view rule) {
  auto r = create_router(name, rule);
  if (r.has_value()) return "created";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

using Ids = std::vector<std::string>;

// ---------------------------------------------------------------------------
// condition

TEST(ConditionRouter, MethodSelectsVersionOtherMethodsPassThrough) {
  Providers p(Params{{{"version", "1.0"}}, {{"version", "2.0"}}, {{"version", "2.0"}}, {}});
  auto r = make("condition", "method = get => version = 2.0");
  EXPECT_FALSE(r->needs_attachments());
  EXPECT_EQ(route(*r, p, call("get")), (Ids{"10.0.0.2:20881", "10.0.0.3:20882"}));
  EXPECT_EQ(route(*r, p, call("put")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881", "10.0.0.3:20882", "10.0.0.4:20883"}));
}

TEST(ConditionRouter, AttachmentGlobSelectsTag) {
  Providers p(Params{{}, {{"tag", "canary"}}, {{"tag", "gray"}}});
  auto r = make("condition", "attachment[user] = beta-* => tag = canary");
  EXPECT_TRUE(r->needs_attachments());
  const RouteAttachment beta[] = {{"trace", "x"}, {"user", "beta-42"}};
  const RouteAttachment alice[] = {{"user", "alice"}};
  EXPECT_EQ(route(*r, p, call("get", beta)), (Ids{"10.0.0.2:20881"}));
  EXPECT_EQ(route(*r, p, call("get", alice)), (Ids{"10.0.0.1:20880", "10.0.0.2:20881", "10.0.0.3:20882"}));
  EXPECT_EQ(route(*r, p, call("get")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881", "10.0.0.3:20882"}));
}

TEST(ConditionRouter, ApplicationAndHostSelectNonZeroWeight) {
  // weight absent (provider 2) is not "0": `!=` holds for an absent parameter.
  Providers p(Params{{{"weight", "0"}}, {}, {{"weight", "50"}}});
  auto r = make("condition", "application = shop & host = 10.0.0.* => weight != 0");
  EXPECT_EQ(route(*r, p, call("get", {}, "shop", "10.0.0.77")), (Ids{"10.0.0.2:20881", "10.0.0.3:20882"}));
  EXPECT_EQ(route(*r, p, call("get", {}, "shop", "192.168.1.5")),
            (Ids{"10.0.0.1:20880", "10.0.0.2:20881", "10.0.0.3:20882"}));
  EXPECT_EQ(route(*r, p, call("get", {}, "billing", "10.0.0.77")),
            (Ids{"10.0.0.1:20880", "10.0.0.2:20881", "10.0.0.3:20882"}));
}

TEST(ConditionRouter, CommaListsNotEqualHostPortAndAddress) {
  Providers p(Params{{}, {}, {}, {}});
  auto hosts = make("condition", "method = get,list => host != 10.0.0.1,10.0.0.2");
  EXPECT_EQ(route(*hosts, p, call("list")), (Ids{"10.0.0.3:20882", "10.0.0.4:20883"}));
  EXPECT_EQ(route(*hosts, p, call("put")).size(), 4u);
  auto port = make("condition", "=> port = 20881,20883");
  EXPECT_EQ(route(*port, p, call("any")), (Ids{"10.0.0.2:20881", "10.0.0.4:20883"}));
  auto address = make("condition", " => address != 10.0.0.3:20882 & address != 10.0.0.1:*");
  EXPECT_EQ(route(*address, p, call("any")), (Ids{"10.0.0.2:20881", "10.0.0.4:20883"}));
  auto service = make("condition", "service = Other => host = 10.0.0.1");
  EXPECT_EQ(route(*service, p, call("any")).size(), 4u);
}

TEST(ConditionRouter, EmptyRightSideBlocksWhateverForceSays) {
  Providers p(Params{{}, {}});
  auto r = make("condition", "method = drop =>");
  EXPECT_EQ(route(*r, p, call("drop")),
            (Ids{"error UNAVAILABLE: call Calc.drop blocked by condition rule 'method = drop =>'"}));
  EXPECT_EQ(route(*r, p, call("keep")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881"}));
}

TEST(ConditionRouter, NoMatchFallsBackUnlessForce) {
  Providers p(Params{{{"version", "1.0"}}, {{"version", "2.0"}}});
  auto fallback = make("condition", "method = get => version = 3.0");
  EXPECT_EQ(route(*fallback, p, call("get")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881"}));
  auto explicit_fallback = make("condition", "method = get => version = 3.0; force=false");
  EXPECT_EQ(route(*explicit_fallback, p, call("get")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881"}));
  auto force = make("condition", "method = get => version = 3.0 ; force=true");
  EXPECT_EQ(route(*force, p, call("get")),
            (Ids{"error UNAVAILABLE: no provider of Calc matches condition rule "
                 "'method = get => version = 3.0 ; force=true' (force)"}));
  auto bare_force = make("condition", "method = get => version = 3.0; force");
  EXPECT_EQ(route(*bare_force, p, call("get")).front().substr(0, 17), "error UNAVAILABLE");
  // force only acts when the selection is empty.
  auto force_ok = make("condition", "method = get => version = 2.0; force");
  EXPECT_EQ(route(*force_ok, p, call("get")), (Ids{"10.0.0.2:20881"}));
}

TEST(ConditionRouter, MalformedRulesNameThePositionAndToken) {
  EXPECT_EQ(error_of("condition", "method = get version = 2.0"),
            "condition rule 'method = get version = 2.0': at position 13 ('version'): expected '=>' or '&'");
  EXPECT_EQ(error_of("condition", "method = => version = 2.0"),
            "condition rule 'method = => version = 2.0': at position 9 ('=>'): expected a value");
  EXPECT_EQ(error_of("condition", "methd = get => version = 2.0"),
            "condition rule 'methd = get => version = 2.0': at position 0 ('methd'): unknown key on the left side "
            "(method, service, application, host or attachment[key])");
  EXPECT_EQ(error_of("condition", "method get => x = 1"),
            "condition rule 'method get => x = 1': at position 7 ('get'): expected '=' or '!=' after 'method'");
  EXPECT_EQ(error_of("condition", "attachment[user = x => tag = a"),
            "condition rule 'attachment[user = x => tag = a': at position 16 ('='): expected ']'");
  EXPECT_EQ(error_of("condition", "=> attachment[user] = x"),
            "condition rule '=> attachment[user] = x': at position 3 ('attachment'): attachment[...] is only valid "
            "on the left side (the call)");
  EXPECT_EQ(error_of("condition", "=> tag = a; forse"),
            "condition rule '=> tag = a; forse': at position 12 ('forse'): unknown option (known: force)");
  EXPECT_EQ(error_of("condition", "=> tag = a; force=yes"),
            "condition rule '=> tag = a; force=yes': at position 18 ('yes'): expected true or false");
  EXPECT_EQ(error_of("condition", "=> tag = a @ 5%"),
            "condition rule '=> tag = a @ 5%': at position 11 ('@'): a share ('@ N%') is only valid in a weighted rule");
  EXPECT_EQ(error_of("condition", ""), "condition rule '': at position 0 (end): expected a condition on method, service, application, host "
            "or attachment[key]");
  EXPECT_EQ(error_of("nosuch", "x"), "unknown router 'nosuch' (known: condition, tag, weighted)");
}

// ---------------------------------------------------------------------------
// tag

TEST(TagRouter, TaggedCallGoesToItsTagUntaggedToUntagged) {
  Providers p(Params{{}, {{"tag", "canary"}}, {{"tag", "gray"}}, {}});
  auto r = make("tag", "");
  EXPECT_TRUE(r->needs_attachments());
  const RouteAttachment canary[] = {{"tern.tag", "canary"}};
  const RouteAttachment empty_tag[] = {{"tern.tag", ""}};
  const RouteAttachment other_key[] = {{"tag", "canary"}};  // not the tag attachment
  EXPECT_EQ(route(*r, p, call("get", canary)), (Ids{"10.0.0.2:20881"}));
  EXPECT_EQ(route(*r, p, call("get")), (Ids{"10.0.0.1:20880", "10.0.0.4:20883"}));
  EXPECT_EQ(route(*r, p, call("get", empty_tag)), (Ids{"10.0.0.1:20880", "10.0.0.4:20883"}));
  EXPECT_EQ(route(*r, p, call("get", other_key)), (Ids{"10.0.0.1:20880", "10.0.0.4:20883"}));
}

TEST(TagRouter, UnknownTagFallsBackToUntaggedUnlessForce) {
  Providers p(Params{{}, {{"tag", "canary"}}, {}});
  const RouteAttachment blue[] = {{"tern.tag", "blue"}};
  auto fallback = make("tag", "force=false");
  EXPECT_EQ(route(*fallback, p, call("get", blue)), (Ids{"10.0.0.1:20880", "10.0.0.3:20882"}));
  auto force = make("tag", " force ");
  EXPECT_EQ(route(*force, p, call("get", blue)),
            (Ids{"error UNAVAILABLE: no provider of Calc has tag 'blue' (tag router, force)"}));
  const RouteAttachment canary[] = {{"tern.tag", "canary"}};
  EXPECT_EQ(route(*force, p, call("get", canary)), (Ids{"10.0.0.2:20881"}));
}

TEST(TagRouter, NeverFallsThroughToTaggedProviders) {
  Providers p(Params{{{"tag", "canary"}}, {{"tag", "gray"}}});
  auto r = make("tag", "");
  const RouteAttachment blue[] = {{"tern.tag", "blue"}};
  EXPECT_EQ(route(*r, p, call("get", blue)),
            (Ids{"error UNAVAILABLE: no provider of Calc has tag 'blue' and none is untagged (tag router)"}));
  EXPECT_EQ(route(*r, p, call("get")),
            (Ids{"error UNAVAILABLE: no untagged provider of Calc for a call without a tag (tag router)"}));
}

TEST(TagRouter, MalformedRule) {
  EXPECT_EQ(error_of("tag", "  forse"),
            "tag rule '  forse': at position 2 ('forse'): expected nothing, force, force=true or force=false");
}

// ---------------------------------------------------------------------------
// weighted

TEST(WeightedRouter, FivePercentOfMatchingCallsGoToTheCanaryWithAFixedSeed) {
  Providers p(Params{{}, {{"tag", "canary"}}, {{"tag", "stable"}}});
  auto r = make("weighted", "method = pay => tag = canary @ 5%", 42);
  constexpr int kCalls = 10'000;
  int canary = 0, rest = 0, other = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto ids = route(*r, p, call("pay"));
    if (ids == Ids{"10.0.0.2:20881"}) {
      ++canary;
    } else if (ids == Ids{"10.0.0.1:20880", "10.0.0.3:20882"}) {
      ++rest;
    } else {
      ++other;
    }
  }
  EXPECT_EQ(other, 0);
  EXPECT_EQ(canary + rest, kCalls);
  std::printf("[weighted] 5%% rule, seed 42: %d of %d calls to the canary (%.2f%%)\n", canary, kCalls,
              100.0 * canary / kCalls);
  EXPECT_GE(canary, 400);  // 4.0% .. 6.0%
  EXPECT_LE(canary, 600);
  // Calls of other methods pass through untouched.
  EXPECT_EQ(route(*r, p, call("get")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881", "10.0.0.3:20882"}));
}

TEST(WeightedRouter, SameSeedSameSplits) {
  Providers p(Params{{}, {{"tag", "canary"}}});
  auto a = make("weighted", "=> tag = canary @ 30%", 7);
  auto b = make("weighted", "=> tag = canary @ 30%", 7);
  int to_canary = 0;
  for (int i = 0; i < 1000; ++i) {
    auto ia = route(*a, p, call("x"));
    EXPECT_EQ(ia, route(*b, p, call("x")));
    if (ia == Ids{"10.0.0.2:20881"}) ++to_canary;
  }
  EXPECT_GE(to_canary, 250);
  EXPECT_LE(to_canary, 350);
}

TEST(WeightedRouter, EdgesAndFallback) {
  Providers p(Params{{}, {}});  // no canary at all
  auto none = make("weighted", "=> tag = canary @ 0%", 1);
  auto all = make("weighted", "=> tag = canary @ 100%", 1);
  auto all_forced = make("weighted", "=> tag = canary @ 100 %; force", 1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(route(*none, p, call("x")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881"}));
    // force=false: the empty canary side falls back to the list it was given.
    EXPECT_EQ(route(*all, p, call("x")), (Ids{"10.0.0.1:20880", "10.0.0.2:20881"}));
    EXPECT_EQ(route(*all_forced, p, call("x")),
              (Ids{"error UNAVAILABLE: no provider of Calc matches weighted rule '=> tag = canary @ 100 %; force' "
                   "(force)"}));
  }
  Providers only_canary(Params{{{"tag", "canary"}}});
  auto rest_forced = make("weighted", "=> tag = canary @ 0%; force", 1);
  EXPECT_EQ(route(*rest_forced, only_canary, call("x")),
            (Ids{"error UNAVAILABLE: no provider of Calc is left outside weighted rule '=> tag = canary @ 0%; force' "
                 "(force)"}));
}

TEST(WeightedRouter, MalformedRules) {
  EXPECT_EQ(error_of("weighted", "method = pay => tag = canary"),
            "weighted rule 'method = pay => tag = canary': at position 28 (end): expected '@ <share>%' "
            "(the weighted router's share)");
  EXPECT_EQ(error_of("weighted", "=> tag = canary @ 150%"),
            "weighted rule '=> tag = canary @ 150%': at position 18 ('150%'): the share must be between 0 and 100");
  EXPECT_EQ(error_of("weighted", "=> tag = canary @ 5"),
            "weighted rule '=> tag = canary @ 5': at position 19 (end): expected '%' after the share");
  EXPECT_EQ(error_of("weighted", "=> tag = canary @ x%"),
            "weighted rule '=> tag = canary @ x%': at position 18 ('x%'): expected a share in percent (e.g. 5%)");
  EXPECT_EQ(error_of("weighted", "method = pay => @ 5%"),
            "weighted rule 'method = pay => @ 5%': at position 16 ('@'): a weighted rule needs providers to send "
            "its share to (a right side)");
}

// ---------------------------------------------------------------------------
// chain

TEST(RouterChain, AppliesRoutersInOrderAndStopsAtTheFirstError) {
  Providers p(Params{{{"version", "2.0"}}, {{"version", "2.0"}, {"tag", "canary"}}, {{"version", "1.0"}, {"tag", "canary"}}});
  std::vector<std::string> routes = {"condition: method = get => version = 2.0", "tag:"};
  auto chain = RouterChain::create(routes);
  ASSERT_TRUE(chain.has_value()) << chain.status().to_string();
  EXPECT_EQ(chain->size(), 2u);
  EXPECT_TRUE(chain->needs_attachments());
  std::vector<Invoker*> out;
  const RouteAttachment canary[] = {{"tern.tag", "canary"}};
  ASSERT_TRUE(chain->route(p.span(), call("get", canary), out).is_ok());
  EXPECT_EQ(Providers::ids(out), (Ids{"10.0.0.2:20881"}));
  ASSERT_TRUE(chain->route(p.span(), call("put", canary), out).is_ok());
  EXPECT_EQ(Providers::ids(out), (Ids{"10.0.0.2:20881", "10.0.0.3:20882"}));
  ASSERT_TRUE(chain->route(p.span(), call("get"), out).is_ok());
  EXPECT_EQ(Providers::ids(out), (Ids{"10.0.0.1:20880"}));

  std::vector<std::string> three = {"condition: => version = 2.0", "condition: method = drop =>", "tag:force"};
  auto blocking = RouterChain::create(three);
  ASSERT_TRUE(blocking.has_value());
  Status s = blocking->route(p.span(), call("drop"), out);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "call Calc.drop blocked by condition rule ' method = drop =>'");
  ASSERT_TRUE(blocking->route(p.span(), call("get", canary), out).is_ok());
  EXPECT_EQ(Providers::ids(out), (Ids{"10.0.0.2:20881"}));
}

TEST(RouterChain, EmptyChainAndMalformedSpecs) {
  Providers p(Params{{}, {}});
  auto empty = RouterChain::create({});
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(empty->needs_attachments());
  std::vector<Invoker*> out;
  ASSERT_TRUE(empty->route(p.span(), call("x"), out).is_ok());
  EXPECT_EQ(out.size(), 2u);

  std::vector<std::string> no_colon = {"condition method = get => version = 2.0"};
  auto a = RouterChain::create(no_colon);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.status().message(),
            "routes[0] 'condition method = get => version = 2.0' is not '<router>:<rule>' "
            "(e.g. 'condition:method = get => version = 2.0')");
  std::vector<std::string> bad_second = {"tag:", "condition:method = => x = 1"};
  auto b = RouterChain::create(bad_second);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.status().message(), "routes[1] condition rule 'method = => x = 1': at position 9 ('=>'): expected a value");
  std::vector<std::string> unknown = {"geo:x"};
  auto c = RouterChain::create(unknown);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.status().message(), "routes[0] unknown router 'geo' (known: condition, tag, weighted)");
}

TEST(RouterChain, SameSeedAsTheLoadBalancerStillSplitsFairly) {
  // Chain and balancer given the same seed: had the weighted router drawn
  // the balancer's sequence, every canary call (a small draw) would land on
  // the first canary.
  Providers p(Params{{{"tag", "canary"}}, {}, {{"tag", "canary"}}, {}});
  std::vector<std::string> routes = {"weighted:=> tag = canary @ 50%"};
  RouterOptions ro;
  ro.seed = 7;
  auto chain = RouterChain::create(routes, ro);
  ASSERT_TRUE(chain.has_value());
  LoadBalancerOptions lbo;
  lbo.seed = 7;
  lb::RandomLoadBalancer balancer(lbo);
  std::map<std::string, int> picks;
  std::vector<Invoker*> out;
  constexpr int kCalls = 10'000;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(chain->route(p.span(), call("x"), out).is_ok());
    ++picks[balancer.select(out, {})->id()];
  }
  ASSERT_EQ(picks.size(), 4u);
  for (const auto& [id, n] : picks) {
    EXPECT_GE(n, 2250) << id;  // 25 % each, +-2.5 points
    EXPECT_LE(n, 2750) << id;
  }
}

TEST(Glob, StarMatchesAnyRun) {
  // Exercised through a rule: host patterns with '*' at either end and inside.
  Providers p(Params{{{"zone", "eu-west-1a"}}, {{"zone", "us-east-1b"}}, {{"zone", "eu-central-1a"}}});
  EXPECT_EQ(route(*make("condition", "=> zone = eu-*"), p, call("x")), (Ids{"10.0.0.1:20880", "10.0.0.3:20882"}));
  EXPECT_EQ(route(*make("condition", "=> zone = *-1b"), p, call("x")), (Ids{"10.0.0.2:20881"}));
  EXPECT_EQ(route(*make("condition", "=> zone = eu*1a"), p, call("x")), (Ids{"10.0.0.1:20880", "10.0.0.3:20882"}));
  EXPECT_EQ(route(*make("condition", "=> zone = *"), p, call("x")).size(), 3u);
  EXPECT_EQ(route(*make("condition", "=> zone = eu"), p, call("x")),
            (Ids{"10.0.0.1:20880", "10.0.0.2:20881", "10.0.0.3:20882"}));  // no match: fallback
}

}  // namespace
}  // namespace tern::cluster
