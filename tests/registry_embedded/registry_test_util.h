// Helpers shared by the embedded-registry tests: a listener that records
// every push, a provider whose calls can be counted, and child processes
// that inherit no descriptor (the `tern` CLI, tern_test_provider).
// Header-only; nothing here sleeps for a fixed time except between polls
// (testutil::wait_until, wait_until.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "subprocess.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/provider.h"
#include "tern/registry.h"
#include "tern/url.h"

namespace regtest {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline std::chrono::milliseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

inline std::vector<std::string> to_strings(const std::vector<tern::Url>& urls) {
  std::vector<std::string> out;
  for (const auto& u : urls) out.push_back(u.to_string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Records every push a Registry delivers (sorted URL strings, with the time).
class PushLog {
 public:
  struct Push {
    std::vector<std::string> urls;
    Clock::time_point at;
  };

  tern::RegistryListener listener() {
    return [this](const std::string&, const std::vector<tern::Url>& urls) {
      // Notified under the lock: a waiter that sees the push may destroy
      // this object as soon as it returns, so nothing here touches it after.
      std::lock_guard lock(mu_);
      pushes_.push_back(Push{to_strings(urls), Clock::now()});
      cv_.notify_all();
    };
  }

  // Waits until the latest push equals `expected` (sorted); returns the time
  // that push arrived, or nullopt-like Clock::time_point{} on timeout.
  Clock::time_point wait_for(std::vector<std::string> expected, std::chrono::milliseconds timeout) {
    expected = sorted(std::move(expected));
    std::unique_lock lock(mu_);
    bool ok = cv_.wait_for(lock, timeout, [&] { return !pushes_.empty() && pushes_.back().urls == expected; });
    return ok ? pushes_.back().at : Clock::time_point{};
  }

  // Waits until any push from the `from`-th on (0-based, see count())
  // equals `expected`, also when a later push already replaced it; returns
  // the time it arrived, or Clock::time_point{} on timeout.
  Clock::time_point wait_for_since(std::size_t from, std::vector<std::string> expected,
                                   std::chrono::milliseconds timeout) {
    expected = sorted(std::move(expected));
    std::unique_lock lock(mu_);
    Clock::time_point at{};
    cv_.wait_for(lock, timeout, [&] {
      for (std::size_t i = from; i < pushes_.size(); ++i) {
        if (pushes_[i].urls == expected) {
          at = pushes_[i].at;
          return true;
        }
      }
      return false;
    });
    return at;
  }

  std::size_t count() const {
    std::lock_guard lock(mu_);
    return pushes_.size();
  }

  std::vector<Push> pushes() const {
    std::lock_guard lock(mu_);
    return pushes_;
  }

  std::vector<std::string> latest() const {
    std::lock_guard lock(mu_);
    return pushes_.empty() ? std::vector<std::string>{} : pushes_.back().urls;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Push> pushes_;
};

// Option builders (designated initializers would trip -Wmissing-field-initializers).
inline tern::ServiceOptions service_options(std::string version, std::string group = {}, int weight = 100) {
  tern::ServiceOptions o;
  o.version = std::move(version);
  o.group = std::move(group);
  o.weight = weight;
  return o;
}
inline tern::ServiceOptions weight(int w) { return service_options({}, {}, w); }

// A Calculator that counts the add() calls it served.
class CountingCalculator : public testsvc::CalculatorImpl {
 public:
  int add(int a, int b) override {
    adds.fetch_add(1);
    return a + b;
  }
  std::atomic<int> adds{0};
};

// An in-process provider of testsvc::Calculator announced in `registry`.
struct InProcessProvider {
  InProcessProvider(const std::string& registry, tern::ServiceOptions so = {},
                    std::chrono::milliseconds heartbeat = 300ms) {
    tern::ProviderOptions po;
    po.server.listen = "127.0.0.1:0";
    po.server.io_threads = 1;
    po.server.worker_threads = 2;
    po.registry = registry;
    po.registry_options.heartbeat_interval = heartbeat;
    po.registry_options.initial_backoff = 50ms;
    po.registry_options.max_backoff = 500ms;
    provider = std::make_unique<tern::Provider>(po);
    impl = std::make_shared<CountingCalculator>();
    status = provider->expose<testsvc::Calculator>(impl, std::move(so));
    if (status.is_ok()) status = provider->start();
  }
  // The registered URL (one service).
  std::string url() const { return provider->urls().empty() ? std::string() : provider->urls().front().to_string(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(provider->port()); }

  std::unique_ptr<tern::Provider> provider;
  std::shared_ptr<CountingCalculator> impl;
  tern::Status status;
};

// A child process with stdin/stdout pipes that inherits no other
// descriptor; SIGKILLed and reaped on destruction.
class Child : public testutil::Subprocess {
 public:
  explicit Child(std::vector<std::string> argv) : Subprocess(std::move(argv), testutil::Inherit::kNothing) {}
};

using testutil::CommandResult;
using testutil::run_command;

inline std::string binary(const std::string& name) { return std::string(TERN_BINARY_DIR) + "/bin/" + name; }

}  // namespace regtest
