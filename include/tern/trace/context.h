// tern/trace/context.h - W3C Trace Context (https://www.w3.org/TR/trace-context/):
// the ids of a span and the `traceparent` header that carries them between
// processes. Tern sends `traceparent` and `tracestate` as attachments of its
// own protocol and as the same-named headers on gRPC calls
// (docs/tracing.md). Header-only value types, no allocation except
// format_traceparent()'s string.
//
//   auto parent = tern::trace::parse_traceparent(ctx->attachment("traceparent"));
//   if (!parent) ...  // absent or invalid: start a new trace (the spec's rule)
//
// Thread safety: plain values; new_trace_id()/new_span_id() use a
// thread-local generator and may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tern::trace {

// 16 bytes, big-endian halves: hex() is hi then lo, 32 lowercase hex digits.
// All zero is the invalid trace id.
struct TraceId {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  bool valid() const noexcept { return (hi | lo) != 0; }
  std::string hex() const;
  friend bool operator==(const TraceId&, const TraceId&) = default;
};

// 8 bytes: hex() is 16 lowercase hex digits. Zero is the invalid span id
// (and, as a parent, means "no parent": a root span).
struct SpanId {
  std::uint64_t value = 0;
  bool valid() const noexcept { return value != 0; }
  std::string hex() const;
  friend bool operator==(const SpanId&, const SpanId&) = default;
};

// trace-flags bit 0.
inline constexpr std::uint8_t kSampledFlag = 0x01;

// What `traceparent` carries: the trace, the sender's span (the receiver's
// parent) and the flags.
struct SpanContext {
  TraceId trace_id;
  SpanId span_id;
  std::uint8_t flags = 0;
  bool valid() const noexcept { return trace_id.valid() && span_id.valid(); }
  bool sampled() const noexcept { return (flags & kSampledFlag) != 0; }
  friend bool operator==(const SpanContext&, const SpanContext&) = default;
};

// The header names (lowercase, as on HTTP/2 and in Tern attachments).
inline constexpr std::string_view kTraceparent = "traceparent";
inline constexpr std::string_view kTracestate = "tracestate";
// Length of a version-00 traceparent: "00-" 32 "-" 16 "-" 2.
inline constexpr std::size_t kTraceparentSize = 55;
// tracestate values longer than this are not propagated (the spec asks
// vendors to propagate at least 512 characters; Tern propagates up to this).
inline constexpr std::size_t kMaxTracestate = 512;

// Parses `traceparent` per the spec's version-00 rules and its forward
// compatibility rule for higher versions (the first 55 characters parse as
// version 00 and, when longer, character 55 is '-'). nullopt (ignore the
// header, start a new trace) for: a wrong length, a missing '-', any
// character that is not lowercase hex (uppercase included), version "ff",
// extra characters after a version-00 value, an all-zero trace id or parent id.
// Never throws, reads only `text`.
std::optional<SpanContext> parse_traceparent(std::string_view text) noexcept;

// "00-<trace id>-<span id>-<flags>" (55 characters) into `out`, which must
// have room for kTraceparentSize characters (no terminator written).
void format_traceparent(const SpanContext& context, char* out) noexcept;
std::string format_traceparent(const SpanContext& context);

// True when `text` may be forwarded as `tracestate`: at most kMaxTracestate
// characters, printable ASCII only (no control characters: the value goes
// into metadata and HTTP/2 headers as is). Tern does not edit tracestate;
// it forwards the incoming value to the calls a handler makes.
bool forwardable_tracestate(std::string_view text) noexcept;

// Random non-zero ids from a thread-local generator seeded once per thread
// from std::random_device. Not for security.
TraceId new_trace_id() noexcept;
SpanId new_span_id() noexcept;

}  // namespace tern::trace
