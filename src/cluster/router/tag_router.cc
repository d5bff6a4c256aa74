// src/cluster/router/tag_router.cc - see tag_router.h.
#include "cluster/router/tag_router.h"

namespace tern::cluster::router {
namespace {

std::string_view tag_of(const Invoker& provider) {
  const auto& params = provider.url().params();
  auto it = params.find("tag");
  return it == params.end() ? std::string_view() : std::string_view(it->second);
}

void keep_tagged(std::span<Invoker* const> providers, std::string_view tag, std::vector<Invoker*>& out) {
  for (Invoker* p : providers) {
    if (p != nullptr && tag_of(*p) == tag) out.push_back(p);
  }
}

}  // namespace

Result<std::unique_ptr<Router>> TagRouter::create(std::string_view rule, const RouterOptions& /*options*/) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  std::string_view text = trim(rule);
  bool force = false;
  if (text == "force" || text == "force=true" || text == "force = true") {
    force = true;
  } else if (!text.empty() && text != "force=false" && text != "force = false") {
    auto at = static_cast<std::size_t>(text.data() - rule.data());
    return Status(StatusCode::kInvalidArgument, "tag rule '" + std::string(rule) + "': at position " +
                                                    std::to_string(at) + " ('" + std::string(text) +
                                                    "'): expected nothing, force, force=true or force=false");
  }
  return std::unique_ptr<Router>(new TagRouter(std::string(rule), force));
}

Status TagRouter::route(std::span<Invoker* const> providers, const RouteContext& context,
                        std::vector<Invoker*>& out) {
  out.clear();
  std::string_view tag = context.attachment(kTagAttachment).value_or(std::string_view());
  if (!tag.empty()) {
    keep_tagged(providers, tag, out);
    if (!out.empty()) return Status();
    if (force_) {
      return Status(StatusCode::kUnavailable, "no provider of " + std::string(context.service) + " has tag '" +
                                                  std::string(tag) + "' (tag router, force)");
    }
    keep_tagged(providers, {}, out);  // fallback: the untagged providers
    if (!out.empty()) return Status();
    return Status(StatusCode::kUnavailable, "no provider of " + std::string(context.service) + " has tag '" +
                                                std::string(tag) + "' and none is untagged (tag router)");
  }
  keep_tagged(providers, {}, out);
  if (!out.empty()) return Status();
  return Status(StatusCode::kUnavailable, "no untagged provider of " + std::string(context.service) +
                                              " for a call without a tag (tag router)");
}

}  // namespace tern::cluster::router
