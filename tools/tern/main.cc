// `tern` - the command-line tool: runs the embedded registry and inspects
// registries.
//   tern registry [--listen host:port] [--heartbeat-interval MS]
//   tern ls --registry URL [service]
//   tern watch <service> --registry URL
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>
#include <thread>

#include "tern/client.h"
#include "tern/provider.h"
#include "tern/registry_server.h"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

int fail(const tern::Status& s) {
  std::cerr << "error: " << s.to_string() << "\n";
  return 1;
}

int run_registry(const std::string& listen, int heartbeat_ms) {
  tern::RegistryServerOptions o;
  o.listen = listen;
  o.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  o.on_change = [](const std::string& service, const std::vector<std::string>& providers) {
    std::cout << "[registry] " << service << ": " << providers.size() << " provider(s)\n";
    for (auto& p : providers) std::cout << "[registry]   " << p << "\n";
    std::cout.flush();
  };
  tern::RegistryServer server(o);
  if (auto s = server.start(); !s.is_ok()) return fail(s);
  std::cout << "[registry] listening on port " << server.port() << std::endl;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.shutdown();
  std::cout << "[registry] stopped" << std::endl;
  return 0;
}

int run_ls(const std::string& registry_url, const std::string& service) {
  auto url = tern::Url::parse(registry_url);
  if (!url) return fail(url.status());
  auto reg = tern::create_registry_any(*url);
  if (!reg) return fail(reg.status());
  std::vector<std::string> services;
  if (!service.empty()) {
    services.push_back(service);
  } else {
    auto list = (*reg)->list_services();
    if (!list) return fail(list.status());
    services = *list;
  }
  for (auto& s : services) {
    auto providers = (*reg)->lookup(s);
    if (!providers) return fail(providers.status());
    std::cout << s << " (" << providers->size() << " provider(s))\n";
    for (auto& p : *providers) std::cout << "  " << p.to_string() << "\n";
  }
  return 0;
}

int run_watch(const std::string& registry_url, const std::string& service) {
  auto url = tern::Url::parse(registry_url);
  if (!url) return fail(url.status());
  auto reg = tern::create_registry_any(*url);
  if (!reg) return fail(reg.status());
  auto sub = (*reg)->subscribe(service, [](const std::string& s, const std::vector<tern::Url>& providers) {
    std::cout << "push: " << s << " has " << providers.size() << " provider(s)\n";
    for (auto& p : providers) std::cout << "  " << p.to_string() << "\n";
    std::cout.flush();
  });
  if (!sub) return fail(sub.status());
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*reg)->unsubscribe(*sub);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tern - Tern RPC command-line tool"};
  app.require_subcommand(1);

  std::string listen = "0.0.0.0:9090";
  int heartbeat_ms = 10000;
  auto* registry = app.add_subcommand("registry", "run the embedded registry center");
  registry->add_option("--listen", listen, "address to listen on (host:port)")->capture_default_str();
  registry->add_option("--heartbeat-interval", heartbeat_ms, "provider heartbeat interval in ms (3 missed = removed)")
      ->capture_default_str();

  std::string registry_url = "tern://127.0.0.1:9090";
  std::string service;
  auto* ls = app.add_subcommand("ls", "list services and providers in a registry");
  ls->add_option("--registry", registry_url, "registry URL")->capture_default_str();
  ls->add_option("service", service, "only this service");

  auto* watch = app.add_subcommand("watch", "print registry pushes for a service as they happen");
  watch->add_option("--registry", registry_url, "registry URL")->capture_default_str();
  watch->add_option("service", service, "service to watch")->required();

  CLI11_PARSE(app, argc, argv);
  if (registry->parsed()) return run_registry(listen, heartbeat_ms);
  if (ls->parsed()) return run_ls(registry_url, service);
  if (watch->parsed()) return run_watch(registry_url, service);
  return 1;
}
