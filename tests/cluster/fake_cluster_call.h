// tests/cluster/fake_cluster_call.h - a ClusterCall without channels, for the
// fault-tolerance strategy tests (tests/cluster/*_cluster_test.cc).
//
// A FakeWorld is the provider list, the clock, the attempts sent and the
// call's outcome; FakeWorld::make_call() makes the ClusterCall a strategy
// owns. select() is a deterministic "first available, untried, weight > 0"
// balancer in list order. send() records the attempt and either answers at
// once (answers set with answer_with()) or leaves it pending until the test
// calls reply(i, ...). Cancelling an attempt's control completes it at once
// with CANCELLED, as the channel does. schedule() keeps the function until
// fire_timer(). Single-threaded: the test drives everything.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fake_invoker.h"
#include "tern/cluster/cluster.h"

namespace tern::cluster::testing {

// Status helpers: the errors the retry rule tells apart.
inline Status connect_failed() { return Status(StatusCode::kUnavailable, "connect refused"); }
inline Status connection_lost() { return Status(StatusCode::kUnavailable, "connection lost", /*may_have_executed=*/true); }
inline Status overloaded() { return Status(StatusCode::kResourceExhausted, "pool full"); }
inline Status remote_error() { return Status(StatusCode::kInternal, "handler threw"); }

class FakeWorld {
 public:
  struct Attempt {
    std::string invoker;  // id
    AttemptKind kind;
    std::chrono::milliseconds timeout;
    bool last;
    std::shared_ptr<CallControl> control;
    bool done = false;
    bool cancelled = false;  // completed CANCELLED through its control
  };
  enum class Ending { kNone, kFinish, kFail, kEmpty };
  struct Outcome {
    Ending ending = Ending::kNone;
    Status status;         // kEmpty: the real one
    std::string answer;    // kFinish: the id of the invoker that answered
    int settled = 0;       // how many times the call was settled (must be 1)
  };

  // Invokers "p1:1", "p2:1", ... (n of them), weight 100.
  explicit FakeWorld(int n = 3) {
    for (int i = 1; i <= n; ++i) add("p" + std::to_string(i) + ":1");
  }
  FakeInvoker& add(std::string id, int weight = 100) {
    invokers_.push_back(std::make_shared<FakeInvoker>(std::move(id), weight));
    return *invokers_.back();
  }
  void clear() { invokers_.clear(); }
  std::vector<std::shared_ptr<FakeInvoker>>& invokers() { return invokers_; }

  // Call settings.
  int retries = 2;
  bool idempotent = false;
  std::chrono::milliseconds timeout{1000};
  std::shared_ptr<CallControl> control;  // the caller's (null = none)
  Status route_error;                    // not OK: select() fails the call with it
  std::chrono::milliseconds now{0};      // the fake clock; the call's deadline is timeout after 0

  // Answers given at once by send(), per invoker id (absent: pending).
  void answer_with(const std::string& id, Status s) { answers_[id] = std::move(s); }

  std::unique_ptr<ClusterCall> make_call();

  // Completes pending attempt `i` with `s`.
  void reply(std::size_t i, Status s);
  void fire_timer() {
    auto fn = std::move(timer_);
    timer_ = nullptr;
    if (fn) fn();
  }
  bool timer_armed() const { return static_cast<bool>(timer_); }
  std::chrono::milliseconds timer_delay() const { return timer_delay_; }

  std::vector<Attempt>& attempts() { return attempts_; }
  std::vector<std::string> tried() const {
    std::vector<std::string> out;
    for (auto& a : attempts_) out.push_back(a.invoker);
    return out;
  }
  std::vector<AttemptKind> kinds() const {
    std::vector<AttemptKind> out;
    for (auto& a : attempts_) out.push_back(a.kind);
    return out;
  }
  const Outcome& outcome() const { return outcome_; }
  static Status no_provider() { return Status(StatusCode::kUnavailable, "no provider for service 'Test'"); }

 private:
  friend class FakeCall;
  class Result final : public AttemptResult {
   public:
    Result(Status s, Invoker& invoker) : status_(std::move(s)), invoker_(invoker) {}
    const Status& status() const override { return status_; }
    Invoker& invoker() const override { return invoker_; }

   private:
    Status status_;
    Invoker& invoker_;
  };

  void complete(std::size_t i, Status s, bool cancelled) {
    if (attempts_[i].done) return;
    attempts_[i].done = true;
    attempts_[i].cancelled = cancelled;
    auto done = std::move(pending_[i]);
    std::shared_ptr<FakeInvoker> invoker;
    for (auto& p : invokers_) {
      if (p->id() == attempts_[i].invoker) invoker = p;
    }
    if (!invoker) invoker = std::make_shared<FakeInvoker>(attempts_[i].invoker);  // removed meanwhile
    Result r(std::move(s), *invoker);
    done(r);
  }

  std::vector<std::shared_ptr<FakeInvoker>> invokers_;
  std::map<std::string, Status> answers_;
  std::vector<Attempt> attempts_;
  std::vector<AttemptDone> pending_;  // by attempt index
  detail::UniqueFunction<void()> timer_;
  std::chrono::milliseconds timer_delay_{0};
  Outcome outcome_;
};

class FakeCall final : public ClusterCall {
 public:
  explicit FakeCall(FakeWorld& w) : w_(w), deadline_(w.timeout) {}

  std::string_view service() const override { return "Test"; }
  std::string_view method() const override { return "get"; }
  bool idempotent() const override { return w_.idempotent; }
  int retries() const override { return w_.retries; }
  std::chrono::milliseconds remaining() const override { return deadline_ - w_.now; }
  const std::shared_ptr<CallControl>& control() const override { return w_.control; }

  Selection select(const std::vector<std::string>& exclude) override {
    Selection out;
    if (w_.invokers_.empty()) {
      out.status = FakeWorld::no_provider();
      out.empty_directory = true;
      return out;
    }
    if (!w_.route_error.is_ok()) {
      out.status = w_.route_error;
      return out;
    }
    std::shared_ptr<FakeInvoker> fallback;
    for (auto& p : w_.invokers_) {
      if (p->weight() <= 0) continue;
      bool excluded = false;
      for (auto& e : exclude) excluded = excluded || e == p->id();
      if (excluded) continue;
      if (p->available()) {
        out.invoker = p;
        return out;
      }
      if (!fallback) fallback = p;
    }
    out.invoker = fallback;
    return out;
  }

  Status select_all(std::vector<std::shared_ptr<Invoker>>& out) override {
    if (w_.invokers_.empty()) return FakeWorld::no_provider();
    if (!w_.route_error.is_ok()) return w_.route_error;
    out.assign(w_.invokers_.begin(), w_.invokers_.end());
    return Status();
  }

  void send(std::shared_ptr<Invoker> invoker, AttemptOptions options, AttemptDone done) override {
    std::size_t i = w_.attempts_.size();
    w_.attempts_.push_back({invoker->id(), options.kind, options.timeout, options.last, options.control});
    w_.pending_.push_back(std::move(done));
    if (options.control) {
      FakeWorld* w = &w_;
      options.control->set_hook([w, i] {
        w->complete(i, Status(StatusCode::kCancelled, "cancelled"), /*cancelled=*/true);
        return true;
      });
    }
    auto it = w_.answers_.find(invoker->id());
    if (it != w_.answers_.end()) w_.complete(i, it->second, false);
  }

  void schedule(std::chrono::milliseconds delay, detail::UniqueFunction<void()> fn) override {
    w_.timer_delay_ = delay;
    w_.timer_ = std::move(fn);
  }

  void finish(AttemptResult& result) override {
    settle(FakeWorld::Ending::kFinish, result.status());
    w_.outcome_.answer = result.invoker().id();
  }
  void fail(Status status) override { settle(FakeWorld::Ending::kFail, status); }
  void finish_empty(const Status& real, AttemptResult* result) override {
    settle(FakeWorld::Ending::kEmpty, real);
    if (result) w_.outcome_.answer = result->invoker().id();
  }

 private:
  void settle(FakeWorld::Ending e, const Status& s) {
    if (w_.control) w_.control->clear_hook();
    ++w_.outcome_.settled;
    w_.outcome_.ending = e;
    w_.outcome_.status = s;
  }

  FakeWorld& w_;
  std::chrono::milliseconds deadline_;
};

inline std::unique_ptr<ClusterCall> FakeWorld::make_call() { return std::make_unique<FakeCall>(*this); }

inline void FakeWorld::reply(std::size_t i, Status s) { complete(i, std::move(s), false); }

}  // namespace tern::cluster::testing
