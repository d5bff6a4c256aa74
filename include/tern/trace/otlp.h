// tern/trace/otlp.h - spans as OTLP/HTTP JSON (the OpenTelemetry protocol's
// JSON encoding of ExportTraceServiceRequest, POSTed to <endpoint>/v1/traces
// with Content-Type: application/json), and the libcurl sender the
// Tracer's exporter thread uses.
//
// Encoding (OTLP's JSON mapping of the protobuf messages): traceId, spanId and
// parentSpanId as lowercase hex strings; kind as an integer (2 server, 3
// client); startTimeUnixNano / endTimeUnixNano as decimal strings; attributes
// as [{key, value: {stringValue} | {intValue: "<decimal>"}}]; status {code:
// 0 unset | 2 error, message}. Attributes follow the OpenTelemetry RPC
// semantic conventions: rpc.system ("tern" or "grpc"), rpc.service,
// rpc.method, rpc.grpc.status_code (Tern's status codes are gRPC's),
// network.peer.address / network.peer.port, server.address / server.port on
// client spans; plus tern.request.size / tern.response.size (bytes) and
// tern.stream. Events carry name, timeUnixNano and a network.peer.address.
//
// Thread safety: pure functions; post_otlp() may run on any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tern/result.h"
#include "tern/trace/span.h"

namespace tern::trace {

// The instrumentation scope name in every export ("tern").
inline constexpr std::string_view kScopeName = "tern";

// One ExportTraceServiceRequest with one resourceSpans entry (resource
// attribute service.name = `service_name`) and one scopeSpans entry.
std::string to_otlp_json(const std::vector<SpanData>& spans, std::string_view service_name);

// POSTs `body` to `url` (the full URL, e.g. "http://127.0.0.1:4318/v1/traces")
// with Content-Type: application/json, within `timeout`. OK for any 2xx
// answer; UNAVAILABLE when it cannot connect or the transfer fails;
// DEADLINE_EXCEEDED on timeout; INTERNAL with the status for another answer.
// Blocks the calling thread (the exporter's) for at most `timeout`.
Status post_otlp(const std::string& url, const std::string& body, std::chrono::milliseconds timeout);

// "<endpoint>/v1/traces" (no doubled '/'); an endpoint that already ends in
// "/v1/traces" is kept as is.
std::string otlp_traces_url(std::string_view endpoint);

}  // namespace tern::trace
