// Consumer streams through a Reference: the routers and the load balancer
// pick one provider at open and the stream stays on it (tern/stream.h open_stream).
#include <algorithm>
#include <memory>
#include <vector>

#include "proxy/call_observers.h"
#include "proxy/client_core.h"
#include "proxy/consumer_stream.h"
#include "rpc/stream_hub.h"
#include "tern/filter.h"
#include "tern/server_context.h"
#include "tern/stream.h"

namespace tern {

Result<std::shared_ptr<RawStream>> open_stream(Reference& ref, std::string_view method, const CallOptions* options) {
  ReferenceCore& core = *ref.core_;
  // Opened inside the client's shutdown gate (src/proxy/consumer_stream.h):
  // what this posts is posted before the Client's destruction drains its
  // loops, or it is refused here, before any filter saw the stream.
  ClientCore& client = *core.client;
  ClientCore::StreamOpGuard admitted(client);
  if (!admitted) return Status(StatusCode::kCancelled, "consumer shut down");
  auto dir = core.snapshot();
  if (!dir || dir->ptrs.empty()) {
    return core.no_provider();
  }

  // A stream has no deadline unless the caller gives one (as in gRPC):
  // watch and subscribe streams live as long as their consumer wants. The
  // reference's timeout is a unary call's default, not a stream's.
  std::chrono::milliseconds timeout{0};
  if (options && options->timeout.count() > 0) timeout = options->timeout;
  // Consumer filters see the stream once: on_request now (their
  // attachments, e.g. an auth token, win over the caller's), on_response
  // when it ends, with its duration and the message bytes of each direction.
  auto& filters = core.client->options.filters;
  std::vector<std::pair<std::string, std::string>> extra;
  for (auto& f : filters) {
    ClientInvocation inv{core.service, method, &extra};
    if (Status s = f->on_request(inv); !s.is_ok()) return s;
  }
  auto reserved = [](std::string_view k) {
    return k.empty() || k[0] == '^' || k == protocol::meta_keys::kService || k == protocol::meta_keys::kMethod ||
           k == protocol::meta_keys::kVersion || k == protocol::meta_keys::kGroup;
  };
  StreamMetadata md;
  if (!core.options.version.empty()) md.emplace_back(std::string(protocol::meta_keys::kVersion), core.options.version);
  if (!core.options.group.empty()) md.emplace_back(std::string(protocol::meta_keys::kGroup), core.options.group);
  for (const auto& [k, v] : extra) {
    if (reserved(k)) return Status(StatusCode::kInvalidArgument, "attachment key '" + k + "' is reserved");
    md.emplace_back(k, v);
  }
  if (options) {
    for (const auto& [k, v] : options->attachments) {
      if (reserved(k)) return Status(StatusCode::kInvalidArgument, "attachment key '" + k + "' is reserved");
      const std::string& key = k;  // clang < 16 cannot capture a structured binding
      if (std::any_of(extra.begin(), extra.end(), [&](const auto& e) { return e.first == key; })) continue;
      md.emplace_back(k, v);
    }
    for (const auto& [k, v] : options->propagated) md.emplace_back("^" + k, v);
  }
  if (ServerContext* ctx = ServerContext::current()) {
    // Opened while serving a call or a stream: carry its propagated
    // attachments and inherit its remaining deadline.
    ctx->for_each_propagated([&](std::string_view k, std::string_view v) {
      bool overridden = false;
      if (options) {
        for (const auto& [ok, ov] : options->propagated) overridden = overridden || ok == k;
      }
      if (!overridden) md.emplace_back("^" + std::string(k), std::string(v));
    });
    if (ctx->has_deadline()) {
      auto remaining = std::max(ctx->remaining(), std::chrono::milliseconds(1));
      timeout = timeout.count() > 0 ? std::min(timeout, remaining) : remaining;
    }
  }
  // Routed and picked once the metadata is known: routers may read its attachments.
  auto picked = core.pick(*dir->policy, *dir, method, {}, {}, &md);
  if (!picked) return picked.status();  // a routing rule's error
  auto ep = std::move(*picked);
  if (!ep) return Status(StatusCode::kUnavailable, "no available provider for service '" + core.service + "'", false);
  std::shared_ptr<ClientCallObserver> observer = observe_stream(filters, core.service, method, md);  // tracing
  if (observer) observer->on_attempt(ep->id(), ClientCallObserver::AttemptKind::kFirst);
  ep->attempts.fetch_add(1, std::memory_order_relaxed);
  auto stream = ep->channel()->open_stream(core.service, std::string(method), core.serialization_id, timeout,
                                          std::move(md));
  if (stream && !filters.empty()) {
    auto started = std::chrono::steady_clock::now();
    // The filters, not the consumer's core: this callback may wait in the
    // core's own loop or callback pool when the consumer shuts down, and a
    // core held from there would never be destroyed (nor its loops, pool
    // and channels).
    std::vector<std::shared_ptr<ClientFilter>> fs = filters;
    std::weak_ptr<RawStream> weak = stream;
    stream->await_status([fs = std::move(fs), weak, started, observer, service = core.service,
                          m = std::string(method)](Status st) {
      CallBytes bytes;
      bytes.stream = true;
      if (auto s = std::dynamic_pointer_cast<rpc::StreamCall>(weak.lock())) {
        bytes.sent = s->bytes_sent();
        bytes.received = s->bytes_received();
        bytes.messages_sent = s->messages_sent();
        bytes.messages_received = s->messages_received();
      }
      auto latency = std::chrono::steady_clock::now() - started;
      for (auto it = fs.rbegin(); it != fs.rend(); ++it) (*it)->on_response(service, m, st, latency, bytes);
      if (observer) observer->on_end(st, latency, bytes);
    });
  }
  if (!stream) return stream;
  return std::shared_ptr<RawStream>(std::make_shared<ConsumerStream>(std::move(stream), core.client));
}

}  // namespace tern
