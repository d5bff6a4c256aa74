// Test contracts shared by the end-to-end tests and the test provider process.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tern/reflect.h"
#include "tern/service.h"

namespace testsvc {

struct Point {
  double x = 0;
  double y = 0;
  std::string label;
  std::vector<int> tags;
  std::optional<int> z;
};

struct Calculator {
  virtual ~Calculator() = default;
  virtual int add(int a, int b) = 0;
  virtual std::string greet(std::string name) = 0;
  virtual Point midpoint(Point a, Point b) = 0;
  virtual int fail(std::string message) = 0;                // throws std::runtime_error(message)
  virtual std::string sleep_ms(int ms) = 0;                 // sleeps, returns "slept N"
  virtual void count(int n) = 0;                            // oneway target: adds n
  virtual long long total() = 0;                            // what count() accumulated
  virtual std::map<std::string, int> histogram(std::vector<std::string> words) = 0;
};

class CalculatorImpl : public Calculator {
 public:
  int add(int a, int b) override { return a + b; }
  std::string greet(std::string name) override { return "hello, " + name; }
  Point midpoint(Point a, Point b) override {
    Point p{(a.x + b.x) / 2, (a.y + b.y) / 2, a.label + "|" + b.label, a.tags, std::nullopt};
    p.tags.insert(p.tags.end(), b.tags.begin(), b.tags.end());
    if (a.z && b.z) p.z = (*a.z + *b.z) / 2;
    return p;
  }
  int fail(std::string message) override { throw std::runtime_error(message); }
  std::string sleep_ms(int ms) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return "slept " + std::to_string(ms);
  }
  void count(int n) override { total_.fetch_add(n); }
  long long total() override { return total_.load(); }
  std::map<std::string, int> histogram(std::vector<std::string> words) override {
    std::map<std::string, int> h;
    for (auto& w : words) ++h[w];
    return h;
  }

  std::atomic<long long> total_{0};
};

// A CalculatorImpl whose sleep_ms counts the calls that reached it
// (`started`) before it sleeps: a test waits for a call to be in its handler
// instead of sleeping for a guessed time.
class AnnouncingCalculator : public CalculatorImpl {
 public:
  std::string sleep_ms(int ms) override {
    started.fetch_add(1);
    return CalculatorImpl::sleep_ms(ms);
  }

  std::atomic<int> started{0};
};

}  // namespace testsvc

TERN_STRUCT(testsvc::Point, x, y, label, tags, z)
TERN_SERVICE(testsvc::Calculator, add, greet, midpoint, fail, sleep_ms, count, total, histogram)
