// Token authentication filters (tern/auth.h).
#include "tern/auth.h"

#include <stdexcept>

#include "tern/server_context.h"

namespace tern {

bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
  // Every byte of `b` is visited whatever `a` holds; the length difference
  // is folded into the result instead of returning early.
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < b.size(); ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff |= static_cast<unsigned>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

TokenAuthServerFilter::TokenAuthServerFilter(std::vector<std::string> tokens,
                                             std::set<std::string, std::less<>> open_services)
    : tokens_(std::move(tokens)), open_services_(std::move(open_services)) {
  if (tokens_.empty()) throw std::invalid_argument("TokenAuthServerFilter: no token given");
  for (auto& t : tokens_) {
    if (t.empty()) throw std::invalid_argument("TokenAuthServerFilter: empty token");
  }
}

Status TokenAuthServerFilter::on_request(ServerContext& context) {
  if (!open_services_.empty() && open_services_.contains(context.service())) return Status();
  std::string_view given = context.attachment(kTokenAttachment);
  if (given.empty()) return Status(StatusCode::kUnauthenticated, "missing token", false);
  bool ok = false;
  for (auto& t : tokens_) ok |= constant_time_equals(given, t);  // no early exit either
  if (!ok) return Status(StatusCode::kUnauthenticated, "invalid token", false);
  return Status();
}

Status TokenAuthClientFilter::on_request(ClientInvocation& invocation) {
  auto& a = *invocation.attachments;
  for (auto& [k, v] : a) {
    if (k == kTokenAttachment) {
      v = token_;
      return Status();
    }
  }
  a.emplace_back(std::string(kTokenAttachment), token_);
  return Status();
}

}  // namespace tern
