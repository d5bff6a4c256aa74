// tern/filter.h - filters (interceptors): an ordered chain on the consumer
// and on the provider that sees every invocation before and after
// (DESIGN §4). Metrics, access logs, token auth and tracing are filters, not
// special cases in the call path.
//
//   struct Auth : tern::ServerFilter {
//     tern::Status on_request(tern::ServerContext& ctx) override {
//       if (ctx.attachment("token") != "s3cret") return {tern::StatusCode::kUnauthenticated, "bad token"};
//       return {};
//     }
//   };
//   server_options.filters.push_back(std::make_shared<Auth>());
//
// Order: on_request in list order, on_response in reverse order (like a
// stack of decorators). A non-OK status from on_request short-circuits: the
// call completes with it and later filters and the handler do not run (their
// on_response still runs for the filters whose on_request ran).
// Thread safety: filters are shared by all calls and run concurrently on
// IO and business threads; they must be thread-safe and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/status.h"

namespace tern {

class ServerContext;

// A consumer-side call as filters see it before it is sent.
struct ClientInvocation {
  std::string_view service;
  std::string_view method;
  // Attachments added by the filters (empty when the first filter runs);
  // filters may add or change entries. On the wire they replace the
  // caller's CallOptions::attachments with the same key.
  std::vector<std::pair<std::string, std::string>>* attachments;
};

// Wire sizes of one consumer call, in bytes, whole frames (24-byte header,
// metadata and body). For a stream: its message payload bytes and counts.
struct CallBytes {
  // The request frame, counted once however many attempts were sent.
  std::uint64_t sent = 0;
  // The response frame that completed the call; 0 when none arrived
  // (timeout, connection failure, local error).
  std::uint64_t received = 0;
  // A stream (tern/stream.h): the messages sent and received.
  bool stream = false;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
};

// What a consumer call tells a ClientFilter's observer as it runs (for
// tracing: a span per call, with its attempts as events). Created by
// ClientFilter::observe() when the call starts; the call owns it and
// destroys it after on_end().
// Thread safety: on_attempt() may run on several threads at once for the
// parallel strategies (forking, broadcast, hedging); on_end() runs once, after
// every on_attempt() of the call that can still matter.
class ClientCallObserver {
 public:
  enum class AttemptKind { kFirst, kRetry, kHedge, kFork };
  virtual ~ClientCallObserver() = default;
  // An attempt is sent to `peer` ("ip:port" of the provider).
  virtual void on_attempt(std::string_view peer, AttemptKind kind) { (void)peer, (void)kind; }
  // The call completed (as ClientFilter::on_response).
  virtual void on_end(const Status& status, std::chrono::nanoseconds latency, const CallBytes& bytes) {
    (void)status, (void)latency, (void)bytes;
  }
};

// A call as observe() sees it: after on_request, before the first attempt.
struct ClientCallStart {
  std::string_view service;
  std::string_view method;
  // The request's metadata in wire form (docs/protocol.md: u16 key length,
  // key, u16 value length, value, repeated), attachments included.
  std::string_view meta;
};

class ClientFilter {
 public:
  virtual ~ClientFilter() = default;
  // Before the request is encoded. Non-OK: the call fails with it, unsent.
  virtual Status on_request(ClientInvocation& invocation) {
    (void)invocation;
    return Status();
  }
  // After the call completed (all attempts), with its final status, latency
  // and wire sizes.
  virtual void on_response(std::string_view service, std::string_view method, const Status& status,
                           std::chrono::nanoseconds latency, const CallBytes& bytes) {
    (void)service, (void)method, (void)status, (void)latency, (void)bytes;
  }
  // Optional per-call state (tracing uses it): called on the invoking thread
  // just before the first attempt of a unary call, or when a stream is opened
  // (its on_end then has bytes.stream set). nullptr (the default) costs the call nothing more. Oneway
  // calls are not observed.
  virtual std::unique_ptr<ClientCallObserver> observe(const ClientCallStart& call) {
    (void)call;
    return nullptr;
  }
};

class ServerFilter {
 public:
  virtual ~ServerFilter() = default;
  // Before the handler runs (on the handler's thread). Non-OK: answered with it.
  virtual Status on_request(ServerContext& context) {
    (void)context;
    return Status();
  }
  // After the response was sent (status OK or the error sent);
  // context.response_bytes() has the size of the response frame.
  // Streams run on_request once before the handler (context.stream() is
  // true; a non-OK status finishes the stream unrun) and on_response once
  // after the final status (tern/server_context.h).
  virtual void on_response(ServerContext& context, const Status& status, std::chrono::nanoseconds latency) {
    (void)context, (void)status, (void)latency;
  }
};

}  // namespace tern
