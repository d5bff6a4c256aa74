// bench/common/echo_service.h - the echo contract shared by the Tern benchmark
// server, load generator and micro benchmarks.
#pragma once

#include <string>
#include <string_view>

#include "tern/service.h"

// Global namespace so the wire name is plain "Echo".
// The provider borrows the request and answers from it (tern/service.h,
// "Borrowing"): one copy of the payload on the provider, as coro_rpc's own
// echo does with string_view. Consumers get a std::string.
struct Echo {
  virtual ~Echo() = default;
  virtual std::string_view echo(std::string_view payload) = 0;
};
TERN_SERVICE(Echo, echo)

namespace bench {
struct EchoImpl : Echo {
  std::string_view echo(std::string_view payload) override { return payload; }
};
}  // namespace bench
