// Consumer streams through a Reference: the load balancer picks one provider
// at open and the stream stays on it (tern/stream.h open_stream).
#include <algorithm>

#include "proxy/client_core.h"
#include "tern/server_context.h"
#include "tern/stream.h"

namespace tern {

Result<std::shared_ptr<RawStream>> open_stream(Reference& ref, std::string_view method, const CallOptions* options) {
  ReferenceCore& core = *ref.core_;
  auto dir = core.snapshot();
  if (!dir || dir->ptrs.empty()) {
    return Status(StatusCode::kUnavailable, "no provider for service '" + core.service + "'", false);
  }
  auto ep = core.pick(*dir, method, {});
  if (!ep) return Status(StatusCode::kUnavailable, "no available provider for service '" + core.service + "'", false);

  std::chrono::milliseconds timeout = core.options.timeout;
  if (options && options->timeout.count() > 0) timeout = options->timeout;
  StreamMetadata md;
  if (!core.options.version.empty()) md.emplace_back(std::string(protocol::meta_keys::kVersion), core.options.version);
  if (!core.options.group.empty()) md.emplace_back(std::string(protocol::meta_keys::kGroup), core.options.group);
  if (options) {
    for (const auto& [k, v] : options->attachments) {
      if (k.empty() || k[0] == '^' || k == protocol::meta_keys::kService || k == protocol::meta_keys::kMethod ||
          k == protocol::meta_keys::kVersion || k == protocol::meta_keys::kGroup) {
        return Status(StatusCode::kInvalidArgument, "attachment key '" + k + "' is reserved");
      }
      md.emplace_back(k, v);
    }
    for (const auto& [k, v] : options->propagated) md.emplace_back("^" + k, v);
  }
  // A stream opened while serving a call inherits its remaining deadline.
  if (ServerContext* ctx = ServerContext::current()) {
    auto remaining = ctx->remaining();
    if (remaining.count() > 0) timeout = std::min(timeout, remaining);
  }
  ep->attempts.fetch_add(1, std::memory_order_relaxed);
  return ep->channel()->open_stream(core.service, std::string(method), core.serialization_id, timeout, std::move(md));
}

}  // namespace tern
