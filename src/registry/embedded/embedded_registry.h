// src/registry/embedded/embedded_registry.h - the `tern://host:port` registry
// backend: a client of the embedded registry center (RegistryServer).
//
// One connection to the registry carries registrations, subscriptions,
// heartbeats and the pushes. A background thread (a ReconnectLoop,
// registry/common/reconnect_loop.h) renews the registrations every
// heartbeat_interval; when it notices a new connection (the registry
// restarted, or the connection dropped and was re-dialled) it re-registers
// every provider and re-subscribes every service, re-reading their lists, so
// a restarted registry is repopulated without any operator action. While the
// registry is unreachable, subscribers keep their last lists; retries back
// off from initial_backoff to max_backoff (registry/common/backoff.h). Lists
// and documents are pushed only when changed, newest (epoch, revision) first
// (WatchedBook, registry/common/watched_book.h).
//
// Dynamic configuration (set/remove/get/watch_config) is kept by the registry
// process in memory (registry_protocol.h): after a reconnection every watched
// document is watched again and pushed only if it changed; a restarted
// registry has lost its documents, which watchers see as revision 0.
//
// Time: the heartbeats, the retries and the hold period of an empty list
// from a restarted registry (hold_period() in the .cc) are on a Clock
// (base/clock.h): the steady clock, or the one given to
// make_embedded_registry_on_clock() (tests: a FakeClock,
// tests/registry_embedded/embedded_registry_clock_test.cc). The client's
// connection (its heartbeat, reconnect backoff and call deadlines) stays on
// the steady clock.
//
// Thread safety: as the Registry interface; listeners run on one dispatcher thread.
#pragma once

#include <memory>

#include "base/clock.h"
#include "tern/registry.h"

namespace tern {

// The `tern` scheme's factory (RegistryFactory): connects to the registry at
// `address` (tern://host:port). INVALID_ARGUMENT without host:port.
Result<std::shared_ptr<Registry>> make_embedded_registry(const Url& address, const RegistryOptions& options);
// The same, with its time on `clock` (see above); `clock` must outlive the
// returned registry. A name of its own, so that make_embedded_registry stays
// one function a RegistryFactory can be made of.
Result<std::shared_ptr<Registry>> make_embedded_registry_on_clock(const Url& address, const RegistryOptions& options,
                                                                  Clock& clock);

}  // namespace tern
