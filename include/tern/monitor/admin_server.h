// tern/monitor/admin_server.h - a provider's (or consumer's) admin HTTP
// endpoint (DESIGN §9), serving one MetricsRegistry:
//   GET /metrics   Prometheus text format (tern/monitor/exposition.h): the
//                  MetricsRegistry's per-method metrics, the standard process
//                  metrics (tern/monitor/process_metrics.h), then what the
//                  collectors() add (tern/monitor/runtime_metrics.h)
//   GET /status    JSON: services, methods, counters, percentiles, uptime
//   GET /health    "ok"
//   GET /rpcz      recent and slowest calls with their spans (docs/tracing.md):
//                  HTML, ?format=text, ?format=json; &trace=<id> for one trace
// Other paths 404, malformed requests 400 (tern/monitor/http.h).
//
// The one-call way for a provider:
//
//   tern::ProviderOptions options{...};
//   auto admin = tern::monitor::enable_admin(options, "127.0.0.1:0").value();  // filter added, endpoint up
//   tern::Provider provider(options);
//   tern::ServiceOptions service;
//   tern::monitor::announce_admin(service, *admin);   // URL gets admin=127.0.0.1:PORT
//   provider.expose<Calculator>(impl, service);
//
// `tern monitor` finds the endpoint through the `admin` parameter of the
// provider URLs in the registry. Keep the AdminServer alive as long as the
// provider (its destructor stops the endpoint).
//
// Thread safety: start()/shutdown()/address() from any thread.
#pragma once

#include <memory>
#include <string>

#include "tern/client.h"
#include "tern/monitor/collector.h"
#include "tern/monitor/http.h"
#include "tern/monitor/metrics.h"
#include "tern/provider.h"

namespace tern::trace {
class Tracer;  // tern/trace/tracer.h
}

namespace tern::monitor {

// The provider URL parameter that carries the admin endpoint's "host:port".
inline constexpr const char* kAdminParameter = "admin";

class AdminServer {
 public:
  // `options.listen` is the admin address ("127.0.0.1:0" by default).
  explicit AdminServer(std::shared_ptr<MetricsRegistry> metrics, HttpServerOptions options = {});
  ~AdminServer();

  // Errors of HttpServer::start().
  Status start();
  HostPort address() const { return http_.address(); }
  void shutdown() { http_.shutdown(); }
  const std::shared_ptr<MetricsRegistry>& metrics() const noexcept { return metrics_; }
  // Scrape-time samples for /metrics; lives as long as this AdminServer.
  CollectorSet& collectors() noexcept { return *collectors_; }
  // The tracer whose rpcz store /rpcz shows (default: trace::Tracer::global()
  // at each request). Call before start().
  void set_tracer(std::shared_ptr<trace::Tracer> tracer) { tracer_ = std::move(tracer); }

 private:
  HttpResponse rpcz_page(const HttpRequest& request) const;
  std::shared_ptr<MetricsRegistry> metrics_;
  std::shared_ptr<CollectorSet> collectors_ = std::make_shared<CollectorSet>();
  std::shared_ptr<trace::Tracer> tracer_;
  HttpServer http_;
};

// Adds a MetricsServerFilter (first in the chain) to `options.server.filters`
// and starts an AdminServer on `listen` for its metrics (a new
// MetricsRegistry unless `metrics` is given). Errors of AdminServer::start().
Result<std::shared_ptr<AdminServer>> enable_admin(ProviderOptions& options, const std::string& listen = "127.0.0.1:0",
                                                  std::shared_ptr<MetricsRegistry> metrics = nullptr);

// The consumer's form: adds a MetricsClientFilter (first in the chain) to
// `options.filters` and starts an AdminServer on `listen`. Pair it with
// watch_client() (tern/monitor/runtime_metrics.h) for connection figures.
Result<std::shared_ptr<AdminServer>> enable_admin(ClientOptions& options, const std::string& listen = "127.0.0.1:0",
                                                  std::shared_ptr<MetricsRegistry> metrics = nullptr);

// Sets `service.parameters["admin"]` to the admin server's address, so the
// provider URL announces it.
void announce_admin(ServiceOptions& service, const AdminServer& admin);

}  // namespace tern::monitor
