// bench/common/echo_service.h - the echo contract shared by the Tern benchmark
// server, load generator and micro benchmarks.
#pragma once

#include <string>

#include "tern/service.h"

// Global namespace so the wire name is plain "Echo".
struct Echo {
  virtual ~Echo() = default;
  virtual std::string echo(std::string payload) = 0;
};
TERN_SERVICE(Echo, echo)

namespace bench {
struct EchoImpl : Echo {
  std::string echo(std::string payload) override { return payload; }
};
}  // namespace bench
