// tests/cluster/fake_invoker.h - an Invoker made of plain fields, for the
// cluster tests (load balancers, fault tolerance). Not thread-safe to mutate
// while a balancer reads it, except through stats() (atomics).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tern/cluster/invoker.h"

namespace tern::cluster::testing {

class FakeInvoker : public Invoker {
 public:
  // `id` is "host:port"; discovered a day ago unless told otherwise (so warm-up
  // is over with the default 10 min window).
  explicit FakeInvoker(std::string id, int weight = 100,
                       std::chrono::steady_clock::time_point discovered_at =
                           std::chrono::steady_clock::now() - std::chrono::hours(24))
      : id_(std::move(id)), weight_(weight), discovered_at_(discovered_at) {
    url_ = Url("tern", {HostPort{id_.substr(0, id_.rfind(':')), 0}}, "Test");
  }

  const Url& url() const override { return url_; }
  const std::string& id() const override { return id_; }
  int weight() const override { return weight_; }
  std::chrono::steady_clock::time_point discovered_at() const override { return discovered_at_; }
  InvokerStats& stats() override { return stats_; }
  bool available() const override { return available_; }

  void set_weight(int w) { weight_ = w; }
  void set_available(bool a) { available_ = a; }
  void set_discovered_at(std::chrono::steady_clock::time_point t) { discovered_at_ = t; }
  Url& mutable_url() { return url_; }

 private:
  Url url_;
  std::string id_;
  int weight_;
  std::chrono::steady_clock::time_point discovered_at_;
  InvokerStats stats_;
  bool available_ = true;
};

// Owns a set of FakeInvokers and exposes them as the span a balancer takes.
class FakeInvokerList {
 public:
  FakeInvokerList() = default;
  // Invokers "10.0.0.<i+1>:20880" with the given weights.
  explicit FakeInvokerList(const std::vector<int>& weights) {
    for (int w : weights) add("10.0.0." + std::to_string(owned_.size() + 1) + ":20880", w);
  }

  FakeInvoker& add(std::string id, int weight = 100) {
    owned_.push_back(std::make_unique<FakeInvoker>(std::move(id), weight));
    ptrs_.push_back(owned_.back().get());
    return *owned_.back();
  }
  void remove(std::size_t i) {
    owned_.erase(owned_.begin() + static_cast<std::ptrdiff_t>(i));
    ptrs_.erase(ptrs_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  FakeInvoker& operator[](std::size_t i) { return *owned_[i]; }
  std::size_t size() const { return owned_.size(); }
  std::span<Invoker* const> span() const { return ptrs_; }
  // Index of `invoker` in the list, or -1 (nullptr included).
  int index_of(const Invoker* invoker) const {
    for (std::size_t i = 0; i < ptrs_.size(); ++i) {
      if (ptrs_[i] == invoker) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  std::vector<std::unique_ptr<FakeInvoker>> owned_;
  std::vector<Invoker*> ptrs_;
};

}  // namespace tern::cluster::testing
