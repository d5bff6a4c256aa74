// Quickstart provider: exposes Calculator and registers it in the registry.
//   quickstart_provider --registry tern://127.0.0.1:9090 --name provider-1 --weight 100 [--admin 127.0.0.1:0]
// --admin: where the admin endpoint (/metrics, /status, /health) listens
// (default 127.0.0.1:0, a free port; "off" disables it). Its address goes
// into the registered URL (admin=host:port) so `tern monitor` finds it.
// SIGTERM or SIGINT: graceful stop (unregister, drain in-flight calls, close).
#include <csignal>
#include <cstring>
#include <charconv>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "calculator.h"
#include "tern/monitor/admin_server.h"
#include "tern/provider.h"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

class CalculatorImpl : public quickstart::Calculator {
 public:
  explicit CalculatorImpl(std::string name) : name_(std::move(name)) {}
  int add(int a, int b) override { return a + b; }
  std::string greet(std::string name) override { return "hello, " + name + " (from " + name_ + ")"; }
  quickstart::Point midpoint(quickstart::Point a, quickstart::Point b) override {
    return {(a.x + b.x) / 2, (a.y + b.y) / 2};
  }
  int divide(int a, int b) override {
    if (b == 0) throw std::domain_error("division by zero");
    return a / b;
  }
  std::string slow(int ms) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return "done after " + std::to_string(ms) + " ms";
  }
  void log(std::string line) override { std::cout << "[" << name_ << "] oneway log: " << line << std::endl; }

 private:
  std::string name_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string registry = "tern://127.0.0.1:9090";
  std::string name = "provider";
  int weight = 100;
  int heartbeat_ms = 1000;
  std::string admin_listen = "127.0.0.1:0";
  auto usage = [&](const std::string& why) {
    if (!why.empty()) std::cerr << "quickstart_provider: " << why << "\n";
    std::cerr << "usage: quickstart_provider [--registry URL] [--name NAME] [--weight 0-1000000]\n"
                 "                           [--heartbeat-ms MS] [--admin host:port|off]\n";
    return why.empty() ? 0 : 2;
  };
  // A whole decimal number in [lo, hi], or false.
  auto number = [](const std::string& text, int lo, int hi, int* out) {
    int v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return false;
    *out = v;
    return true;
  };
  for (int i = 1; i < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") return usage("");
    if (i + 1 >= argc) return usage(k + " needs a value");
    std::string v = argv[i + 1];
    if (k == "--registry") registry = v;
    else if (k == "--name") name = v;
    else if (k == "--weight") {
      if (!number(v, 0, 1000000, &weight)) return usage("--weight: '" + v + "' is not a number in 0-1000000");
    } else if (k == "--heartbeat-ms") {
      if (!number(v, 1, 86400000, &heartbeat_ms)) return usage("--heartbeat-ms: '" + v + "' is not a number in 1-86400000");
    } else if (k == "--admin") admin_listen = v;
    else return usage("unknown option " + k);
  }

  tern::ProviderOptions options;
  options.server.listen = "127.0.0.1:0";
  options.server.io_threads = 1;
  options.registry = registry;
  options.registry_options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  std::shared_ptr<tern::monitor::AdminServer> admin;
  if (admin_listen != "off") {
    auto a = tern::monitor::enable_admin(options, admin_listen);  // metrics filter + admin endpoint
    if (!a) {
      std::cerr << "[" << name << "] admin endpoint failed: " << a.status() << "\n";
      return 1;
    }
    admin = *a;
  }
  tern::Provider provider(options);
  tern::ServiceOptions service;
  service.weight = weight;
  if (admin) tern::monitor::announce_admin(service, *admin);
  if (auto s = provider.expose<quickstart::Calculator>(std::make_shared<CalculatorImpl>(name), service); !s.is_ok()) {
    std::cerr << "[" << name << "] expose failed: " << s << "\n";
    return 1;
  }
  if (auto s = provider.start(); !s.is_ok()) {
    std::cerr << "[" << name << "] start failed: " << s << "\n";
    return 1;
  }
  std::cout << "[" << name << "] serving Calculator on port " << provider.port() << " with weight " << weight
            << ", registered at " << registry << std::endl;
  if (admin) {
    std::cout << "[" << name << "] admin endpoint at http://" << admin->address().to_string()
              << "/ (/metrics, /status, /health)" << std::endl;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::cout << "[" << name << "] stopping gracefully: unregister, drain, close" << std::endl;
  provider.shutdown(std::chrono::milliseconds(2000));
  std::cout << "[" << name << "] stopped" << std::endl;
  return 0;
}
