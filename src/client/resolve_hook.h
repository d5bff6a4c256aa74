// src/client/resolve_hook.h - test seam for the channel's host-name
// resolution (internal).
#pragma once

#include <asio/ip/tcp.hpp>

#include <functional>

#include "tern/result.h"
#include "tern/url.h"

namespace tern::rpc {

// Replaces the resolution a Channel does before dialing a host name (an
// address literal is never resolved). Empty = the system resolver. Tests
// use it to make resolution slow and check that nothing waits for it.
// Thread safety: may be called from any thread; a resolution in progress
// keeps the hook it started with.
using ResolveHook = std::function<Result<asio::ip::tcp::endpoint>(const HostPort&)>;
void set_resolve_hook_for_test(ResolveHook hook);

}  // namespace tern::rpc
