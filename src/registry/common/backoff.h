// backoff.h - the delay between reconnect attempts of the registry backends
// (one algorithm for all of them; ReconnectLoop owns one).
//
// Algorithm (gRPC's connection backoff, doc/connection-backoff.md, with the
// cap applied after the jitter):
//   base_0     = initial
//   base_{n+1} = min(base_n * multiplier, max)
//   delay_n    = min(max, base_n * (1 + jitter * (2u - 1)))   u uniform in [0, 1)
// rounded to whole milliseconds. reset() starts again at base_0. The cap
// after the jitter keeps `max` a hard bound (the embedded registry's
// empty-list hold period relies on providers retrying within max_backoff).
//
// u comes from std::mt19937_64 (whose output the standard fixes) as
// (x >> 11) * 2^-53, not from a std:: distribution (whose algorithm is
// implementation-defined), so a seed gives the same delays everywhere.
//
// Thread safety: none; one owner (ReconnectLoop guards it with its mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace tern {

struct BackoffPolicy {
  // First delay; default 100 ms (RegistryOptions::initial_backoff). Must be > 0.
  std::chrono::milliseconds initial{100};
  // Upper bound of every delay; default 5 s (RegistryOptions::max_backoff). >= initial.
  std::chrono::milliseconds max{5000};
  // Growth per failed attempt; default 2 (the doubling the registries always
  // used; gRPC uses 1.6). >= 1.
  double multiplier = 2.0;
  // Relative spread, so that many clients of one restarted registry do not
  // reconnect in lockstep; default 0.2 (gRPC's). In [0, 1).
  double jitter = 0.2;
};

class Backoff {
 public:
  // `seed` fixes the jitter sequence (tests); the other constructor seeds
  // from std::random_device.
  Backoff(BackoffPolicy policy, std::uint64_t seed);
  explicit Backoff(BackoffPolicy policy);

  // The delay before the next attempt; advances the sequence.
  std::chrono::milliseconds next();
  // After a success: the next delay is based on `initial` again.
  void reset() { base_ms_ = static_cast<double>(policy_.initial.count()); }

  const BackoffPolicy& policy() const noexcept { return policy_; }

 private:
  BackoffPolicy policy_;
  double base_ms_;
  std::mt19937_64 random_;
};

}  // namespace tern
