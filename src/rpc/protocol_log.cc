// Rate-limited protocol-error log; see protocol_log.h.
#include "rpc/protocol_log.h"

#include <atomic>
#include <chrono>
#include <mutex>

#include "tern/log.h"

namespace tern::rpc {
namespace {
std::mutex g_mu;
double g_tokens = kProtocolLogBurst;
std::chrono::steady_clock::time_point g_last{};
std::uint64_t g_pending_suppressed = 0;  // since the last written line (guarded by g_mu)
std::atomic<std::uint64_t> g_suppressed{0};
}  // namespace

bool log_protocol_error(std::string_view what) {
  if (LogLevel::kWarn < log_level()) return false;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(g_mu);
    auto now = std::chrono::steady_clock::now();
    if (g_last != std::chrono::steady_clock::time_point{}) {
      double refill = std::chrono::duration<double>(now - g_last).count() * kProtocolLogPerSecond;
      g_tokens = std::min<double>(kProtocolLogBurst, g_tokens + refill);
    }
    g_last = now;
    if (g_tokens < 1) {
      ++g_pending_suppressed;
      g_suppressed.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    g_tokens -= 1;
    dropped = g_pending_suppressed;
    g_pending_suppressed = 0;
  }
  if (dropped > 0) {
    TERN_LOG(kWarn, "{} ({} protocol-error lines suppressed before this one)", what, dropped);
  } else {
    TERN_LOG(kWarn, "{}", what);
  }
  return true;
}

std::uint64_t protocol_errors_suppressed() noexcept { return g_suppressed.load(std::memory_order_relaxed); }

}  // namespace tern::rpc
