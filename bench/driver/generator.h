// bench/driver/generator.h - a load generator for one system under test.
//
// A generator opens `spec.conns` connections to the server on `port`, keeps
// `spec.inflight` calls outstanding on each (re-issuing from each call's
// completion), and reports every completed call's latency to the Recorder.
// A stream generator (Kind::kStream) opens one server stream instead and
// reports every message it receives (latency 0: a stream has no per-message
// round trip).
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
// A Tern consumer calling the gRPC C++ echo server over grpc:// (tern_grpc_client.cc).
std::unique_ptr<Generator> make_tern_grpc_generator(const Spec& spec, int port, Recorder& rec);
// One server stream each (stream_clients.cc): length-prefixed raw TCP, gRPC
// C++ server-streaming rpc, Tern stream method.
std::unique_ptr<Generator> make_raw_stream_generator(const Spec& spec, int port, Recorder& rec);
std::unique_ptr<Generator> make_grpc_stream_generator(const Spec& spec, int port, Recorder& rec);
std::unique_ptr<Generator> make_tern_stream_generator(const Spec& spec, int port, Recorder& rec);

}  // namespace bench
