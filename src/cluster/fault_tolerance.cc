// Fault-tolerance strategy names and the shared retry rule. See
// tern/cluster/fault_tolerance.h.
#include "tern/cluster/fault_tolerance.h"

#include <array>
#include <string>
#include <utility>

namespace tern::cluster {

namespace {
constexpr std::array<std::pair<std::string_view, FaultTolerance>, 5> kNames{{
    {"failover", FaultTolerance::kFailover},
    {"failfast", FaultTolerance::kFailfast},
    {"failsafe", FaultTolerance::kFailsafe},
    {"forking", FaultTolerance::kForking},
    {"broadcast", FaultTolerance::kBroadcast},
}};
}  // namespace

Result<FaultTolerance> parse_fault_tolerance(std::string_view name) {
  for (auto& [n, ft] : kNames) {
    if (n == name) return ft;
  }
  return Status(StatusCode::kInvalidArgument, "unknown cluster strategy '" + std::string(name) +
                                                  "' (failover, failfast, failsafe, forking, broadcast)");
}

std::string_view fault_tolerance_name(FaultTolerance ft) noexcept {
  for (auto& [n, f] : kNames) {
    if (f == ft) return n;
  }
  return "?";
}

bool is_connection_failure(const Status& s) noexcept {
  return s.code() == StatusCode::kUnavailable && !s.may_have_executed();
}

bool should_retry(const Status& s, bool idempotent) noexcept {
  switch (s.code()) {
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      return idempotent || !s.may_have_executed();
    default:
      return false;
  }
}

}  // namespace tern::cluster
