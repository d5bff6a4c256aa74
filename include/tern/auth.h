// tern/auth.h - token authentication as a pair of filters (tern/filter.h),
// as Dubbo's `token` attachment: the consumer sends a shared secret with
// every request, the provider refuses requests without a valid one.
//
//   // provider
//   server_options.filters.push_back(std::make_shared<tern::TokenAuthServerFilter>(
//       std::vector<std::string>{"s3cret"}));
//   // consumer
//   client_options.filters.push_back(std::make_shared<tern::TokenAuthClientFilter>("s3cret"));
//
// The token travels as the request attachment "token" (kTokenAttachment), in
// clear text: use it on trusted networks or together with TLS termination.
// The provider compares in constant time (no early exit on the first
// differing byte), so response timing does not reveal a prefix of a token.
// Several accepted tokens allow rotation: add the new one, move consumers,
// remove the old one (a new filter; filters are fixed at server start).
//
// Statuses: a request without the attachment is answered UNAUTHENTICATED
// "missing token"; one with a token that matches none, UNAUTHENTICATED
// "invalid token". Neither runs the handler (may_have_executed is false; the
// consumer's failover does not retry UNAUTHENTICATED).
// Thread safety: both filters are immutable after construction.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tern/filter.h"

namespace tern {

// The request attachment carrying the token.
inline constexpr std::string_view kTokenAttachment = "token";

// Provider filter: requires one of `tokens` (none may be empty) on every
// request, except requests to `open_services` (by service name, e.g. a
// health or reflection service that must stay reachable).
class TokenAuthServerFilter : public ServerFilter {
 public:
  // Throws std::invalid_argument when `tokens` is empty or holds an empty token.
  explicit TokenAuthServerFilter(std::vector<std::string> tokens, std::set<std::string, std::less<>> open_services = {});
  Status on_request(ServerContext& context) override;

 private:
  std::vector<std::string> tokens_;
  std::set<std::string, std::less<>> open_services_;
};

// Consumer filter: adds the token attachment to every request (replacing a
// "token" attachment the caller set itself).
class TokenAuthClientFilter : public ClientFilter {
 public:
  explicit TokenAuthClientFilter(std::string token) : token_(std::move(token)) {}
  Status on_request(ClientInvocation& invocation) override;

 private:
  std::string token_;
};

// True when `a` equals `b`; the time taken depends only on the lengths.
bool constant_time_equals(std::string_view a, std::string_view b) noexcept;

}  // namespace tern
