// backoff.cc - see backoff.h for the algorithm.
#include "registry/common/backoff.h"

#include <algorithm>
#include <cmath>

namespace tern {

Backoff::Backoff(BackoffPolicy policy, std::uint64_t seed)
    : policy_(policy), base_ms_(static_cast<double>(policy.initial.count())), random_(seed) {}

Backoff::Backoff(BackoffPolicy policy) : Backoff(policy, (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {}

std::chrono::milliseconds Backoff::next() {
  const double max_ms = static_cast<double>(policy_.max.count());
  const double base = std::min(base_ms_, max_ms);
  base_ms_ = std::min(base * policy_.multiplier, max_ms);
  double delay = base;
  if (policy_.jitter > 0) {
    const double u = static_cast<double>(random_() >> 11) * 0x1.0p-53;  // [0, 1)
    delay = base * (1.0 + policy_.jitter * (2.0 * u - 1.0));
  }
  delay = std::clamp(delay, 0.0, max_ms);
  return std::chrono::milliseconds(std::llround(delay));
}

}  // namespace tern
