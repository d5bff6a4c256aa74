// The provider's streams: stream method registration, the per-connection
// StreamHub, and running a stream handler where the dispatcher says
// (tern/server.h add_stream_method, docs/streaming.md).
#include <asio/post.hpp>

#include <algorithm>

#include "rpc/stream_hub.h"
#include "server/server_impl.h"
#include "server/stream_context.h"
#include "tern/log.h"

namespace tern {

Status Server::add_stream_method(const std::string& service, const std::string& method, RawStreamHandler handler,
                                 const ServiceOptions& options) {
  return add_stream_entry(service, method, std::move(handler), false, StreamKind::kBidi, nullptr, options);
}

Status Server::add_stream_method(const std::string& service, const std::string& method, StreamKind kind,
                                 RawStreamHandler handler, const ServiceOptions& options) {
  return add_stream_entry(service, method, std::move(handler), false, kind, nullptr, options);
}

Status Server::add_stream_entry(const std::string& service, const std::string& method, RawStreamHandler handler,
                                bool blocking, StreamKind kind, nlohmann::json description,
                                const ServiceOptions& options) {
  if (!handler) return Status(StatusCode::kInvalidArgument, "stream method " + service + "." + method + ": no handler");
  // The unary entry names the method in the service's list and answers a
  // unary request for it clearly.
  std::string what = service + "." + method;
  Status s = add_method(
      service, method,
      [what](ServerCall& call) {
        call.fail(Status(StatusCode::kUnimplemented, "method '" + what + "' is a stream method: open it as a stream"));
      },
      options);
  if (!s.is_ok()) return s;
  if (!description.is_object()) description = {{"args", nullptr}, {"result", nullptr}};
  description["stream"] = std::string(stream_kind_name(kind));
  std::lock_guard lock(impl_->mu);
  impl_->services.find_or_add(service).stream_descriptions[method] = std::move(description);
  impl_->stream_methods[service][method] = server_impl::StreamEntry{std::move(handler), blocking};
  return Status();
}

rpc::StreamDispatch Server::Impl::stream_dispatch(asio::io_context& loop, bool pooled) {
  if (!pooled || !pool) {
    return [&loop](detail::UniqueFunction<void()> fn) { asio::post(loop, std::move(fn)); };
  }
  rpc::ThreadPool* p = pool.get();
  return [p, &loop](detail::UniqueFunction<void()> fn) {
    // A full pool must not lose a completion: run it on the IO loop instead.
    auto shared = std::make_shared<detail::UniqueFunction<void()>>(std::move(fn));
    if (!p->try_submit([shared] { (*shared)(); })) asio::post(loop, [shared] { (*shared)(); });
  };
}

void Server::Impl::open_stream(const std::shared_ptr<rpc::ServerSession>& session,
                               std::shared_ptr<rpc::StreamCall> call) {
  requests.fetch_add(1, std::memory_order_relaxed);
  streams_opened.fetch_add(1, std::memory_order_relaxed);
  if (shutting_down.load(std::memory_order_acquire)) {
    call->finish(Status(StatusCode::kUnavailable, "provider is shutting down"), {});
    return;
  }
  const server_impl::StreamEntry* found = find_stream(call->service(), call->method());
  if (found == nullptr) {
    std::string why = services.contains(call->service())
                          ? "unknown stream method '" + call->service() + "." + call->method() + "'"
                          : "unknown service '" + call->service() + "'";
    call->finish(Status(StatusCode::kUnimplemented, std::move(why)), {});
    return;
  }
  const server_impl::StreamEntry& entry = *found;
  const auto* svc = services.find(call->service());
  const bool pooled = entry.blocking || (svc != nullptr && svc->pooled);
  asio::io_context& loop = session->connection()->loop();
  // A blocking handler waits for its completions on a pool thread: they run
  // on the IO loop, so a pool full of blocked handlers cannot starve them.
  call->set_dispatch(stream_dispatch(loop, pooled && !entry.blocking));
  in_flight.fetch_add(1, std::memory_order_relaxed);
  const RawStreamHandler* handler = &entry.handler;
  // The stream's ServerContext: filters see it, the handler finds it in
  // ServerContext::current() (restored after each stream co_await).
  auto state = std::make_shared<detail::StreamContextState>(call, session);
  auto run = [self = shared_from_this(), call, handler, state]() mutable {
    self->observe(DispatchEvent::kRequest);
    const auto& filters = self->options.filters;
    auto end = [self, call, state](Status final) {
      const auto& fs = self->options.filters;
      auto latency = std::chrono::steady_clock::now() - state->started;
      for (std::size_t i = state->filters_ran; i-- > 0;) fs[i]->on_response(state->context, final, latency);
      call->finish(std::move(final), std::move(state->response_attachments));
      self->end_in_flight();
    };
    ServerContext::Scope scope(&state->context);
    for (const auto& f : filters) {
      ++state->filters_ran;
      if (Status st = f->on_request(state->context); !st.is_ok()) {
        end(std::move(st));  // refused: the handler never runs
        return;
      }
    }
    Task<Status> task = [&]() -> Task<Status> {
      try {
        return (*handler)(call);
      } catch (const std::exception& e) {
        self->handler_errors.fetch_add(1, std::memory_order_relaxed);
        return [](std::string what) -> Task<Status> { co_return Status(StatusCode::kInternal, what, true); }(e.what());
      }
    }();
    std::move(task).start([end = std::move(end)](Result<Status> r) mutable {
      end(r.has_value() ? std::move(*r) : r.status());
    });
  };
  if (!pooled || !pool) {
    run();
    return;
  }
  auto shared = std::make_shared<decltype(run)>(std::move(run));
  if (!pool->try_submit([shared] { (*shared)(); })) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    end_in_flight();
    call->finish(Status(StatusCode::kResourceExhausted, "provider's business pool is full"), {});
  }
}

namespace rpc {

void ServerSession::on_stream_frame(const protocol::Frame& frame) {
  if (!streams_) {
    auto self = std::static_pointer_cast<ServerSession>(shared_from_this());
    std::weak_ptr<ServerSession> weak = self;
    stream::StreamOptions so;
    so.max_message_bytes = std::min(so.max_message_bytes, server_->options.limits.max_body);
    so.max_concurrent_streams = std::max<std::uint32_t>(1, server_->options.max_concurrent_streams);
    streams_ = std::make_shared<StreamHub>(
        stream::Role::kServer, so, connection()->loop(), peer_,
        [weak](std::string bytes) {
          if (auto s = weak.lock()) s->send_frame(std::move(bytes));
        },
        [weak](const Status& why) {
          if (auto s = weak.lock()) {
            TERN_LOG(kWarn, "closing connection from {}: {}", s->peer(), why.message());
            s->close(why);
          }
        },
        [&loop = connection()->loop()](detail::UniqueFunction<void()> fn) { asio::post(loop, std::move(fn)); },
        [weak](std::shared_ptr<StreamCall> call) {
          if (auto s = weak.lock()) s->server_->open_stream(s, std::move(call));
        });
  }
  streams_->feed(frame);
}

}  // namespace rpc
}  // namespace tern
