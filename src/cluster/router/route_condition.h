// src/cluster/router/route_condition.h - the `when => then` rule language
// shared by the condition and weighted routers (docs/governance.md).
//
// Not a public header. Grammar (whitespace between tokens is free):
//   rule       := [conditions] '=>' [conditions] [ '@' share '%' ] [ ';' option (',' option)* ]
//   conditions := condition ( '&' condition )*
//   condition  := key ( '=' | '!=' ) value ( ',' value )*
//   key        := identifier | 'attachment[' attachment-key ']'
//   value      := one or more characters other than whitespace and , & = ! ; @ [ ]
//                 ('*' in a value matches any run of characters)
//   option     := 'force' [ '=' ( 'true' | 'false' ) ]
// The left side may use method, service, application, host and
// attachment[k] (the consumer and the call); the right side host, port,
// address (host:port) and any other identifier as a provider URL parameter.
// `share` (weighted router only) is a decimal in [0, 100] with at most four
// decimals. Errors name the position (0-based character offset) and token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/cluster/invoker.h"
#include "tern/cluster/router.h"
#include "tern/result.h"

namespace tern::cluster::router {

// What a condition compares.
enum class ConditionKey {
  // Left side: the call and the consumer.
  kMethod,
  kService,
  kApplication,
  kHost,
  kAttachment,
  // Right side: the provider.
  kProviderHost,
  kProviderPort,
  kProviderAddress,
  kProviderParam,
};

struct Condition {
  ConditionKey key = ConditionKey::kMethod;
  std::string name;  // the attachment key or URL parameter name
  bool negate = false;  // '!='
  std::vector<std::string> patterns;
};

struct ConditionRule {
  std::vector<Condition> when;  // empty: every call
  std::vector<Condition> then;  // empty: no provider (block)
  bool force = false;
  // Weighted router: the share in parts per million (5% = 50000).
  std::optional<std::uint32_t> share_ppm;
};

// Parses `text` for router `router` ("condition" or "weighted"; the share
// `@ N%` is accepted only when `allow_share`, and then required).
// INVALID_ARGUMENT: "<router> rule '<text>': at position P ('<token>'): <what
// was expected>" (token "end" at the end of the text).
Result<ConditionRule> parse_condition_rule(std::string_view router, std::string_view text, bool allow_share);

// '*'-glob match: '*' matches any run of characters (also empty); every
// other character matches itself.
bool glob_match(std::string_view pattern, std::string_view value) noexcept;

// True when the call matches every condition of `when` (true for none).
bool matches_call(const std::vector<Condition>& when, const RouteContext& context);

// True when the provider matches every condition of `then` (true for none).
bool matches_provider(const std::vector<Condition>& then, const Invoker& provider);

// True when some condition reads an attachment.
bool uses_attachments(const std::vector<Condition>& conditions) noexcept;

}  // namespace tern::cluster::router
