// etcd_client.h - a small client for etcd v3's JSON gRPC gateway (/v3/...),
// the transport under EtcdRegistry (etcd_registry.h, DESIGN §6).
//
// etcd 3.4 serves every gRPC method as `POST http://host:port/v3/<service>/<method>`
// with the protobuf message as JSON (bytes fields base64, 64-bit integers as
// strings). Unary methods answer one JSON object; streaming ones (watch)
// answer a newline-delimited stream of `{"result": {...}}` objects.
//
// Every request runs through libcurl's multi interface so that it can be
// aborted within ~50 ms when the owner's stop flag is raised: a watch stream
// that sits idle for minutes never blocks shutdown.
//
// Endpoints: the client tries its endpoints in order, starting at the one
// that answered last, and moves on only on transport failures (connection
// refused, timeout); an HTTP/gRPC error is an answer and is returned as is.
//
// Thread safety: all methods may be called concurrently (each request uses
// its own curl handles). The stop flag must outlive the client.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/result.h"
#include "tern/url.h"

namespace tern::etcd {

// RFC 4648 base64 with padding (what protobuf's JSON mapping uses for bytes).
std::string base64_encode(std::string_view raw);
// Inverse of base64_encode; also accepts the URL-safe alphabet and missing
// padding. INVALID_ARGUMENT on other characters.
Result<std::string> base64_decode(std::string_view encoded);

// The first key after every key that starts with `prefix` (etcd's
// "range_end" for a prefix range): "/tern/" -> "/tern0".
std::string prefix_range_end(std::string_view prefix);

// A JSON int64 as the gateway prints it ("42") or as a number; `fallback`
// when absent or malformed.
std::int64_t json_int(const nlohmann::json& object, const char* field, std::int64_t fallback = 0);

class Client {
 public:
  // `endpoints` must not be empty. `stop` aborts requests in flight (they
  // return CANCELLED) when it becomes true; nullptr = never.
  Client(std::vector<HostPort> endpoints, std::chrono::milliseconds request_timeout,
         const std::atomic<bool>* stop);

  // POST /v3/<path> with `request`; returns the answer's JSON object.
  // Statuses: UNAVAILABLE when no endpoint answered (or the answer was cut),
  // DEADLINE_EXCEEDED is folded into UNAVAILABLE, CANCELLED when the stop flag
  // was raised, the gRPC code of the gateway's error object otherwise
  // (e.g. NOT_FOUND "requested lease not found"). `timeout` 0 means the
  // client's request_timeout. Honours the stop flag only if `abortable`.
  Result<nlohmann::json> call(std::string_view path, const nlohmann::json& request,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds{0},
                              bool abortable = true);

  // POST /v3/<path> with `request` and feed every JSON object of the
  // streamed answer to `on_message`, in order, on the calling thread, until
  // the server ends the stream, `on_message` returns false (then OK), or
  // the stop flag is raised (CANCELLED). Returns UNAVAILABLE when the stream
  // could not be opened or broke. The stream has no overall timeout; TCP
  // keep-alive detects a silently vanished peer.
  Status stream(std::string_view path, const nlohmann::json& request,
                const std::function<bool(const nlohmann::json&)>& on_message);

 private:
  struct Attempt;
  // Runs one POST against one endpoint; see call()/stream().
  Status perform(const HostPort& endpoint, std::string_view path, const std::string& body,
                 std::chrono::milliseconds timeout, bool abortable, Attempt& attempt);
  // Indexes of endpoints_ in the order to try them: the one that answered
  // last first, then the others in turn.
  std::vector<std::size_t> endpoint_order() const;

  std::vector<HostPort> endpoints_;
  std::chrono::milliseconds request_timeout_;
  const std::atomic<bool>* stop_;
  std::atomic<std::size_t> preferred_{0};  // index of the endpoint that answered last
};

}  // namespace tern::etcd
