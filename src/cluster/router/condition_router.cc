// src/cluster/router/condition_router.cc - see condition_router.h.
#include "cluster/router/condition_router.h"

namespace tern::cluster::router {

Result<std::unique_ptr<Router>> ConditionRouter::create(std::string_view rule, const RouterOptions& /*options*/) {
  auto parsed = parse_condition_rule(kName, rule, /*allow_share=*/false);
  if (!parsed) return parsed.status();
  return std::unique_ptr<Router>(new ConditionRouter(std::string(rule), std::move(*parsed)));
}

ConditionRouter::ConditionRouter(std::string text, ConditionRule rule)
    : text_(std::move(text)), rule_(std::move(rule)), needs_attachments_(uses_attachments(rule_.when)) {}

Status ConditionRouter::route(std::span<Invoker* const> providers, const RouteContext& context,
                              std::vector<Invoker*>& out) {
  out.clear();
  if (!matches_call(rule_.when, context)) {
    out.assign(providers.begin(), providers.end());
    return Status();
  }
  if (rule_.then.empty()) {
    return Status(StatusCode::kUnavailable, "call " + std::string(context.service) + "." +
                                                std::string(context.method) + " blocked by condition rule '" +
                                                text_ + "'");
  }
  for (Invoker* p : providers) {
    if (p != nullptr && matches_provider(rule_.then, *p)) out.push_back(p);
  }
  if (!out.empty()) return Status();
  if (rule_.force) {
    return Status(StatusCode::kUnavailable, "no provider of " + std::string(context.service) +
                                                " matches condition rule '" + text_ + "' (force)");
  }
  out.assign(providers.begin(), providers.end());  // force=false: the list before this rule
  return Status();
}

}  // namespace tern::cluster::router
