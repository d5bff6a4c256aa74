// Picking a provider for one attempt: the routers of the call's policy narrow
// the directory (tern/cluster/router.h; the call's attachments read from the
// request frame's metadata only when a rule needs them), then the load
// balancer picks among the providers not tried yet. See
// src/proxy/client_core.h (ReferenceCore::pick, route).
#include <algorithm>
#include <vector>

#include "proxy/client_core.h"
#include "tern/cluster/load_balancer.h"
#include "tern/cluster/router.h"
#include "tern/protocol/frame.h"

namespace tern {

namespace {

// Keys of the request metadata that name the call rather than attach to it.
bool reserved_meta_key(std::string_view k) {
  return k == protocol::meta_keys::kService || k == protocol::meta_keys::kMethod ||
         k == protocol::meta_keys::kVersion || k == protocol::meta_keys::kGroup ||
         k == protocol::meta_keys::kAcceptCompression;
}

// The call's attachments as routers see them (tern/cluster/router.h): views
// into the metadata of the request frame `frame` (compression touches only
// the body), reserved keys left out, propagated ones ("^k") under their
// name. Only decoded when a router needs them.
void frame_attachments(std::string_view frame, std::vector<cluster::RouteAttachment>& out) {
  if (frame.size() < protocol::kHeaderSize) return;
  auto h = protocol::decode_header_unchecked(frame.data());
  if (frame.size() - protocol::kHeaderSize < h.meta_len) return;
  (void)protocol::for_each_meta(frame.substr(protocol::kHeaderSize, h.meta_len),
                                [&](std::string_view k, std::string_view v) {
                                  if (reserved_meta_key(k)) return;
                                  if (!k.empty() && k[0] == '^') k.remove_prefix(1);
                                  out.emplace_back(k, v);
                                });
}

}  // namespace

Status ReferenceCore::route(const CallPolicy& policy, const Directory& dir, std::string_view method, std::string_view request,
                            const StreamMetadata* metadata, std::vector<cluster::Invoker*>& out) const {
  thread_local std::vector<cluster::RouteAttachment> attachments;
  attachments.clear();
  const cluster::RouterChain& routers = *policy.routers;
  if (routers.needs_attachments()) {
    if (metadata) {
      for (const auto& [k, v] : *metadata) {
        if (reserved_meta_key(k)) continue;
        std::string_view key = k;
        if (!key.empty() && key[0] == '^') key.remove_prefix(1);
        attachments.emplace_back(key, v);
      }
    } else {
      frame_attachments(request, attachments);
    }
  }
  cluster::RouteContext context{service, method, consumer_application, consumer_host, attachments};
  return routers.route(dir.ptrs, context, out);
}

Result<std::shared_ptr<EndpointInvoker>> ReferenceCore::pick(const CallPolicy& policy, const Directory& dir,
                                                             std::string_view method,
                                                             std::string_view request,
                                                             const std::vector<std::string>& exclude,
                                                             const StreamMetadata* metadata) const {
  cluster::Invocation inv{service, method, {}};
  std::span<cluster::Invoker* const> candidates = dir.ptrs;
  if (!policy.routers->empty()) {
    thread_local std::vector<cluster::Invoker*> routed;  // outlives this block: `candidates` views it
    if (Status s = route(policy, dir, method, request, metadata, routed); !s.is_ok()) return s;
    candidates = routed;
  }
  cluster::Invoker* picked = nullptr;
  if (exclude.empty()) {
    picked = policy.lb->select(candidates, inv);
  } else {
    std::vector<cluster::Invoker*> untried;
    untried.reserve(candidates.size());
    for (auto* p : candidates) {
      if (std::find(exclude.begin(), exclude.end(), p->id()) == exclude.end()) untried.push_back(p);
    }
    if (untried.empty()) return std::shared_ptr<EndpointInvoker>();
    picked = policy.lb->select(untried, inv);
  }
  for (std::size_t i = 0; i < dir.ptrs.size(); ++i) {
    if (dir.ptrs[i] == picked) return dir.owners[i];
  }
  return std::shared_ptr<EndpointInvoker>();
}

}  // namespace tern
