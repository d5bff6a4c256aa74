// src/cluster/router/weighted_router.cc - see weighted_router.h.
#include "cluster/router/weighted_router.h"

namespace tern::cluster::router {

Result<std::unique_ptr<Router>> WeightedRouter::create(std::string_view rule, const RouterOptions& options) {
  auto parsed = parse_condition_rule(kName, rule, /*allow_share=*/true);
  if (!parsed) return parsed.status();
  return std::unique_ptr<Router>(new WeightedRouter(std::string(rule), std::move(*parsed), options.seed));
}

WeightedRouter::WeightedRouter(std::string text, ConditionRule rule, std::uint64_t seed)
    : text_(std::move(text)),
      rule_(std::move(rule)),
      share_ppm_(rule_.share_ppm.value_or(0)),
      needs_attachments_(uses_attachments(rule_.when)),
      random_(seed) {}

Status WeightedRouter::route(std::span<Invoker* const> providers, const RouteContext& context,
                             std::vector<Invoker*>& out) {
  out.clear();
  if (!matches_call(rule_.when, context)) {
    out.assign(providers.begin(), providers.end());
    return Status();
  }
  const bool to_selected = random_.uniform(1'000'000) < share_ppm_;
  for (Invoker* p : providers) {
    if (p != nullptr && matches_provider(rule_.then, *p) == to_selected) out.push_back(p);
  }
  if (!out.empty()) return Status();
  if (rule_.force) {
    return Status(StatusCode::kUnavailable, std::string("no provider of ") + std::string(context.service) +
                                                (to_selected ? " matches" : " is left outside") +
                                                " weighted rule '" + text_ + "' (force)");
  }
  out.assign(providers.begin(), providers.end());  // force=false: the list before this rule
  return Status();
}

}  // namespace tern::cluster::router
