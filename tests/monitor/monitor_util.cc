#include "monitor_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "test_services.h"

namespace montest {

bool parse_prometheus(const std::string& text, std::map<std::string, double>* samples,
                      std::map<std::string, std::string>* types, std::string* error) {
  std::istringstream in(text);
  std::string line;
  std::map<std::string, bool> help;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      help[name] = true;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      (*types)[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    if (line[0] == '#') continue;
    // name{labels} value  (label values may contain escaped quotes and spaces)
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    std::string name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      bool in_quotes = false;
      for (++i; i < line.size(); ++i) {
        if (in_quotes && line[i] == '\\') {
          ++i;
          continue;
        }
        if (line[i] == '"') in_quotes = !in_quotes;
        if (!in_quotes && line[i] == '}') break;
      }
      if (i == line.size()) {
        *error = "line " + std::to_string(n) + ": unterminated labels: " + line;
        return false;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      *error = "line " + std::to_string(n) + ": no value: " + line;
      return false;
    }
    std::string key = line.substr(0, i);
    std::string value = line.substr(i + 1);
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s(suffix);
      if (family.size() > s.size() && family.compare(family.size() - s.size(), s.size(), s) == 0 &&
          types->count(family.substr(0, family.size() - s.size()))) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    if (!types->count(family) || !help.count(family)) {
      *error = "line " + std::to_string(n) + ": sample before its HELP/TYPE: " + line;
      return false;
    }
    double v = value == "+Inf" ? INFINITY : std::stod(value);
    (*samples)[key] = v;
  }
  return true;
}

MonitoredProvider start_monitored_provider(const std::string& registry, int weight) {
  MonitoredProvider p;
  tern::ProviderOptions options;
  options.server.listen = "127.0.0.1:0";
  options.server.io_threads = 1;
  options.server.worker_threads = 2;
  options.registry = registry;
  options.registry_options.heartbeat_interval = std::chrono::milliseconds(500);
  auto admin = tern::monitor::enable_admin(options, "127.0.0.1:0");
  EXPECT_TRUE(admin.has_value()) << admin.status();
  if (!admin) return p;
  p.admin = *admin;
  p.provider = std::make_unique<tern::Provider>(options);
  tern::ServiceOptions service;
  service.weight = weight;
  tern::monitor::announce_admin(service, *p.admin);
  EXPECT_TRUE(p.provider->expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>(), service).is_ok());
  EXPECT_TRUE(p.provider->start().is_ok());
  return p;
}

}  // namespace montest
