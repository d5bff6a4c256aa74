// The quickstart's contract: a plain C++ interface, made an RPC service by
// one macro. Provider and consumer both include this header.
#pragma once

#include <string>
#include <vector>

#include "tern/reflect.h"
#include "tern/service.h"

namespace quickstart {

struct Point {
  double x = 0;
  double y = 0;
};

struct Calculator {
  virtual ~Calculator() = default;
  virtual int add(int a, int b) = 0;
  // "hello, <name> (from <provider name>)": shows which provider answered.
  virtual std::string greet(std::string name) = 0;
  virtual Point midpoint(Point a, Point b) = 0;
  // Throws std::domain_error on b == 0: the consumer gets INTERNAL with the message.
  virtual int divide(int a, int b) = 0;
  // Sleeps `ms` milliseconds (to show a timeout).
  virtual std::string slow(int ms) = 0;
  // Oneway target: the provider prints the line.
  virtual void log(std::string line) = 0;
};

}  // namespace quickstart

TERN_STRUCT(quickstart::Point, x, y)
TERN_SERVICE_NAMED(quickstart::Calculator, "Calculator", add, greet, midpoint, divide, slow, log)
