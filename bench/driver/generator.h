// bench/driver/generator.h - a load generator for one system under test.
//
// A generator opens `spec.conns` connections to the server on `port`, keeps
// `spec.inflight` calls outstanding on each (re-issuing from each call's
// completion), and reports every completed call's latency to the Recorder.
#pragma once

#include <memory>
#include <string>

#include "common/bench_common.h"

namespace bench {

class Generator {
 public:
  virtual ~Generator() = default;
  // Connects every connection and completes one call on each. False (with
  // error()) on failure.
  virtual bool setup() = 0;
  // Starts the load; returns at once.
  virtual void start() = 0;
  // Stops issuing and waits (bounded) for in-flight calls to end.
  virtual void stop() = 0;
  // Calls that failed (non-OK status, short echo) during the run.
  virtual std::uint64_t errors() const = 0;
  const std::string& error() const { return error_; }

 protected:
  std::string error_;
};

std::unique_ptr<Generator> make_raw_generator(const Spec& spec, int port, Recorder& rec);
std::unique_ptr<Generator> make_grpc_generator(const Spec& spec, int port, Recorder& rec);
std::unique_ptr<Generator> make_tern_generator(const Spec& spec, int port, Recorder& rec);

}  // namespace bench
