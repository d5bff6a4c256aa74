// src/cluster/router/condition_router.h - `condition`: Dubbo-style
// condition routes (docs/governance.md "Condition rules").
//
// Rule: `<when> => <then> [; force[=true|false]]`, e.g.
//   method = get => version = 2.0
//   attachment[user] = beta-* => tag = canary
//   application = shop & host = 10.0.0.* => weight != 0
//   method = drop =>                        (block: no provider)
// The grammar is in route_condition.h. When the call matches every condition
// of <when> (an empty <when> matches every call), only the providers matching
// every condition of <then> are kept; a call that does not match passes
// through unchanged.
//
// When the selection comes out empty:
//   - an empty <then> means "no provider" on purpose: UNAVAILABLE
//     "blocked by condition rule '...'", whatever `force` says;
//   - force=true: UNAVAILABLE naming the rule;
//   - force=false (default): the list this router was given (what the
//     routers before it left), as Dubbo's ConditionRouter.
//
// Thread safety: route() is const on the parsed rule; concurrent calls are
// safe. Complexity: O(providers x conditions) per call, no lock; the output
// vector is the caller's.
#pragma once

#include <string>
#include <string_view>

#include "cluster/router/route_condition.h"
#include "tern/cluster/router.h"

namespace tern::cluster::router {

class ConditionRouter final : public Router {
 public:
  static constexpr std::string_view kName = "condition";

  // INVALID_ARGUMENT naming the position and token for a malformed rule.
  static Result<std::unique_ptr<Router>> create(std::string_view rule, const RouterOptions& options);

  Status route(std::span<Invoker* const> providers, const RouteContext& context, std::vector<Invoker*>& out) override;
  bool needs_attachments() const noexcept override { return needs_attachments_; }
  std::string_view name() const noexcept override { return kName; }
  const std::string& rule() const noexcept override { return text_; }

 private:
  ConditionRouter(std::string text, ConditionRule rule);

  std::string text_;
  ConditionRule rule_;
  bool needs_attachments_;
};

}  // namespace tern::cluster::router
