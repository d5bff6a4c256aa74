// tern/trace/trace_filter.h - distributed tracing as a consumer filter and a
// provider filter (tern/filter.h), installed first in every Client's and
// Server's chain unless ClientOptions::tracing / ServerOptions::tracing is
// false. See docs/tracing.md.
//
// Provider side, before the handler: reads `traceparent` (and `tracestate`)
// from the request's attachments (gRPC: the same-named headers); a valid one
// makes this call's server span its child, an absent or invalid one starts a
// new trace (W3C Trace Context). The span's context is kept in the call's
// ServerContext (trace_context()), so the calls the handler makes - on its
// thread, or from a coroutine handler with co_call, which carries the
// context across co_await - become the server span's children.
// After the response: records the server span when sampled and the tracer is
// recording.
//
// Consumer side, when a call is encoded: sends `traceparent` for a new client
// span (child of the current server span, or a new trace) and forwards the
// incoming `tracestate`; a `traceparent` the caller put in CallOptions is
// replaced. observe() then records the client span: attempts, retries and
// hedges (as events), status and sizes.
//
// Cost when nothing is recorded (no OTLP endpoint and no rpcz, or not
// sampled): two random ids and one attachment per call; no per-call state.
// Thread safety: the filters are shared by all calls and are thread-safe.
// Lifetime: each filter keeps its Tracer alive.
#pragma once

#include <memory>
#include <vector>

#include "tern/filter.h"
#include "tern/trace/tracer.h"

namespace tern::trace {

class TraceClientFilter final : public ClientFilter {
 public:
  // `tracer` null: Tracer::global() now.
  explicit TraceClientFilter(std::shared_ptr<Tracer> tracer = nullptr);
  Status on_request(ClientInvocation& invocation) override;
  std::unique_ptr<ClientCallObserver> observe(const ClientCallStart& call) override;
  const std::shared_ptr<Tracer>& tracer() const noexcept { return tracer_; }

 private:
  std::shared_ptr<Tracer> tracer_;
};

class TraceServerFilter final : public ServerFilter {
 public:
  // `tracer` null: Tracer::global() now.
  explicit TraceServerFilter(std::shared_ptr<Tracer> tracer = nullptr);
  Status on_request(ServerContext& context) override;
  void on_response(ServerContext& context, const Status& status, std::chrono::nanoseconds latency) override;
  const std::shared_ptr<Tracer>& tracer() const noexcept { return tracer_; }

 private:
  std::shared_ptr<Tracer> tracer_;
};

// Puts a TraceClientFilter (TraceServerFilter) first in `filters` unless one
// is there already. Used by Client and Server when their options' `tracing`
// is true (the default).
void install_tracing(std::vector<std::shared_ptr<ClientFilter>>& filters, std::shared_ptr<Tracer> tracer);
void install_tracing(std::vector<std::shared_ptr<ServerFilter>>& filters, std::shared_ptr<Tracer> tracer);

// The value of attachment `key` in request metadata in wire form (u16 key
// length, key, u16 value length, value, ...); "" when absent or malformed.
std::string_view find_meta(std::string_view meta, std::string_view key) noexcept;

}  // namespace tern::trace
