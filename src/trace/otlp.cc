// Spans as OTLP/HTTP JSON and the libcurl POST that sends them
// (tern/trace/otlp.h).
#include "tern/trace/otlp.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace tern::trace {

namespace {

using json = nlohmann::json;

json str_attr(std::string_view key, std::string_view value) {
  return json{{"key", key}, {"value", {{"stringValue", value}}}};
}
// OTLP/JSON carries int64 as a decimal string (protobuf's JSON mapping).
json int_attr(std::string_view key, std::int64_t value) {
  return json{{"key", key}, {"value", {{"intValue", std::to_string(value)}}}};
}

// "10.0.0.5:20880" / "[::1]:20880" -> host, port (port -1 when absent).
void split_peer(std::string_view peer, std::string* host, int* port) {
  *port = -1;
  auto colon = peer.rfind(':');
  if (colon == std::string_view::npos || (peer.find(']') != std::string_view::npos && colon < peer.find(']'))) {
    host->assign(peer);
    return;
  }
  host->assign(peer.substr(0, colon));
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  int p = 0;
  for (char c : peer.substr(colon + 1)) {
    if (c < '0' || c > '9' || p > 65535) return;
    p = p * 10 + (c - '0');
  }
  if (p <= 65535 && colon + 1 < peer.size()) *port = p;
}

// Span status per the RPC semantic conventions: a client span is an error
// for any non-OK code; a server span only for the codes that mean the
// server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
// UNAVAILABLE, DATA_LOSS); otherwise unset (0).
int otlp_status(const SpanData& s) {
  if (s.code == StatusCode::kOk) return 0;
  if (s.kind == SpanKind::kClient) return 2;
  switch (s.code) {
    case StatusCode::kUnknown:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kUnimplemented:
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss: return 2;
    default: return 0;
  }
}

json span_json(const SpanData& s) {
  json attrs = json::array();
  attrs.push_back(str_attr("rpc.system", s.grpc ? "grpc" : "tern"));
  attrs.push_back(str_attr("rpc.service", s.service));
  attrs.push_back(str_attr("rpc.method", s.method));
  attrs.push_back(int_attr("rpc.grpc.status_code", static_cast<int>(s.code)));
  if (!s.peer.empty()) {
    std::string host;
    int port = -1;
    split_peer(s.peer, &host, &port);
    attrs.push_back(str_attr("network.peer.address", host));
    if (port >= 0) attrs.push_back(int_attr("network.peer.port", port));
    if (s.kind == SpanKind::kClient) {
      attrs.push_back(str_attr("server.address", host));
      if (port >= 0) attrs.push_back(int_attr("server.port", port));
    }
  }
  attrs.push_back(int_attr("tern.request.size", static_cast<std::int64_t>(s.request_bytes)));
  attrs.push_back(int_attr("tern.response.size", static_cast<std::int64_t>(s.response_bytes)));
  if (s.stream) {
    attrs.push_back(json{{"key", "tern.stream"}, {"value", {{"boolValue", true}}}});
    attrs.push_back(int_attr("tern.stream.messages_sent", static_cast<std::int64_t>(s.messages_sent)));
    attrs.push_back(int_attr("tern.stream.messages_received", static_cast<std::int64_t>(s.messages_received)));
  }
  json events = json::array();
  for (const auto& e : s.events) {
    json ev{{"timeUnixNano", std::to_string(e.time_unix_nano)}, {"name", e.name}};
    if (!e.peer.empty()) ev["attributes"] = json::array({str_attr("network.peer.address", e.peer)});
    events.push_back(std::move(ev));
  }
  json status{{"code", otlp_status(s)}};
  if (!s.message.empty()) status["message"] = s.message;
  json j{{"traceId", s.context.trace_id.hex()},
         {"spanId", s.context.span_id.hex()},
         {"name", s.name()},
         {"kind", static_cast<int>(s.kind)},
         {"startTimeUnixNano", std::to_string(s.start_unix_nano)},
         {"endTimeUnixNano", std::to_string(s.end_unix_nano)},
         {"attributes", std::move(attrs)},
         {"events", std::move(events)},
         {"status", std::move(status)},
         {"flags", static_cast<int>(s.context.flags)}};
  if (s.parent.valid()) j["parentSpanId"] = s.parent.hex();
  if (!s.trace_state.empty()) j["traceState"] = s.trace_state;
  return j;
}

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

std::string to_otlp_json(const std::vector<SpanData>& spans, std::string_view service_name) {
  json list = json::array();
  for (const auto& s : spans) list.push_back(span_json(s));
  json resource{{"attributes", json::array({str_attr("service.name", service_name)})}};
  json scope{{"scope", {{"name", kScopeName}}}, {"spans", std::move(list)}};
  json body{{"resourceSpans", json::array({json{{"resource", std::move(resource)},
                                                {"scopeSpans", json::array({std::move(scope)})}}})}};
  // Invalid UTF-8 in a method name or status message is replaced, never thrown.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string otlp_traces_url(std::string_view endpoint) {
  std::string url(endpoint);
  constexpr std::string_view kPath = "/v1/traces";
  if (url.size() >= kPath.size() && url.compare(url.size() - kPath.size(), kPath.size(), kPath) == 0) return url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + std::string(kPath);
}

Status post_otlp(const std::string& url, const std::string& body, std::chrono::milliseconds timeout) {
  ensure_curl_initialized();
  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return Status(StatusCode::kInternal, "curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"), curl_slist_free_all);
  // No "Expect: 100-continue" round trip before the body.
  if (headers) headers.reset(curl_slist_append(headers.release(), "Expect:"));
  curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(1, timeout.count())));
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = curl_easy_perform(h.get());
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return Status(StatusCode::kDeadlineExceeded, "OTLP export to " + url + " timed out");
  }
  if (rc != CURLE_OK) {
    return Status(StatusCode::kUnavailable, "OTLP export to " + url + ": " + curl_easy_strerror(rc));
  }
  long code = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code >= 300) {
    return Status(StatusCode::kInternal, "OTLP export to " + url + " answered HTTP " + std::to_string(code));
  }
  return Status();
}

}  // namespace tern::trace
