// The tracing filters (tern/trace/trace_filter.h). Compiled into tern_rpc
// (they need ServerContext); the rest of tracing is tern_trace, below it.
#include "tern/trace/trace_filter.h"

#include <mutex>

#include "tern/buffer_pool.h"
#include "tern/server_context.h"

namespace tern::trace {

std::string_view find_meta(std::string_view meta, std::string_view key) noexcept {
  std::size_t i = 0;
  auto u16 = [&](std::size_t at) {
    return (static_cast<std::size_t>(static_cast<unsigned char>(meta[at])) << 8) |
           static_cast<unsigned char>(meta[at + 1]);
  };
  while (meta.size() - i >= 2) {
    std::size_t klen = u16(i);
    i += 2;
    if (meta.size() - i < klen + 2) return {};
    std::string_view k = meta.substr(i, klen);
    i += klen;
    std::size_t vlen = u16(i);
    i += 2;
    if (meta.size() - i < vlen) return {};
    if (k == key) return meta.substr(i, vlen);
    i += vlen;
  }
  return {};
}

namespace {

const char* event_name(ClientCallObserver::AttemptKind kind) {
  switch (kind) {
    case ClientCallObserver::AttemptKind::kRetry: return "retry";
    case ClientCallObserver::AttemptKind::kHedge: return "hedge";
    case ClientCallObserver::AttemptKind::kFork: return "fork";
    default: return "attempt";
  }
}

// The client span of one sampled call: filled as the call runs, handed to
// the tracer at its end. on_attempt may race with a late leg of a parallel
// strategy, hence the mutex (only sampled, recorded calls pay it).
class ClientSpan final : public ClientCallObserver {
 public:
  ClientSpan(std::shared_ptr<Tracer> tracer, SpanData span) : tracer_(std::move(tracer)), span_(std::move(span)) {}

  void on_attempt(std::string_view peer, AttemptKind kind) override {
    std::lock_guard lock(mu_);
    if (ended_) return;
    span_.peer.assign(peer);
    if (kind != AttemptKind::kFirst) span_.events.push_back(SpanEvent{unix_nanos_now(), event_name(kind), std::string(peer)});
  }

  void on_end(const Status& status, std::chrono::nanoseconds latency, const CallBytes& bytes) override {
    SpanData done;
    {
      std::lock_guard lock(mu_);
      if (ended_) return;
      ended_ = true;
      span_.code = status.code();
      if (!status.is_ok()) span_.message = status.message();
      span_.request_bytes = bytes.sent;
      span_.response_bytes = bytes.received;
      span_.stream = bytes.stream;
      span_.messages_sent = bytes.messages_sent;
      span_.messages_received = bytes.messages_received;
      span_.end_unix_nano = span_.start_unix_nano + static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count()));
      done = std::move(span_);
    }
    tracer_->record(std::move(done));
  }

 private:
  std::shared_ptr<Tracer> tracer_;
  std::mutex mu_;
  SpanData span_;
  bool ended_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------
// Consumer

TraceClientFilter::TraceClientFilter(std::shared_ptr<Tracer> tracer)
    : tracer_(tracer ? std::move(tracer) : Tracer::global()) {}

Status TraceClientFilter::on_request(ClientInvocation& invocation) {
  std::optional<SpanContext> parent;
  std::string_view state;
  if (ServerContext* ctx = ServerContext::current(); ctx != nullptr && ctx->trace_context().valid()) {
    parent = ctx->trace_context();
    state = ctx->attachment(kTracestate);
  }
  TraceId trace_id = parent ? parent->trace_id : new_trace_id();
  SpanContext span{trace_id, new_span_id(), 0};
  if (should_sample(tracer_->options().sampler, parent, trace_id)) span.flags = kSampledFlag;
  // A buffer from this thread's cache: Reference gives it back there once
  // the attachment is written into the request (issue #17).
  std::string value = BufferPool::take_local(kTraceparentSize);
  value.resize(kTraceparentSize);
  format_traceparent(span, value.data());
  invocation.attachments->emplace_back(std::string(kTraceparent), std::move(value));
  if (!state.empty() && forwardable_tracestate(state)) {
    invocation.attachments->emplace_back(std::string(kTracestate), std::string(state));
  }
  return Status();
}

std::unique_ptr<ClientCallObserver> TraceClientFilter::observe(const ClientCallStart& call) {
  if (!tracer_->recording()) return nullptr;
  auto sent = parse_traceparent(find_meta(call.meta, kTraceparent));
  if (!sent || !sent->sampled()) return nullptr;
  SpanData span;
  span.context = *sent;
  span.kind = SpanKind::kClient;
  if (ServerContext* ctx = ServerContext::current();
      ctx != nullptr && ctx->trace_context().valid() && ctx->trace_context().trace_id == sent->trace_id) {
    span.parent = ctx->trace_context().span_id;
  }
  span.trace_state = std::string(find_meta(call.meta, kTracestate));
  span.service = std::string(call.service);
  span.method = std::string(call.method);
  span.start_unix_nano = unix_nanos_now();
  return std::make_unique<ClientSpan>(tracer_, std::move(span));
}

// ---------------------------------------------------------------------------
// Provider

TraceServerFilter::TraceServerFilter(std::shared_ptr<Tracer> tracer)
    : tracer_(tracer ? std::move(tracer) : Tracer::global()) {}

Status TraceServerFilter::on_request(ServerContext& context) {
  auto incoming = parse_traceparent(context.attachment(kTraceparent));
  TraceId trace_id = incoming ? incoming->trace_id : new_trace_id();
  SpanContext span{trace_id, new_span_id(), 0};
  if (should_sample(tracer_->options().sampler, incoming, trace_id)) span.flags = kSampledFlag;
  context.set_trace_context(span, incoming ? incoming->span_id : SpanId{});
  return Status();
}

void TraceServerFilter::on_response(ServerContext& context, const Status& status, std::chrono::nanoseconds latency) {
  const SpanContext& sc = context.trace_context();
  if (!tracer_->recording() || !sc.valid() || !sc.sampled()) return;
  SpanData span;
  span.context = sc;
  span.parent = context.trace_parent();
  span.kind = SpanKind::kServer;
  if (parse_traceparent(context.attachment(kTraceparent))) {
    std::string_view state = context.attachment(kTracestate);
    if (forwardable_tracestate(state)) span.trace_state = std::string(state);
  }
  span.service = std::string(context.service());
  span.method = std::string(context.method());
  span.peer = context.peer();
  span.stream = context.stream();
  span.end_unix_nano = unix_nanos_now();
  auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count()));
  span.start_unix_nano = span.end_unix_nano > ns ? span.end_unix_nano - ns : 0;
  span.code = status.code();
  if (!status.is_ok()) span.message = status.message();
  span.request_bytes = context.request_bytes();
  span.response_bytes = context.response_bytes();
  span.messages_received = context.messages_received();
  span.messages_sent = context.messages_sent();
  tracer_->record(std::move(span));
}

// ---------------------------------------------------------------------------

void install_tracing(std::vector<std::shared_ptr<ClientFilter>>& filters, std::shared_ptr<Tracer> tracer) {
  for (const auto& f : filters) {
    if (dynamic_cast<TraceClientFilter*>(f.get()) != nullptr) return;
  }
  filters.insert(filters.begin(), std::make_shared<TraceClientFilter>(std::move(tracer)));
}

void install_tracing(std::vector<std::shared_ptr<ServerFilter>>& filters, std::shared_ptr<Tracer> tracer) {
  for (const auto& f : filters) {
    if (dynamic_cast<TraceServerFilter*>(f.get()) != nullptr) return;
  }
  filters.insert(filters.begin(), std::make_shared<TraceServerFilter>(std::move(tracer)));
}

}  // namespace tern::trace
