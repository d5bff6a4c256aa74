// src/proxy/consumer_registration.h - a reference's consumer URL in the
// registry (tern/registry.h, "A consumer is one URL too"): registered when
// Client::reference() creates the reference, unregistered when the Reference
// is destroyed. For operators only (`tern ls`, the monitor's consumer view);
// nothing routes on it. Internal.
#pragma once

#include <memory>
#include <string>

#include "tern/reference.h"
#include "tern/registry.h"

namespace tern {

// consumer://<host>/<service>?application=..&hostname=..&pid=..&ref=N[&version=..][&group=..]
// `host`: this machine's first non-loopback IPv4 address (127.0.0.1 when it
// has none); `ref`: a process-wide sequence number, so two references of one
// process to one service are two registrations. Thread-safe.
Url make_consumer_url(const std::string& service, const std::string& application, const ReferenceOptions& options);

// The program's name (/proc/self/comm), the default application name.
std::string default_application_name();

// Holds one consumer registration: registers in the constructor (a backend
// that is unreachable registers once it is reachable; one that keeps no
// consumers is told nothing more), unregisters in the destructor. Not
// copyable; thread-compatible.
class ConsumerRegistration {
 public:
  ConsumerRegistration(std::shared_ptr<Registry> registry, Url consumer);
  ~ConsumerRegistration();
  ConsumerRegistration(const ConsumerRegistration&) = delete;
  ConsumerRegistration& operator=(const ConsumerRegistration&) = delete;
  const Url& url() const noexcept { return url_; }

 private:
  std::shared_ptr<Registry> registry_;
  Url url_;
  bool registered_ = false;
};

}  // namespace tern
