// src/cluster/router/tag_router.h - `tag`: static tag routing, as Dubbo's
// TagRouter (docs/governance.md "Tag routing").
//
// A provider's tag is its URL parameter `tag` (ServiceOptions::parameters);
// a call's tag is its attachment `tern.tag` (cluster::kTagAttachment), set
// per call with CallOptions::attachments or propagated ("^tern.tag") along a
// call chain.
//   - a call with tag T goes to the providers tagged T; when none is, to the
//     untagged providers (force=false, default) or fails UNAVAILABLE naming
//     the tag (force=true);
//   - a call without a tag (or with an empty one) goes to untagged providers
//     only: a tagged provider (a canary) receives only the calls asking for
//     its tag.
// When even the fallback is empty (no untagged provider), the call fails
// UNAVAILABLE: it never falls through to every provider.
//
// Rule: empty, or `force`, `force=true`, `force=false`.
// Thread safety: route() reads only its immutable options; concurrent calls
// are safe. Complexity: O(providers) per call.
#pragma once

#include <string>
#include <string_view>

#include "tern/cluster/router.h"

namespace tern::cluster::router {

class TagRouter final : public Router {
 public:
  static constexpr std::string_view kName = "tag";

  // INVALID_ARGUMENT naming the position and token for a malformed rule.
  static Result<std::unique_ptr<Router>> create(std::string_view rule, const RouterOptions& options);

  Status route(std::span<Invoker* const> providers, const RouteContext& context, std::vector<Invoker*>& out) override;
  bool needs_attachments() const noexcept override { return true; }
  std::string_view name() const noexcept override { return kName; }
  const std::string& rule() const noexcept override { return text_; }

 private:
  TagRouter(std::string text, bool force) : text_(std::move(text)), force_(force) {}

  std::string text_;
  bool force_;
};

}  // namespace tern::cluster::router
