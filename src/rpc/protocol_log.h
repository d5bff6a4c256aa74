// src/rpc/protocol_log.h - logging of protocol errors under attack (internal).
//
// A peer that sends garbage as fast as it can must not make the process
// write log lines as fast: each connection logs its protocol error once
// (Session does that), and every protocol-error line of the process goes
// through one token bucket here, kBurst lines at once and kPerSecond lines
// per second after that. Lines over the budget are counted, and the next
// line that is written says how many were suppressed (docs/reliability.md).
//
// Thread safety: log_protocol_error() may be called from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace tern::rpc {

// Writes one warn line "<what>" through the process-wide budget. Returns
// true when the line was written, false when it was suppressed.
bool log_protocol_error(std::string_view what);

// Lines suppressed by the budget since the process started (tests, metrics).
std::uint64_t protocol_errors_suppressed() noexcept;

inline constexpr int kProtocolLogBurst = 20;
inline constexpr int kProtocolLogPerSecond = 10;

}  // namespace tern::rpc
