// tern/trace/span.h - one finished span as Tern records it: the call's
// typed facts (ids, method, peer, status, sizes, events). The OTLP
// attributes (tern/trace/otlp.h) and the /rpcz rows (tern/trace/rpcz.h) are
// derived from these fields when they are exported or shown, not on the call
// path.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tern/status.h"
#include "tern/trace/context.h"

namespace tern::trace {

// OTLP's SpanKind numbers.
enum class SpanKind : int { kServer = 2, kClient = 3 };

// Something that happened during the span (a retry, a hedged backup request).
struct SpanEvent {
  std::uint64_t time_unix_nano = 0;
  std::string name;  // "retry", "hedge"
  std::string peer;  // the provider the new attempt went to ("ip:port"), or ""
};

struct SpanData {
  SpanContext context;   // this span's trace id, span id, flags
  SpanId parent;         // invalid (zero) for a root span
  std::string trace_state;  // the tracestate the call carried ("" when none)
  SpanKind kind = SpanKind::kClient;
  std::string service;   // "Calculator"
  std::string method;    // "add"
  std::string peer;      // client: the provider "ip:port" (last attempt); server: the consumer "ip:port"
  bool grpc = false;     // the call came over (server) the gRPC wire; Tern's protocol otherwise
  bool stream = false;   // a stream (tern/stream.h), not a unary call
  std::uint64_t start_unix_nano = 0;  // wall clock, ns since the Unix epoch
  std::uint64_t end_unix_nano = 0;
  StatusCode code = StatusCode::kOk;
  std::string message;   // the status message when not OK
  std::uint64_t request_bytes = 0;   // whole frames, bytes (streams: message bytes sent by the consumer)
  std::uint64_t response_bytes = 0;  // bytes (streams: message bytes sent by the provider)
  std::uint64_t messages_sent = 0;   // streams only, from this side
  std::uint64_t messages_received = 0;
  std::vector<SpanEvent> events;

  // OTLP span name per the RPC semantic conventions: "service/method".
  std::string name() const { return service + "/" + method; }
  std::uint64_t duration_nanos() const noexcept {
    return end_unix_nano > start_unix_nano ? end_unix_nano - start_unix_nano : 0;
  }
};

// Wall clock now in ns since the Unix epoch.
std::uint64_t unix_nanos_now() noexcept;

}  // namespace tern::trace
