// tern/cluster/router.h - the router extension point (DESIGN §7, docs/governance.md).
//
// A router narrows the provider list of one call before the load balancer
// picks from it: "calls of `get` go to version 2.0 providers", "calls tagged
// canary go to providers tagged canary", "5 % of `pay` goes to the canary".
// A reference applies its routers in order (a RouterChain), each one to what
// the one before it left, then the load balancer picks among the result.
//
// One router per file pair under src/cluster/router/<name>_router.{h,cc},
// registered by name in register_builtin_routers() and chosen per reference
// with ReferenceOptions::routes ("<router>:<rule>"):
//   condition  `when => then` in Dubbo's spirit: when the call matches the
//              left side (method, service, application, host, attachment[k]),
//              keep the providers matching the right side (URL parameters,
//              host, port, address)
//   tag        a call's `tern.tag` attachment selects the providers whose
//              URL parameter `tag` equals it; untagged calls go to untagged
//              providers
//   weighted   `when => then @ 5%`: that share of the matching calls goes to
//              the providers matching `then`, the rest to the others
// The rule grammar of each is in docs/governance.md.
//
// Contract: route() writes into `out` (cleared first) the providers this
// call may use, a subset of `providers` in their order, and returns OK; or
// returns an error Status (UNAVAILABLE naming the rule) when the rule leaves
// no provider and says the call must then fail. A router NEVER returns all
// providers because its selection came out empty, unless its rule documents
// that fallback ("force=false": back to the list it was given). A router whose
// rule does not apply to the call copies `providers` to `out`.
//
// Thread safety: route() may be called from many threads concurrently on
// one Router (a Router serves one reference); routers keep no per-call state
// (the weighted router's random source is lock-free).
// Ownership: `providers` and the strings of the RouteContext are borrowed for
// the duration of the route() call only; the Invoker pointers written to
// `out` are elements of `providers` and live as long as the caller keeps its
// provider list alive. Routers never retain them.
// Reference implementation: src/cluster/router/condition_router.{h,cc}.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/cluster/invoker.h"
#include "tern/result.h"

namespace tern::cluster {

// One attachment of the call (key, value), as sent in the request metadata.
using RouteAttachment = std::pair<std::string_view, std::string_view>;

// The attachment key the tag router reads a call's tag from.
inline constexpr std::string_view kTagAttachment = "tern.tag";

// What a router may see of the call being placed. Every view is borrowed for
// the route() call only.
struct RouteContext {
  // The service and method called ("Calculator", "add").
  std::string_view service;
  std::string_view method;
  // The consumer: its application name (ClientOptions::application, or the
  // program's name) and its host (the IPv4 address of its consumer URL).
  std::string_view application;
  std::string_view host;
  // The call's attachments (CallOptions::attachments, then propagated ones
  // under their name without the '^' prefix, then those a client filter
  // added). Empty unless some router of the chain needs_attachments().
  // When a key appears more than once, attachment() returns the first.
  std::span<const RouteAttachment> attachments;

  // The value of attachment `key`, or nullopt when the call has none.
  // O(number of attachments).
  std::optional<std::string_view> attachment(std::string_view key) const noexcept {
    for (const auto& [k, v] : attachments) {
      if (k == key) return v;
    }
    return std::nullopt;
  }
};

struct RouterOptions {
  // Seed for a router's random source (the weighted router); 0 = seeded
  // from std::random_device. Tests fix it. A reference passes
  // ReferenceOptions::seed.
  std::uint64_t seed = 0;
};

class Router {
 public:
  virtual ~Router() = default;
  // Narrows `providers` for the call `context` into `out`; see the contract
  // above. Errors: UNAVAILABLE with a message naming the rule when the rule
  // leaves no provider and does not fall back (a blocking rule, force=true,
  // or nothing to fall back to). No other status.
  virtual Status route(std::span<Invoker* const> providers, const RouteContext& context,
                       std::vector<Invoker*>& out) = 0;
  // True when route() reads context.attachments (the caller then decodes
  // them from the request; otherwise it may leave them empty).
  virtual bool needs_attachments() const noexcept = 0;
  // The name it is registered under ("condition", "tag", "weighted").
  virtual std::string_view name() const noexcept = 0;
  // The rule text it was created from (for messages).
  virtual const std::string& rule() const noexcept = 0;
};

// Creates a router from its rule text: the router, or INVALID_ARGUMENT for a
// malformed rule with a message naming the position and the token.
using RouterFactory = std::function<Result<std::unique_ptr<Router>>(std::string_view rule, const RouterOptions&)>;

// Registers `factory` under `name` (replacing an earlier one). Thread-safe.
void register_router(std::string name, RouterFactory factory);

// Registers the built-ins (condition, tag, weighted). Idempotent (runs once
// per process); called by create_router(). A name the application
// registered earlier is kept.
void register_builtin_routers();

// Creates the router registered as `name` from `rule`. Errors:
// INVALID_ARGUMENT for an unknown name (the message lists the known ones) or
// a malformed rule (the message names the router, the rule, the position and
// the token); INTERNAL if a factory returns null. Thread-safe; the factory
// runs outside the table's lock.
Result<std::unique_ptr<Router>> create_router(std::string_view name, std::string_view rule,
                                              const RouterOptions& options = {});

// The routers of one reference, applied in order. Move-only; route() may be
// called concurrently (see Router). An empty chain routes nothing: callers
// skip it (empty()) so a reference without routes pays nothing per call.
class RouterChain {
 public:
  RouterChain() = default;
  RouterChain(RouterChain&&) noexcept = default;
  RouterChain& operator=(RouterChain&&) noexcept = default;

  // Builds a chain from route specs "<router>:<rule>" (the text up to the
  // first ':' names the router, the rest is its rule; "tag:" has an empty
  // rule). INVALID_ARGUMENT "routes[i] ..." for a spec without ':' or whose
  // router is unknown or whose rule is malformed (create_router's message).
  // Router i gets a seed derived from options.seed and i (0 stays 0 =
  // random), so the routers of a chain and a load balancer given the same
  // seed draw independent sequences; the chain stays reproducible.
  static Result<RouterChain> create(std::span<const std::string> routes, const RouterOptions& options = {});

  // Appends one router.
  void add(std::unique_ptr<Router> router);

  bool empty() const noexcept { return routers_.empty(); }
  std::size_t size() const noexcept { return routers_.size(); }
  // True when any router needs the call's attachments.
  bool needs_attachments() const noexcept { return needs_attachments_; }

  // Applies every router in order; `out` gets what the last one left (all of
  // `providers` for an empty chain). The first router error is returned as
  // it is and `out` is then unspecified. `out` must not alias `providers`.
  // Uses a per-thread scratch vector (no allocation in the steady state).
  Status route(std::span<Invoker* const> providers, const RouteContext& context, std::vector<Invoker*>& out) const;

 private:
  std::vector<std::unique_ptr<Router>> routers_;
  bool needs_attachments_ = false;
};

}  // namespace tern::cluster
