// tern/server.h - the provider: listens, exposes services, dispatches calls.
//
//   struct CalculatorImpl : Calculator { int add(int a, int b) override { return a + b; } ... };
//   tern::Server server({.listen = "0.0.0.0:20880"});
//   server.expose<Calculator>(std::make_shared<CalculatorImpl>());
//   if (auto s = server.start(); !s.is_ok()) die(s);
//   std::cout << server.port();            // the bound port (useful with port 0)
//   server.wait();                         // until shutdown()
//
// Request handling (DESIGN §1 steps 6-7): the IO thread decodes a frame; the
// dispatcher ("all": business pool; "direct": the IO thread itself) runs the
// handler; the result or error goes back as a response frame with the request
// id, in the serialization of the request. Errors the consumer sees:
//   UNIMPLEMENTED      unknown service or method (the message names it)
//   INVALID_ARGUMENT   arguments that do not decode as the method's parameters;
//                      a compressed body that is corrupt or decompresses past
//                      limits.max_body (docs/protocol.md §5)
//   INTERNAL           the handler threw; the exception's what() is the message
//   RESOURCE_EXHAUSTED the business pool's queue is full (handler not run);
//                      the result is larger than limits.max_body, or than
//                      the room left under max_write_queue_bytes (handler
//                      ran: may_have_executed, the result is dropped)
//   DEADLINE_EXCEEDED  the request's deadline passed before the handler ran
//   UNAVAILABLE        the server is shutting down (handler not run)
//   INVALID_ARGUMENT   "request id N is already in flight on this
//                      connection": a second request reused the id of one
//                      not yet answered (not run; the first is unaffected)
//   INTERNAL           "the call was destroyed without a response": a
//                      handler lost its ServerCall unanswered (a bug in it;
//                      may_have_executed once the handler started; logged
//                      at kError, Stats::unanswered_calls; tern/server_call.h)
// Requests whose connection closed, or whose deadline passed, while they
// waited for a business thread are not run (counted in Stats::shed), and
// ServerContext::cancelled() turns true for running handlers when their
// connection closes (docs/reliability.md "Work for callers that are gone").
// A handler's exception never escapes into the server.
//
// Every server also exposes the built-in service "tern.Reflection" (service
// descriptions with types, tern/reflection.h) unless ServerOptions::reflection
// is false, and the gRPC built-ins "grpc.health.v1.Health" and
// "grpc.reflection.v1alpha.ServerReflection" (docs/grpc.md) unless
// ServerOptions::grpc_health / grpc_reflection are false.
//
// Thread safety: expose() before start(); shutdown()/wait()/port() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "tern/detail/method_handler.h"
#include "tern/dispatcher.h"
#include "tern/filter.h"
#include "tern/overload.h"
#include "tern/protocol/compression.h"
#include "tern/protocol/decoder.h"
#include "tern/protocol/frame.h"
#include "tern/reflection.h"
#include "tern/result.h"
#include "tern/serialization/codecs.h"
#include "tern/server_call.h"
#include "tern/server_context.h"
#include "tern/service.h"
#include "tern/service_stream.h"
#include "tern/stream.h"
#include "tern/task.h"
#include "tern/tls.h"
#include "tern/url.h"

namespace tern {

namespace trace {
class Tracer;  // tern/trace/tracer.h
}

struct ServerOptions {
  // Address to listen on: "host:port", "[v6]:port"; port 0 picks a free port
  // (read it back with port()). Default "0.0.0.0:0".
  std::string listen = "0.0.0.0:0";
  // Host announced in the provider URL when listening on a wildcard address.
  // Default "127.0.0.1".
  std::string announce_host = "127.0.0.1";
  // IO threads (event loops). 0 = number of cores.
  std::size_t io_threads = 0;
  // Business pool kind (DESIGN §5, as Dubbo): "fixed" (worker_threads
  // threads, bounded queue; the default), "cached" (grows to worker_threads,
  // idle threads retire after pool_keep_alive), "limited" (grows to
  // worker_threads, never shrinks).
  std::string pool = "fixed";
  // Business threads (fixed) or the maximum (cached, limited).
  // 0 = max(4, 2 x cores).
  std::size_t worker_threads = 0;
  // Requests queued for the business pool beyond which new ones are answered
  // RESOURCE_EXHAUSTED at once (counted in Stats::rejected_overload). Default 10000.
  std::size_t worker_queue = 10000;
  // Idle time after which a cached pool's thread retires. Default 60 s.
  std::chrono::milliseconds pool_keep_alive{60000};
  // Dispatch strategy (tern/dispatcher.h): "adaptive" (default: a method's
  // requests run on the IO thread once its handler has proven short, on the
  // business pool otherwise), Dubbo's "all", "direct", "message",
  // "execution", "connection". ServiceOptions::dispatcher overrides it for
  // one service's requests. docs/threading.md says which to pick.
  std::string dispatcher = "adaptive";
  // When `adaptive` moves a method between the pool and the IO thread
  // (tern/dispatcher.h). Read at start().
  AdaptiveDispatchOptions adaptive{};
  // A handler that runs on an IO thread longer than this is logged once per
  // method and counted (Stats::blocked_io_handlers). Default 100 ms.
  std::chrono::milliseconds io_block_threshold{100};
  // Diagnostic hook called on the thread that handles each event.
  DispatchObserver event_observer{};
  // Idle time before a heartbeat ping; 3 unanswered pings close. Default 10 s; 0 disables.
  std::chrono::milliseconds heartbeat_interval{10000};
  // Frame limits: body default 64 MiB, metadata 64 KiB - 1.
  protocol::Limits limits{};
  // Consumer connections open at once; a connection accepted beyond it is
  // closed at once (the consumer sees UNAVAILABLE, nothing executed, and
  // fails over) and counted in Stats::rejected_connections. Default 0 = no
  // limit (the process's file-descriptor limit applies).
  std::size_t max_connections = 0;
  // Requests (and oneways) received on one connection and not yet answered;
  // one more is answered RESOURCE_EXHAUSTED at once, without running
  // (retryable), and counted in Stats::rejected_in_flight. Bounds what a
  // single consumer can make the provider hold. Default 10000; 0 = no limit.
  std::size_t max_in_flight_per_connection = 10000;
  // Streams (tern/stream.h) open at once on one connection, on both wires
  // (SETTINGS_MAX_CONCURRENT_STREAMS on HTTP/2). One more is refused before
  // its handler runs: RESOURCE_EXHAUSTED on the Tern wire, RST_STREAM
  // REFUSED_STREAM on HTTP/2 (docs/protocol.md §12). Default 100, what gRPC
  // servers advertise; at least 1.
  std::uint32_t max_concurrent_streams = 100;
  // Bytes of responses queued on one connection and not yet taken by the
  // kernel beyond which the connection is closed (RESOURCE_EXHAUSTED in the
  // log): a consumer that pipelines requests and stops reading cannot grow
  // the provider's memory without bound. Other connections are unaffected.
  // A result that alone would pass the limit is dropped instead and its call
  // answered RESOURCE_EXHAUSTED naming the limit (docs/protocol.md §9).
  // Default 256 MiB (net::Connection::Options::max_write_queue); set it
  // near the largest burst of responses one consumer may have unread.
  std::size_t max_write_queue_bytes = 256u << 20;
  // Provider filters, in order (tern/filter.h).
  std::vector<std::shared_ptr<ServerFilter>> filters{};
  // Distributed tracing (docs/tracing.md). True (default): a
  // trace::TraceServerFilter goes first in `filters`: incoming `traceparent`
  // is honoured, handlers' calls are its children, server spans are recorded
  // when the tracer has an OTLP endpoint or rpcz. False: none of it.
  bool tracing = true;
  // Where this server's spans go and how it samples. Null (default): the
  // trace::Tracer::global() of the moment the Server is created.
  std::shared_ptr<trace::Tracer> tracer{};
  // Response compression (docs/protocol.md §5): a response to a consumer
  // that accepts compression (its request was compressed, or carried
  // `accept-compression`) is compressed with the consumer's algorithm when
  // its body has at least this many bytes. Default 1024; SIZE_MAX = never.
  // Compressed requests are always accepted (and decompressed within
  // limits.max_body).
  std::size_t compression_threshold = 1024;
  // Expose the built-in reflection service "tern.Reflection" (tern/reflection.h):
  // lists the exposed services, their methods and argument/result types.
  // Never announced in the registry. Default true.
  bool reflection = true;
  // Serve the standard gRPC health service "grpc.health.v1.Health" (Check,
  // Watch; docs/grpc.md): SERVING while the server runs, NOT_SERVING once
  // shutdown() began, NOT_FOUND for a service name the server does not
  // expose. On both wires (protobuf serialization); never announced in the
  // registry. Default true.
  bool grpc_health = true;
  // Serve gRPC server reflection "grpc.reflection.v1alpha.ServerReflection"
  // (docs/grpc.md): lists the services a .proto describes and answers their
  // file descriptors, so that reflection-based gRPC tools can call them.
  // Never announced in the registry. Default true.
  bool grpc_reflection = true;
  // TLS for every accepted connection when tls.enabled (tern/tls.h): cert_file
  // and key_file required; ca_file + require_client_cert for mutual TLS;
  // tls.handshake_timeout bounds each handshake. A connection whose handshake
  // fails (plain TCP client, refused client certificate) is closed and logged;
  // others are unaffected. Default off.
  TlsOptions tls{};
};

struct ServiceOptions {
  // Overrides the service name from TERN_SERVICE (empty = keep).
  std::string name;
  // Version and group the service answers to; requests naming another
  // version/group get UNIMPLEMENTED. Empty = any.
  std::string version;
  std::string group;
  // Provider weight announced in the registry URL. Default 100.
  int weight = 100;
  // Dispatch strategy for this service's requests (empty = the server's).
  std::string dispatcher;
  // Extra parameters announced in the provider URL (e.g. "admin" =
  // "127.0.0.1:9464", the admin endpoint `tern monitor` scrapes; see
  // tern/monitor/admin_server.h). Keys the server sets itself (methods,
  // weight, version, group) take precedence. Default none.
  std::map<std::string, std::string> parameters;
  // Overload protection (tern/overload.h): the limits each method of this
  // service gets (each method counts on its own), and overrides by method
  // name, which replace `limit` for that method. Default: no limits. An
  // override naming no method of the service: INVALID_ARGUMENT at start().
  MethodLimit limit;
  std::map<std::string, MethodLimit, std::less<>> method_limits;
};


class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();  // shutdown(0)
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Exposes `impl` under the service declared by TERN_SERVICE(Interface, ...).
  // ALREADY_EXISTS if that service name is exposed already;
  // FAILED_PRECONDITION after start().
  // Stream methods of the interface itself (a TERN_SERVICE method taking
  // tern::ServerStream<Req, Resp>&, tern/service_stream.h) are registered as
  // add_stream_method (Task<Status> form) or add_blocking_stream_method
  // (Status form) would, with the kind TERN_STREAM_KIND declares (kBidi
  // without one), beside the unary methods, in TERN_SERVICE's order; their
  // errors are expose()'s.
  // Generated stream methods: when Interface declares
  //   static Status tern_expose_streams(Server&, const std::shared_ptr<Interface>&,
  //                                     const ServiceOptions&);
  // (protoc-gen-tern generates it for services with `stream` rpcs), expose()
  // calls it after the unary methods, with options.name set to the service
  // name, so the stream methods are served under the same service; its
  // error is expose()'s.
  template <typename Interface>
  Status expose(std::shared_ptr<Interface> impl, ServiceOptions options = {});

  // Registers one method handler at the generic level (service, method,
  // bytes); used by expose() and by generated protobuf stubs.
  Status add_method(const std::string& service, const std::string& method, MethodHandler handler,
                    const ServiceOptions& options = {});

  // Registers a stream method (tern/stream.h, docs/streaming.md): `handler`
  // runs once per stream a consumer opens on service/method; its result is
  // the stream's final status. It starts where the dispatcher sends requests
  // (the business pool, or the IO thread with `direct`), and after each
  // co_await of a read or write it resumes there too. A unary request for
  // the method is answered UNIMPLEMENTED ("is a stream method"); a stream
  // opened on an unknown method is finished UNIMPLEMENTED. The method joins
  // the service's method list (registry URL, reflection).
  // `kind` (server, client or bidi streaming) is what tern.Reflection and
  // `tern describe` show for the method ("stream" in tern/reflection.h's
  // grammar); the overloads without it register kBidi, the general case. The
  // typed forms also publish the message types (Req as the one argument,
  // Resp as the result); the raw form publishes none.
  // ALREADY_EXISTS for a name in use; FAILED_PRECONDITION after start();
  // INVALID_ARGUMENT for an empty handler.
  Status add_stream_method(const std::string& service, const std::string& method, RawStreamHandler handler,
                           const ServiceOptions& options = {});
  Status add_stream_method(const std::string& service, const std::string& method, StreamKind kind,
                           RawStreamHandler handler, const ServiceOptions& options = {});
  // Typed: `handler(ServerStream<Req, Resp>&) -> Task<Status>`.
  template <typename Req, typename Resp, typename F>
  Status add_stream_method(const std::string& service, const std::string& method, F handler,
                           const ServiceOptions& options = {}) {
    return add_stream_method<Req, Resp>(service, method, StreamKind::kBidi, std::move(handler), options);
  }
  template <typename Req, typename Resp, typename F>
  Status add_stream_method(const std::string& service, const std::string& method, StreamKind kind, F handler,
                           const ServiceOptions& options = {});
  // Blocking style: `handler(ServerStream<Req, Resp>&) -> Status` runs on a
  // business-pool thread, which it holds for the stream's life, and uses the
  // *_sync operations (the server then always has a business pool).
  template <typename Req, typename Resp, typename F>
  Status add_blocking_stream_method(const std::string& service, const std::string& method, F handler,
                                    const ServiceOptions& options = {}) {
    return add_blocking_stream_method<Req, Resp>(service, method, StreamKind::kBidi, std::move(handler), options);
  }
  template <typename Req, typename Resp, typename F>
  Status add_blocking_stream_method(const std::string& service, const std::string& method, StreamKind kind,
                                    F handler, const ServiceOptions& options = {});

  // Attaches the reflection description of an exposed service: a JSON
  // object {"methods":[{"name","args","result"}, ...],"types":{...}}
  // (grammar in tern/reflection.h), answered by tern.Reflection. expose()
  // sets it from the C++ types; generic add_method() services may set one by
  // hand. NOT_FOUND when `service` has no method yet; FAILED_PRECONDITION
  // after start(). Replaces an earlier description.
  Status set_description(const std::string& service, nlohmann::json description);

  // Called after a consumer connection opened / closed, with its
  // ServerConnection::id(), on the thread the dispatcher names for connect /
  // disconnect events (in order on one queue with `connection`). Set before start().
  void on_connect(std::function<void(std::uint64_t connection_id)> listener);
  void on_disconnect(std::function<void(std::uint64_t connection_id)> listener);

  // Binds and starts listening and the IO and business threads.
  // UNAVAILABLE when the address cannot be bound (message has the reason),
  // INVALID_ARGUMENT for a malformed listen address or, with TLS, a missing
  // or malformed certificate, key or CA file (the message names the file and
  // gives OpenSSL's reason; nothing is started).
  Status start();

  // The bound port (valid after start()).
  std::uint16_t port() const noexcept;
  // "127.0.0.1:PORT" (announce_host for wildcard listens) of the bound address.
  HostPort address() const;
  // One provider URL per exposed service: tern://host:port/Service?methods=...&weight=...
  // (not the built-ins tern.Reflection, grpc.health.v1.Health and
  // grpc.reflection.v1alpha.ServerReflection: reachable at every provider, never registered).
  std::vector<Url> provider_urls() const;

  // Stops accepting, tells connected consumers GOAWAY, then waits up to
  // `grace` for in-flight calls to finish and for the consumers to close
  // their connections (Tern consumers do once nothing is pending on them;
  // requests that arrive meanwhile are answered UNAVAILABLE, not executed,
  // so failover retries them elsewhere); then closes every connection left
  // and stops the threads. What the closes queued last runs on the calling
  // thread before shutdown() returns: a stream's finish, a stream handler
  // resumed with its end, filters' on_response, disconnect listeners and
  // event observers (these see in_io_thread false). So the caller must not
  // hold a lock that such code takes. Idempotent; wakes wait(). Not callable
  // from a handler.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // Blocks until shutdown() completed.
  void wait();

  // Counters (monotonic since start).
  struct Stats {
    std::uint64_t requests = 0;          // requests and oneways received
    std::uint64_t rejected_overload = 0; // RESOURCE_EXHAUSTED answers from a full pool
    std::uint64_t handler_errors = 0;    // handlers that threw
    std::uint64_t connections = 0;       // currently open
    std::uint64_t blocked_io_handlers = 0;  // handlers that held an IO thread > io_block_threshold
    // `adaptive` dispatcher: methods moved to the IO thread, and sent back to
    // the pool after a run on the IO thread over AdaptiveDispatchOptions::demote_above.
    std::uint64_t adaptive_promotions = 0;
    std::uint64_t adaptive_demotions = 0;
    std::uint64_t rejected_connections = 0;  // connections closed at accept (max_connections)
    std::uint64_t rejected_in_flight = 0;    // RESOURCE_EXHAUSTED answers from max_in_flight_per_connection
    // Requests dropped before their handler ran because nobody waits for
    // them any more: their connection closed, or their deadline passed,
    // while they were queued (the latter answered DEADLINE_EXCEEDED).
    std::uint64_t shed = 0;
    std::uint64_t duplicate_ids = 0;  // requests refused: their id was in flight on the connection
    std::uint64_t oversize_responses = 0;  // results dropped: over max_body or the write queue's room
    std::uint64_t rejected_limit = 0;  // RESOURCE_EXHAUSTED answers from a method's limits (tern/overload.h)
    // Calls destroyed without a response (a handler lost its ServerCall, a
    // bug in it): answered INTERNAL by the destructor, logged at kError
    // (tern/server_call.h). 0 in a correct program.
    std::uint64_t unanswered_calls = 0;
    // The business pool now (0 without one, e.g. dispatcher "direct"):
    std::uint64_t pool_threads = 0;  // threads alive
    std::uint64_t pool_active = 0;   // threads running a handler
    std::uint64_t pool_queued = 0;   // requests waiting for a thread (at most worker_queue)
  };
  Stats stats() const;

  // The state of one method's limits (tern/overload.h): its calls in flight
  // under them and the concurrency limit in force (0 = no concurrency
  // limit; the adaptive limit moves). Empty when the method has no limits
  // or before start(). Thread-safe.
  struct LimitState {
    int in_flight = 0;
    int concurrency_limit = 0;
  };
  std::optional<LimitState> limit_state(std::string_view service, std::string_view method) const;

  // Replaces the limits of every method of `service` at run time, as
  // ServiceOptions::limit and method_limits would set them (tern/overload.h):
  // `limit` for each method, `method_limits` by method name. New calls are
  // admitted under the new limits at once; calls already admitted finish
  // under the limiter that admitted them (an adaptive limit starts again
  // from its initial value). tern::Provider calls it for the `limits` key of
  // the service's dynamic configuration (tern/governance.h).
  // Errors (nothing changed): FAILED_PRECONDITION before start(), NOT_FOUND
  // for a service not exposed here, INVALID_ARGUMENT for a negative limit or
  // an override naming no method of the service. Thread-safe.
  Status set_limits(std::string_view service, const MethodLimit& limit,
                    const std::map<std::string, MethodLimit, std::less<>>& method_limits);
  // Back to the service's own ServiceOptions limits. Errors as set_limits().
  Status reset_limits(std::string_view service);

  struct Impl;

 private:
  // `description`: {"args":[T],"result":T,"types":{...}} of a typed stream
  // method (null for a raw one); the kind is added to it.
  Status add_stream_entry(const std::string& service, const std::string& method, RawStreamHandler handler,
                          bool blocking, StreamKind kind, nlohmann::json description, const ServiceOptions& options);
  template <typename Req, typename Resp>
  static nlohmann::json describe_stream() {
    nlohmann::json types = nlohmann::json::object();
    nlohmann::json args = nlohmann::json::array({reflection::describe_type<Req>(types)});
    nlohmann::json result = reflection::describe_type<Resp>(types);
    return {{"args", std::move(args)}, {"result", std::move(result)}, {"types", std::move(types)}};
  }
  // The tests' seam into the Impl (src/server/server_test_access.h, internal).
  friend struct ServerTestAccess;
  std::shared_ptr<Impl> impl_;
};

template <typename Req, typename Resp, typename F>
Status Server::add_stream_method(const std::string& service, const std::string& method, StreamKind kind, F handler,
                                 const ServiceOptions& options) {
  auto h = std::make_shared<F>(std::move(handler));
  return add_stream_entry(
      service, method,
      [h](std::shared_ptr<RawStream> raw) -> Task<Status> {
        ServerStream<Req, Resp> s(std::move(raw));
        co_return co_await (*h)(s);
      },
      false, kind, describe_stream<Req, Resp>(), options);
}

template <typename Req, typename Resp, typename F>
Status Server::add_blocking_stream_method(const std::string& service, const std::string& method, StreamKind kind,
                                          F handler, const ServiceOptions& options) {
  auto h = std::make_shared<F>(std::move(handler));
  return add_stream_entry(
      service, method,
      [h](std::shared_ptr<RawStream> raw) -> Task<Status> {
        ServerStream<Req, Resp> s(std::move(raw));
        co_return (*h)(s);
      },
      true, kind, describe_stream<Req, Resp>(), options);
}

// ---------------------------------------------------------------------------
// Implementation of the templates.

namespace detail {

// Registers TERN_SERVICE stream method M of `impl` (tern/service_stream.h)
// with its declared kind: a Task<Status> method as add_stream_method, a
// Status one as add_blocking_stream_method.
template <auto M, typename Impl>
Status expose_stream_method(Server& server, const std::string& service, const std::string& method,
                            const std::shared_ptr<Impl>& impl, const ServiceOptions& options) {
  using Req = stream_request_t<M>;
  using Resp = stream_response_t<M>;
  constexpr StreamKind kind = MethodStreamKind<M>::value;
  if constexpr (StreamSignature<decltype(M)>::kBlocking) {
    return server.add_blocking_stream_method<Req, Resp>(
        service, method, kind, [impl](ServerStream<Req, Resp>& s) -> Status { return ((*impl).*M)(s); }, options);
  } else {
    return server.add_stream_method<Req, Resp>(
        service, method, kind, [impl](ServerStream<Req, Resp>& s) -> Task<Status> { return ((*impl).*M)(s); },
        options);
  }
}

template <typename Tuple, typename F, std::size_t... I>
void for_each_in_tuple([[maybe_unused]] const Tuple& t, [[maybe_unused]] F&& f, std::index_sequence<I...>) {
  (f(std::get<I>(t)), ...);
}

}  // namespace detail

template <typename Interface>
Status Server::expose(std::shared_ptr<Interface> impl, ServiceOptions options) {
  static_assert(ServiceTraits<Interface>::kDefined, "declare the interface with TERN_SERVICE(Interface, methods...)");
  std::string name = options.name.empty() ? std::string(ServiceTraits<Interface>::name) : options.name;
  options.name = name;
  Status result;
  constexpr auto methods = ServiceTraits<Interface>::methods();
  detail::for_each_in_tuple(
      methods,
      [&]<auto M>(const detail::MethodEntry<M>& entry) {
        if (!result.is_ok()) return;
        detail::check_stream_method<M>();
        if constexpr (is_stream_method_v<M>) {
          result = detail::expose_stream_method<M>(*this, name, std::string(entry.name), impl, options);
        } else {
          result = add_method(name, std::string(entry.name), detail::make_method_handler<M>(impl), options);
        }
      },
      std::make_index_sequence<std::tuple_size_v<decltype(methods)>>{});
  if (!result.is_ok()) return result;
  if constexpr (requires(Server& s, const std::shared_ptr<Interface>& p, const ServiceOptions& o) {
                  { Interface::tern_expose_streams(s, p, o) } -> std::same_as<Status>;
                }) {
    if (Status s = Interface::tern_expose_streams(*this, impl, options); !s.is_ok()) return s;
  }
  // Built once here from the C++ types; tern.Reflection serves it.
  return set_description(name, reflection::describe_interface<Interface>());
}

}  // namespace tern
