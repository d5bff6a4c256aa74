// The provider's lifecycle (tern/server.h): start() (the built-in
// services, the business pool, the IO threads, the listening socket), the
// acceptor (max_connections, a session per connection), the bound address
// and provider URLs, and the graceful shutdown(). Requests are server.cc's.
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "net/listen_address.h"
#include "net/transport.h"
#include "server/grpc_builtin_protos.h"
#include "server/grpc_health.h"
#include "server/grpc_reflection.h"
#include "server/reflection_service.h"
#include "server/server_impl.h"
#include "server/server_session.h"
#include "tern/contract.h"
#include "tern/log.h"
#include "tern/net/connection.h"
#include "tern/net/io_context_pool.h"
#include "tern/net/tls_context.h"
#include "tern/server.h"

namespace tern {

void Server::Impl::do_accept() {
  auto& loop = io->next();
  acceptor->async_accept(loop, [self = shared_from_this()](std::error_code ec, asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !self->acceptor->is_open()) return;
      TERN_LOG(kWarn, "accept failed: {}", ec.message());
      self->do_accept();
      return;
    }
    if (self->shutting_down.load()) return;
    if (std::size_t max = self->options.max_connections; max > 0) {
      std::size_t open = 0;
      {
        std::lock_guard lock(self->mu);
        open = self->sessions.size();
      }
      if (open >= max) {
        auto n = self->rejected_connections.fetch_add(1, std::memory_order_relaxed);
        if (n % 1000 == 0) {
          std::error_code ignored;
          auto peer = socket.remote_endpoint(ignored);
          TERN_LOG(kWarn, "connection from {}:{} refused: {} connections open (max_connections); {} refused so far",
                   peer.address().to_string(), peer.port(), open, n + 1);
        }
        std::error_code ignored;
        socket.close(ignored);
        self->do_accept();
        return;
      }
    }
    self->open_session(net::make_tcp_transport(std::move(socket)));
    self->do_accept();
  });
}

// A provider connection over `transport` (accepted TCP, or a test's memory pipe).
void Server::Impl::open_session(std::unique_ptr<net::Transport> transport) {
  rpc::SessionOptions so{options.limits, options.heartbeat_interval};
  auto session = std::make_shared<rpc::ServerSession>(shared_from_this(), so, next_connection_id.fetch_add(1));
  net::Connection::Options co;
  co.max_write_queue = options.max_write_queue_bytes;
  if (tls) {
    co.tls = tls;
    co.connect_timeout = options.tls.handshake_timeout;
  }
  auto conn = net::Connection::adopt(std::move(transport), co);
  session->set_peer(conn->remote_text());
  {
    std::lock_guard lock(mu);
    sessions.insert(session);
  }
  // The connect event first: attach() starts the connection on its own IO
  // loop (io->next(), often not this acceptor's loop), which may read the
  // consumer's close and dispatch the disconnect event before this handler
  // continues. Dispatched before attach(), the connect event is queued (or
  // run) before anything can close the connection, so `connection`'s
  // ordered queue sees connect before disconnect.
  session_opened(session);
  session->attach(std::move(conn));
}

Status Server::start() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    if (im.started) return Status(StatusCode::kFailedPrecondition, "server already started");
  }
  auto listen = net::parse_listen_address(im.options.listen, net::HostNames::kReject);
  if (!listen) return listen.status();

  auto policy = dispatch_policy(im.options.dispatcher);
  if (!policy) return policy.status();
  if (Status s = validate_adaptive_options(im.options.adaptive); !s.is_ok()) return s;
  if (im.options.reflection && !im.services.contains(kReflectionService)) {
    // Rendered once, from the services exposed by now (immutable from here on).
    std::vector<rpc::ReflectedService> reflected;
    for (auto& [name, svc] : im.services) {
      reflected.push_back(rpc::ReflectedService{name, svc.options.version, svc.options.group, svc.method_names,
                                                svc.description.is_null() ? nullptr : &svc.description,
                                                &svc.stream_descriptions});
    }
    for (auto& [method, handler] : rpc::make_reflection_handlers(std::move(reflected))) {
      if (Status s = add_method(std::string(kReflectionService), method, std::move(handler)); !s.is_ok()) return s;
    }
  }
  // The gRPC built-ins (docs/grpc.md): served on both wires, never registered.
  std::shared_ptr<rpc::GrpcReflection> grpc_reflection;
  if (im.options.grpc_health && !im.services.contains(rpc::kGrpcHealthService)) {
    auto health = rpc::GrpcHealth::create();
    if (Status s = health->install(*this); !s.is_ok()) return s;
    im.health = std::move(health);
  }
  if (im.options.grpc_reflection && !im.services.contains(rpc::kGrpcReflectionService)) {
    grpc_reflection = rpc::GrpcReflection::create();
    if (Status s = grpc_reflection->install(*this); !s.is_ok()) return s;
  }
  {
    std::vector<std::string> names;
    for (auto& [name, svc] : im.services) names.push_back(name);
    if (im.health) im.health->set_services(names);
    if (grpc_reflection) grpc_reflection->set_services(names);
  }
  im.policy = *policy;
  if (im.options.tls.enabled) {
    auto tls = net::TlsContext::create(im.options.tls, net::TlsContext::Role::kServer);
    if (!tls) return tls.status();
    im.tls = std::move(*tls);
  }
  bool need_pool = false;
  for (auto& s : im.policy.on_pool) need_pool = need_pool || s;
  for (auto& [name, svc] : im.services) {
    if (Status s = server_impl::build_limiters(name, svc, svc.options.limit, svc.options.method_limits); !s.is_ok()) return s;
    svc.pooled = im.policy.pooled(DispatchEvent::kRequest);
    bool adaptive = im.policy.adaptive_requests;
    if (!svc.options.dispatcher.empty()) {
      auto sp = dispatch_policy(svc.options.dispatcher);
      if (!sp) return sp.status();
      svc.pooled = sp->pooled(DispatchEvent::kRequest);
      adaptive = sp->adaptive_requests;
    }
    for (auto& [method, entry] : svc.methods) {
      entry.placement = adaptive ? std::make_unique<server_impl::AdaptivePlacement>(im.options.adaptive) : nullptr;
    }
    need_pool = need_pool || svc.pooled;
  }
  for (auto& [service, methods] : im.stream_methods) {
    for (auto& [method, entry] : methods) need_pool = need_pool || entry.blocking;
  }
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::size_t workers = im.options.worker_threads ? im.options.worker_threads : std::max<std::size_t>(4, 2 * cores);
  if (need_pool) {
    rpc::ThreadPoolOptions po;
    po.kind = im.options.pool;
    po.max_threads = workers;
    po.max_queue = im.options.worker_queue;
    po.keep_alive = im.options.pool_keep_alive;
    auto pool = rpc::ThreadPool::create(po);
    if (!pool) return pool.status();
    im.pool = std::move(*pool);
  }
  if (im.policy.ordered_connection_events) {
    im.ordered = std::make_unique<rpc::ThreadPool>(1, 1u << 20, "tern-conn-ev");
  }
  im.io = std::make_unique<net::IoContextPool>(im.options.io_threads, "tern-srv-io");

  im.acceptor = std::make_unique<asio::ip::tcp::acceptor>(im.io->at(0));
  const asio::ip::tcp::endpoint& ep = listen->endpoint;
  std::error_code ec;
  im.acceptor->open(ep.protocol(), ec);
  if (!ec) ::fcntl(im.acceptor->native_handle(), F_SETFD, FD_CLOEXEC);  // not inherited by children
  if (!ec) im.acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) im.acceptor->set_option(asio::ip::v6_only(false), ec);
  if (!ec) im.acceptor->bind(ep, ec);
  if (!ec) im.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    if (im.pool) im.pool->stop(false);
    return Status(StatusCode::kUnavailable, "cannot listen on " + im.options.listen + ": " + ec.message());
  }
  im.port = im.acceptor->local_endpoint(ec).port();
  im.bound_host = ep.address().is_unspecified() ? im.options.announce_host : listen->host_port.host;
  {
    std::lock_guard lock(im.mu);
    im.started = true;
  }
  im.io->start();
  asio::post(im.io->at(0), [self = impl_] { self->do_accept(); });
  return Status();
}

std::uint16_t Server::port() const noexcept { return impl_->port; }

HostPort Server::address() const { return HostPort{impl_->bound_host, impl_->port}; }

std::vector<Url> Server::provider_urls() const {
  std::vector<Url> out;
  std::lock_guard lock(impl_->mu);
  for (auto& [name, svc] : impl_->services) {
    // Built-ins are reachable at every provider; never registered.
    if (name == kReflectionService || name == rpc::kGrpcHealthService || name == rpc::kGrpcReflectionService) continue;
    Url u("tern", {address()}, name);
    for (auto& [k, v] : svc.options.parameters) u.set_param(k, v);
    std::string methods;
    for (auto& m : svc.method_names) methods += (methods.empty() ? "" : ",") + m;
    u.set_param("methods", methods);
    // The contract check (tern/contract.h): each typed method's signature and digest.
    if (auto c = server_impl::contract_param(svc); !c.empty()) u.set_param(std::string(kContractUrlParam), c);
    u.set_param("weight", std::to_string(svc.options.weight));
    // The same port answers the Tern protocol and gRPC (h2c, or h2 by ALPN
    // over TLS; docs/grpc.md), so gRPC-only consumers and `tern ls` see both.
    u.set_param("protocols", "tern,grpc");
    if (!svc.options.version.empty()) u.set_param("version", svc.options.version);
    if (!svc.options.group.empty()) u.set_param("group", svc.options.group);
    out.push_back(std::move(u));
  }
  return out;
}

void Server::shutdown(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    if (!im.started || im.stopped) {
      im.stopped = true;
      im.cv.notify_all();
      return;
    }
  }
  im.shutting_down.store(true);
  if (im.health) im.health->stop_serving();  // gRPC health watchers hear NOT_SERVING
  if (im.acceptor) {
    // Close the listening socket on its loop and wait, so the port is free
    // when shutdown() returns (and no accept handler keeps Impl alive).
    auto closed = std::make_shared<std::promise<void>>();
    auto done = closed->get_future();
    asio::post(im.io->at(0), [self = impl_, closed] {
      std::error_code ec;
      self->acceptor->close(ec);
      closed->set_value();
    });
    done.wait_for(std::chrono::seconds(2));
  }
  std::vector<std::shared_ptr<rpc::ServerSession>> sessions;
  {
    std::lock_guard lock(im.mu);
    sessions.assign(im.sessions.begin(), im.sessions.end());
  }
  for (auto& s : sessions) s->send_frame(protocol::encode_control_frame(protocol::FrameType::kGoaway, 0));
  {
    // Drain: running handlers finish, and consumers close their connections
    // (a Tern consumer closes one after its goaway once no call is pending on
    // it). Closing earlier could cut off a request in transit (sent before
    // the consumer read the goaway): its caller could not tell whether it ran.
    // Requests arriving meanwhile are answered UNAVAILABLE, not executed.
    auto until = std::chrono::steady_clock::now() + grace;
    std::unique_lock lock(im.mu);
    im.cv.wait_until(lock, until, [&] { return im.in_flight.load() <= 0; });
    im.cv.wait_until(lock, until, [&] { return im.sessions.empty(); });
  }
  for (auto& s : sessions) s->close(Status(StatusCode::kUnavailable, "provider shut down"));
  {
    std::unique_lock lock(im.mu);
    im.cv.wait_for(lock, std::chrono::milliseconds(1000), [&] { return im.sessions.empty(); });
  }
  if (im.pool) im.pool->stop(true);
  if (im.ordered) im.ordered->stop(true);
  im.io->stop();
  sessions.clear();  // our copies: no session may outlive the loops below
  {
    std::lock_guard lock(im.mu);
    im.sessions.clear();
  }
  // What the close handlers queued last (a stream's finish, a handler's end
  // reaching the filters) runs here, on this thread, as the consumer's
  // shutdown does (ChannelPool::shutdown): the IO threads are joined and the
  // pools stopped, so nothing runs beside it. Whatever is left after that
  // holds the Impl (a reference cycle through the io_contexts it owns):
  // destroy it now.
  im.io->drain();
  im.acceptor.reset();
  im.io.reset();
  {
    std::lock_guard lock(im.mu);
    im.stopped = true;
  }
  im.cv.notify_all();
}

void Server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->stopped; });
}

}  // namespace tern
