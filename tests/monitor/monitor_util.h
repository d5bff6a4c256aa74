// Helpers shared by the monitor tests: a provider with metrics and an admin
// endpoint, and a parser for the Prometheus text format.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "tern/monitor/admin_server.h"
#include "tern/provider.h"

namespace montest {

// Parses Prometheus text into "name{labels}" -> value; checks the format on
// the way (every sample's family has HELP and TYPE lines before it). Returns
// false with `error` set on a malformed line.
bool parse_prometheus(const std::string& text, std::map<std::string, double>* samples,
                      std::map<std::string, std::string>* types, std::string* error);

// A testsvc::Calculator provider with metrics, its admin endpoint announced
// in its URL, registered in `registry` (empty: not registered).
struct MonitoredProvider {
  std::shared_ptr<tern::monitor::AdminServer> admin;
  std::unique_ptr<tern::Provider> provider;
};
MonitoredProvider start_monitored_provider(const std::string& registry, int weight = 100);

}  // namespace montest
