// src/registry/embedded/registry_server_test_access.h - test seam into a
// RegistryServer (internal; tests only): put it on a fake clock.
//
// RegistryServer names it a friend (tern/registry_server.h); the public API
// keeps the internal Clock out of sight.
#pragma once

#include "base/clock.h"
#include "tern/registry_server.h"

namespace tern {

struct RegistryServerTestAccess {
  // Makes `clock` the time of registrations' renewals and of their expiry
  // after 3 heartbeat intervals without one; its wait_until() paces the
  // expiry sweep. Call before start(), from the thread that owns `server`;
  // `clock` must outlive the server. Not thread-safe against the server's
  // own threads (none run before start()).
  static void set_clock(RegistryServer& server, Clock& clock);
};

}  // namespace tern
