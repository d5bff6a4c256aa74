// src/cluster/router/weighted_router.h - `weighted`: a share of the matching
// calls to one set of providers (docs/governance.md "Weighted splits").
//
// Rule: `<when> => <then> @ <share>% [; force[=true|false]]`, e.g.
//   method = pay => tag = canary @ 5%
// For a call matching <when> (an empty <when> matches every call), a draw
// from the router's random source sends it, with probability share, to the
// providers matching <then>, and otherwise to the providers NOT matching
// <then>. A call not matching <when> passes through unchanged.
// When the chosen side is empty: force=true fails UNAVAILABLE naming the
// rule; force=false (default) falls back to the list this router was given
// (which then is the other side).
//
// Deterministic: the draw is RandomSource (splitmix64) seeded by
// RouterOptions::seed, one draw per matching call; the same seed and the same
// sequence of calls on one thread give the same splits. A failover retry is
// routed again, so it draws again.
// Thread safety: route() may be called concurrently (lock-free random
// source). Complexity: O(providers x conditions) per call.
#pragma once

#include <string>
#include <string_view>

#include "cluster/lb/lb_util.h"
#include "cluster/router/route_condition.h"
#include "tern/cluster/router.h"

namespace tern::cluster::router {

class WeightedRouter final : public Router {
 public:
  static constexpr std::string_view kName = "weighted";

  // INVALID_ARGUMENT naming the position and token for a malformed rule
  // (also a missing share or right side).
  static Result<std::unique_ptr<Router>> create(std::string_view rule, const RouterOptions& options);

  Status route(std::span<Invoker* const> providers, const RouteContext& context, std::vector<Invoker*>& out) override;
  bool needs_attachments() const noexcept override { return needs_attachments_; }
  std::string_view name() const noexcept override { return kName; }
  const std::string& rule() const noexcept override { return text_; }

 private:
  WeightedRouter(std::string text, ConditionRule rule, std::uint64_t seed);

  std::string text_;
  ConditionRule rule_;
  std::uint32_t share_ppm_;
  bool needs_attachments_;
  lb::RandomSource random_;
};

}  // namespace tern::cluster::router
