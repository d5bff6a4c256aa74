// tern/trace/sampler.h - which traces are recorded. A pure function of the
// options, the incoming parent (if any) and the trace id, so a decision is
// reproducible: the same trace id gets the same answer in every process
// with the same ratio, and a trace is either kept whole or dropped whole.
//
// The decision becomes the sampled flag of the traceparent a call sends
// on; whether spans are then recorded also needs somewhere to put them
// (an OTLP endpoint or /rpcz: tern/trace/tracer.h).
//
// Thread safety: plain values and a pure function.
#pragma once

#include <optional>
#include <string_view>

#include "tern/result.h"
#include "tern/trace/context.h"

namespace tern::trace {

enum class SamplerKind {
  kAlways,  // every root trace is sampled
  kNever,   // no root trace is sampled
  kRatio,   // a fraction of root traces, chosen by trace id
};

struct SamplerOptions {
  // How a trace that starts here (no valid incoming traceparent) is
  // decided. Default kAlways (OpenTelemetry's default, ParentBased(AlwaysOn)).
  SamplerKind kind = SamplerKind::kAlways;
  // kRatio: the fraction sampled, 0.0 to 1.0. Default 1.0. Values outside
  // [0, 1] are clamped.
  double ratio = 1.0;
  // True (default): a call with a valid incoming traceparent follows its
  // sampled flag (parent-based), so a trace is kept whole across services.
  // False: every span is decided by `kind` and `ratio` as if it had no parent
  // (the trace id still decides, so a ratio sampler still agrees with itself).
  bool parent_based = true;
};

// The decision for a span of trace `trace_id` whose remote or local parent is
// `parent` (nullopt for a root span). kRatio samples when the low 56 bits of
// the trace id (the random part W3C Trace Context level 2 asks for) are below
// ratio * 2^56: deterministic per trace id.
bool should_sample(const SamplerOptions& options, const std::optional<SpanContext>& parent,
                   const TraceId& trace_id) noexcept;

// "always", "never", "ratio" -> the kind; INVALID_ARGUMENT otherwise.
Result<SamplerKind> parse_sampler_kind(std::string_view text);
std::string_view sampler_kind_name(SamplerKind kind) noexcept;

}  // namespace tern::trace
