// src/server/server_impl.h - Server::Impl: the provider's shared state
// (internal; server.cc owns the lifecycle and unary calls, stream_methods.cc
// the streams).
#pragma once

#include <asio/ip/tcp.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "rpc/stream_hub.h"
#include "rpc/thread_pool.h"
#include "server/adaptive_placement.h"
#include "server/grpc_health.h"
#include "server/overload/method_limiter.h"
#include "server/server_session.h"
#include "server/service_table.h"
#include "tern/net/io_context_pool.h"
#include "tern/net/tls_context.h"
#include "tern/server.h"
#include "tern/stream.h"

namespace tern {
namespace server_impl {

// The provider URL's `contract` parameter for `svc` (tern/contract.h): its
// typed methods, stream methods included; empty when none has types.
std::string contract_param(const ServiceEntry& svc);

// Builds the limiters of `svc`'s methods from `limit` and `method_limits`
// (ServiceOptions, tern/overload.h) and stores them in the methods' slots.
// INVALID_ARGUMENT (nothing changed) for an override naming no method of the
// service, or a negative limit. Called by Server::start() with the
// service's options and by Server::set_limits().
Status build_limiters(const std::string& service, ServiceEntry& svc, const MethodLimit& limit,
                      const std::map<std::string, MethodLimit, std::less<>>& method_limits);

// A stream method (Server::add_stream_method).
struct StreamEntry {
  RawStreamHandler handler;
  bool blocking = false;  // holds a business thread for the stream's life
};

}  // namespace server_impl

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  ServerOptions options;
  // The clock of unary requests' deadlines (issue #21): handle_request()
  // stamps a request's deadline (its timeout from admission), run() checks
  // it before the handler, ServerContext::remaining() measures the time
  // left. Null (production) = std::chrono::steady_clock, read directly: no
  // virtual call and no extra clock read per request. Tests set a FakeClock
  // with ServerTestAccess::set_clock() before start(); it must outlive the
  // server and is not changed after start() (read by IO and business
  // threads without a lock). Latencies, blocking detection, adaptive
  // placement, the shutdown grace and streams stay on steady_clock.
  const Clock* clock = nullptr;
  server_impl::ServiceTable services;  // immutable after start (service_table.h)
  std::unique_ptr<net::IoContextPool> io;
  std::unique_ptr<rpc::ThreadPool> pool;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
  std::shared_ptr<net::TlsContext> tls;  // set at start() when options.tls.enabled
  DispatchPolicy policy;
  std::unique_ptr<rpc::ThreadPool> ordered;  // `connection`: connect/disconnect in order
  std::atomic<std::uint64_t> blocked_io{0};
  std::mutex blocked_mu;
  std::unordered_set<std::string> blocked_logged;  // service.method already logged
  std::uint16_t port = 0;
  std::string bound_host;

  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> rejected_connections{0};
  std::atomic<std::uint64_t> rejected_in_flight{0};
  std::atomic<std::uint64_t> shed{0};                // dropped before running: caller gone
  std::atomic<std::uint64_t> duplicate_ids{0};       // refused: id in flight on the connection
  std::atomic<std::uint64_t> oversize_responses{0};  // results dropped: too large to send
  std::atomic<std::uint64_t> rejected_limit{0};      // refused by a method's limits (tern/overload.h)
  std::atomic<std::uint64_t> handler_errors{0};
  std::atomic<std::uint64_t> adaptive_promotions{0};  // methods moved to the IO thread (`adaptive`)
  std::atomic<std::uint64_t> adaptive_demotions{0};   // ... and back to the pool
  std::atomic<std::uint64_t> unanswered_calls{0};    // ServerCalls destroyed unanswered (tern/server_call.h)
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<bool> shutting_down{false};
  std::shared_ptr<rpc::GrpcHealth> health;  // grpc.health.v1.Health, when served (set at start)

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_set<std::shared_ptr<rpc::ServerSession>> sessions;  // guarded by mu
  bool started = false;
  bool stopped = false;
  std::atomic<std::uint64_t> next_connection_id{1};
  std::function<void(std::uint64_t)> connect_listener;
  std::function<void(std::uint64_t)> disconnect_listener;

  void observe(DispatchEvent e) {
    if (options.event_observer) options.event_observer(e, net::IoContextPool::in_io_thread());
  }

  // Runs a connect/disconnect/heartbeat event where the policy says. Never
  // drops it: a full pool runs it inline.
  void dispatch_event(DispatchEvent e, detail::UniqueFunction<void()> fn) {
    if (policy.ordered_connection_events && (e == DispatchEvent::kConnect || e == DispatchEvent::kDisconnect)) {
      if (ordered && ordered->try_submit(std::move(fn))) return;
    } else if (policy.pooled(e) && pool) {
      if (pool->try_submit(std::move(fn))) return;
    }
    fn();  // not pooled, or the pool refused: run here, never drop the event
  }

  void session_opened(const std::shared_ptr<rpc::ServerSession>& s) {
    std::uint64_t id = s->id();
    dispatch_event(DispatchEvent::kConnect, [self = shared_from_this(), id] {
      self->observe(DispatchEvent::kConnect);
      if (self->connect_listener) self->connect_listener(id);
    });
  }

  // Streams (src/server/stream_methods.cc): service -> method -> handler,
  // looked up by string_view without building a key (a gRPC request asks
  // for every call whether its method is a stream).
  server_impl::StringMap<server_impl::StringMap<server_impl::StreamEntry>> stream_methods;  // immutable after start
  // The stream method `service`/`method`; null when there is none.
  const server_impl::StreamEntry* find_stream(std::string_view service, std::string_view method) const noexcept {
    auto s = stream_methods.find(service);
    if (s == stream_methods.end()) return nullptr;
    auto m = s->second.find(method);
    return m == s->second.end() ? nullptr : &m->second;
  }
  std::atomic<std::uint64_t> streams_opened{0};
  // A consumer opened a stream on `session` (its IO thread): runs the
  // handler where the dispatcher says, or finishes it with the reason it
  // cannot run (UNIMPLEMENTED, UNAVAILABLE while shutting down, RESOURCE_EXHAUSTED).
  void open_stream(const std::shared_ptr<rpc::ServerSession>& session, std::shared_ptr<rpc::StreamCall> call);
  // Where the completions of a stream's operations run (the business pool
  // when requests go there, else the IO loop).
  rpc::StreamDispatch stream_dispatch(asio::io_context& loop, bool pooled);
  // One fewer call or stream in flight (wakes a graceful shutdown).
  void end_in_flight() {
    if (in_flight.fetch_sub(1, std::memory_order_acq_rel) == 1 && shutting_down.load()) {
      std::lock_guard lock(mu);
      cv.notify_all();
    }
  }

  void do_accept();
  // Serves a connection over `transport` (accepted, or a test's memory pipe;
  // src/server/server_test_access.h).
  void open_session(std::unique_ptr<net::Transport> transport);
  void handle_request(const std::shared_ptr<rpc::ServerSession>& session, protocol::Frame&& frame);
  void run(ServerCall& call, const server_impl::MethodEntry& method);
  // After a run of a method dispatched `adaptive` (src/server/dispatch.cc):
  // records it (less the time this thread spent waiting for a CPU, when the
  // run was long), and logs and counts a move between the pool and the IO thread.
  // Before a run of a method dispatched `adaptive`, on the thread that runs it.
  void placement_begin(std::chrono::steady_clock::time_point start);
  void note_placement(const server_impl::MethodEntry& method, bool on_io, std::chrono::nanoseconds took);
  void session_closed(const std::shared_ptr<rpc::ServerSession>& s) {
    std::uint64_t id = s->id();
    dispatch_event(DispatchEvent::kDisconnect, [self = shared_from_this(), id] {
      self->observe(DispatchEvent::kDisconnect);
      if (self->disconnect_listener) self->disconnect_listener(id);
    });
    std::lock_guard lock(mu);
    sessions.erase(s);
    cv.notify_all();
  }

  // A connection's heartbeat event (the pong rpc::Session built for a
  // ping), run where the dispatch policy puts heartbeats and counted.
  void heartbeat(detail::UniqueFunction<void()> answer) {
    dispatch_event(DispatchEvent::kHeartbeat, [self = shared_from_this(), answer = std::move(answer)]() mutable {
      self->observe(DispatchEvent::kHeartbeat);
      answer();
    });
  }
};

}  // namespace tern
