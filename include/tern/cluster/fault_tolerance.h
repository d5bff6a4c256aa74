// tern/cluster/fault_tolerance.h - the fault-tolerance strategies a reference
// applies around its load balancer (DESIGN §7), and the one retry rule they share.
//
// Chosen per reference with ReferenceOptions::cluster:
//   failover   (default) on an error that is safe to retry, try a provider not
//              tried yet, up to `retries` more times; with `backup_request`
//              set, idempotent methods also get a hedged second attempt
//   failfast   one attempt, the error as it is
//   failsafe   one attempt; an error is logged and the call completes OK with
//              an empty body (the typed front end decodes it as R{})
//   forking    `forks` providers in parallel, the first success wins, the
//              others are cancelled
//   broadcast  every provider; fails if any fails, else the last success
//
// The strategies themselves are tern/cluster/cluster.h's extension point, one
// file pair each in src/cluster/ft/ (registered by name; create_cluster()
// accepts the names below and any an application registers). This header is
// the shared vocabulary: the built-in names and the retry decision.
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include "tern/result.h"
#include "tern/status.h"

namespace tern::cluster {

enum class FaultTolerance { kFailover, kFailfast, kFailsafe, kForking, kBroadcast };

// "failover", "failfast", "failsafe", "forking", "broadcast" -> the strategy;
// INVALID_ARGUMENT naming the known ones for anything else (the same message
// create_cluster() gives while no other strategy is registered).
Result<FaultTolerance> parse_fault_tolerance(std::string_view name);

std::string_view fault_tolerance_name(FaultTolerance ft) noexcept;

// True for a failed attempt that says nothing about the request having run:
// UNAVAILABLE with may_have_executed() false (could not connect, provider
// shutting down). Outlier ejection counts these.
bool is_connection_failure(const Status& s) noexcept;

// May a failed attempt be retried on another provider? Always for errors the
// request cannot have executed under (RESOURCE_EXHAUSTED, UNAVAILABLE with
// may_have_executed() false); for an `idempotent` method also UNAVAILABLE
// that may have executed (connection lost mid-call). Never for
// DEADLINE_EXCEEDED (the budget is spent), CANCELLED or remote errors.
bool should_retry(const Status& s, bool idempotent) noexcept;

}  // namespace tern::cluster
