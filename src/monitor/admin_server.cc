// The admin endpoint: /metrics, /status, /health over the tiny HTTP server.
// See tern/monitor/admin_server.h.
#include "tern/monitor/admin_server.h"

#include <chrono>
#include <iterator>

#include "tern/monitor/exposition.h"
#include "tern/monitor/process_metrics.h"
#include "tern/trace/tracer.h"

namespace tern::monitor {

AdminServer::AdminServer(std::shared_ptr<MetricsRegistry> metrics, HttpServerOptions options)
    : metrics_(std::move(metrics)), http_(std::move(options)) {
  auto uptime = [m = metrics_] { return std::chrono::duration<double>(m->uptime()).count(); };
  http_.route("/metrics", [m = metrics_, c = collectors_, uptime](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = to_prometheus_text(m->snapshot(), uptime());
    std::vector<Sample> samples;
    collect_process_metrics(samples);
    auto more = c->collect();
    samples.insert(samples.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    r.body += render_samples(samples);
    return r;
  });
  http_.route("/status", [m = metrics_, uptime](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "application/json";
    r.body = to_status_json(m->snapshot(), uptime());
    return r;
  });
  http_.route("/rpcz", [this](const HttpRequest& req) { return rpcz_page(req); });
  http_.route("/health", [](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n", {}}; });
}

AdminServer::~AdminServer() { http_.shutdown(); }

// /rpcz (tern/trace/rpcz.h): HTML by default, ?format=text or ?format=json,
// &trace=<32 hex> for one trace.
HttpResponse AdminServer::rpcz_page(const HttpRequest& req) const {
  auto tracer = tracer_ ? tracer_ : trace::Tracer::global();
  auto param = [&](std::string_view name) -> std::string {
    std::string_view q = req.query;
    while (!q.empty()) {
      auto amp = q.find('&');
      std::string_view kv = q.substr(0, amp);
      if (kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=') {
        return std::string(kv.substr(name.size() + 1));
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
    return {};
  };
  const trace::RpczStore* store = tracer->rpcz();
  trace::RpczStore::Snapshot snap;
  if (store) snap = store->snapshot();
  std::string format = param("format");
  std::string only = param("trace");
  HttpResponse r;
  if (format == "json") {
    r.content_type = "application/json";
    r.body = trace::render_rpcz_json(snap, store != nullptr, only);
  } else if (format == "text") {
    r.body = trace::render_rpcz_text(snap, store != nullptr, only);
  } else {
    r.content_type = "text/html; charset=utf-8";
    r.body = trace::render_rpcz_html(snap, store != nullptr, only);
  }
  return r;
}

Status AdminServer::start() { return http_.start(); }

Result<std::shared_ptr<AdminServer>> enable_admin(ProviderOptions& options, const std::string& listen,
                                                  std::shared_ptr<MetricsRegistry> metrics) {
  if (!metrics) metrics = std::make_shared<MetricsRegistry>();
  HttpServerOptions http;
  http.listen = listen;
  http.announce_host = options.server.announce_host;
  auto admin = std::make_shared<AdminServer>(metrics, std::move(http));
  if (Status s = admin->start(); !s.is_ok()) return s;
  auto& filters = options.server.filters;
  filters.insert(filters.begin(), std::make_shared<MetricsServerFilter>(std::move(metrics)));
  return admin;
}

Result<std::shared_ptr<AdminServer>> enable_admin(ClientOptions& options, const std::string& listen,
                                                  std::shared_ptr<MetricsRegistry> metrics) {
  if (!metrics) metrics = std::make_shared<MetricsRegistry>();
  HttpServerOptions http;
  http.listen = listen;
  auto admin = std::make_shared<AdminServer>(metrics, std::move(http));
  if (Status s = admin->start(); !s.is_ok()) return s;
  options.filters.insert(options.filters.begin(), std::make_shared<MetricsClientFilter>(std::move(metrics)));
  return admin;
}

void announce_admin(ServiceOptions& service, const AdminServer& admin) {
  service.parameters[kAdminParameter] = admin.address().to_string();
}

}  // namespace tern::monitor
