// A fault-tolerance strategy that breaks ClusterCall's contract
// (tern/cluster/cluster.h: settle exactly once, send the request at most once
// with AttemptOptions::last) gets a defined outcome over real calls, not a
// hang, a torn result or an empty frame on the wire; and the reference's
// own options are checked before a strategy is made.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

#include "loopback.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/cluster/cluster.h"
#include "tern/protocol/frame.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using testsvc::Calculator;

namespace {

using testutil::direct;
using testutil::one_io;
using testutil::start_server;

enum class Misuse { kDrop, kSettleTwice, kSendTwiceAsLast };

// The broken strategy under test; `sent` counts attempts whose completion ran.
class Broken final : public tern::cluster::Cluster {
 public:
  Broken(Misuse m, std::shared_ptr<std::atomic<int>> completions) : m_(m), completions_(std::move(completions)) {}
  std::string_view name() const override { return "broken"; }
  void invoke(std::unique_ptr<tern::cluster::ClusterCall> call) override {
    auto sel = call->select({});
    if (!sel.invoker) {
      call->fail(tern::Status(tern::StatusCode::kUnavailable, "none"));
      return;
    }
    tern::cluster::AttemptOptions opt;
    opt.timeout = call->remaining();
    opt.control = call->control();
    switch (m_) {
      case Misuse::kDrop:
        return;  // `call` is released unsettled
      case Misuse::kSettleTwice: {
        auto* raw = call.release();
        raw->send(sel.invoker, opt, [raw, c = completions_](tern::cluster::AttemptResult& r) {
          std::unique_ptr<tern::cluster::ClusterCall> own(raw);
          c->fetch_add(1);
          own->finish(r);
          own->fail(tern::Status(tern::StatusCode::kInternal, "second settle"));
        });
        return;
      }
      case Misuse::kSendTwiceAsLast: {
        auto shared = std::shared_ptr<tern::cluster::ClusterCall>(std::move(call));
        auto second = std::make_shared<std::string>();
        shared->send(sel.invoker, opt, [c = completions_](tern::cluster::AttemptResult&) { c->fetch_add(1); });
        shared->send(sel.invoker, opt, [shared, second, c = completions_](tern::cluster::AttemptResult& r) {
          c->fetch_add(1);
          shared->fail(r.status());  // the outcome of the refused second send
        });
        return;
      }
    }
  }

 private:
  Misuse m_;
  std::shared_ptr<std::atomic<int>> completions_;
};

struct Fixture {
  std::shared_ptr<std::atomic<int>> completions = std::make_shared<std::atomic<int>>(0);
  std::unique_ptr<tern::Server> server = start_server();
  tern::Client client{one_io()};

  tern::Proxy<Calculator> refer(Misuse m, const std::string& name) {
    tern::cluster::register_cluster(name, [m, c = completions](const tern::cluster::ClusterOptions&) {
      return std::make_unique<Broken>(m, c);
    });
    tern::ReferenceOptions o;
    o.cluster = name;
    o.timeout = 2s;
    return client.refer<Calculator>(direct(*server), o).value();
  }
};

TEST(StrategyContract, ACallReleasedUnsettledFailsInternalInsteadOfHanging) {
  Fixture f;
  auto calc = f.refer(Misuse::kDrop, "test-drop");
  auto sync = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(sync.has_value());
  EXPECT_EQ(sync.status().code(), tern::StatusCode::kInternal);
  EXPECT_EQ(sync.status().message(), "the fault-tolerance strategy 'test-drop' released the call without settling it");
  auto fut = calc.async_call<&Calculator::add>(1, 2);
  ASSERT_TRUE(fut.wait_for(5s));
  EXPECT_EQ(fut.get().status().code(), tern::StatusCode::kInternal);
}

TEST(StrategyContract, TheFirstSettleWinsAndASecondIsIgnored) {
  Fixture f;
  auto calc = f.refer(Misuse::kSettleTwice, "test-twice");
  for (int i = 0; i < 20; ++i) {
    auto r = calc.call<&Calculator::add>(i, 1);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(*r, i + 1);
  }
  EXPECT_EQ(f.completions->load(), 20);
}

TEST(StrategyContract, ASecondLastAttemptFailsAtOnceAndSendsNothing) {
  Fixture f;
  auto calc = f.refer(Misuse::kSendTwiceAsLast, "test-send-twice");
  auto r = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), "attempt sent after the last one (cluster::AttemptOptions::last)");
  EXPECT_FALSE(r.status().may_have_executed());
}

TEST(StrategyContract, AGenericRequestShorterThanAFrameHeaderIsRefusedByTheChannel) {
  auto server = start_server();
  tern::Client client(one_io());
  auto ref = client.reference("Calculator", direct(*server), tern::ReferenceOptions{}).value();
  std::promise<tern::CallResult> got;
  ref->invoke("add", std::string("short"), 1s, [&got](tern::CallResult&& r) { got.set_value(std::move(r)); });
  auto r = got.get_future().get();
  EXPECT_EQ(r.status.code(), tern::StatusCode::kInternal);
  EXPECT_EQ(r.status.message(), "request frame of 5 bytes is shorter than a frame header");
  // The channel is still good for a real call.
  auto calc = client.refer<Calculator>(direct(*server), tern::ReferenceOptions{}).value();
  EXPECT_EQ(calc.call<&Calculator::add>(40, 2).value(), 42);
}

TEST(StrategyContract, AReferenceTimeoutOfZeroIsInvalidArgument) {
  tern::Client client(one_io());
  tern::ReferenceOptions o;
  o.timeout = 0ms;
  auto r = client.reference("Calculator", "direct://127.0.0.1:1", o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "timeout must be > 0 ms");
}

TEST(StrategyContract, AFactoryIsCheckedWithTheOptionsTheReferenceUses) {
  tern::cluster::register_cluster("test-picky", [](const tern::cluster::ClusterOptions& o) {
    return o.forks == 2 ? std::make_unique<Broken>(Misuse::kDrop, nullptr) : nullptr;
  });
  tern::Client client(one_io());
  tern::ReferenceOptions o;
  o.cluster = "test-picky";
  o.forks = 3;
  auto r = client.reference("Calculator", "direct://127.0.0.1:1", o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInternal);
}

}  // namespace
