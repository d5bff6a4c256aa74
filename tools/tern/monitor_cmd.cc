// `tern monitor`: a MonitorCenter (tern/monitor/monitor_center.h) plus the
// dashboard, served from assets compiled into the binary
// (tools/monitor_assets/*.inc hold the page, CSS and script as raw string
// literals), so the dashboard works offline.
#include <iostream>
#include <string_view>
#include <thread>

#include "commands.h"
#include "tern/monitor/http.h"
#include "tern/monitor/monitor_center.h"

namespace tern::cli {

namespace {
constexpr std::string_view kIndexHtml =
#include "../monitor_assets/index.html.inc"
    ;
constexpr std::string_view kStyleCss =
#include "../monitor_assets/style.css.inc"
    ;
constexpr std::string_view kAppJs =
#include "../monitor_assets/app.js.inc"
    ;

monitor::HttpHandler asset(std::string_view body, const char* type) {
  return [body, type](const monitor::HttpRequest&) {
    monitor::HttpResponse r;
    r.content_type = type;
    r.body = std::string(body);
    return r;
  };
}
}  // namespace

int run_monitor(const std::string& registry_url, const std::string& listen, int interval_ms,
                const tern::TlsOptions& registry_tls) {
  monitor::MonitorOptions mo;
  mo.registry = registry_url;
  mo.registry_tls = registry_tls;
  mo.interval = std::chrono::milliseconds(interval_ms);  // at least 100 (checked by the parser)
  monitor::MonitorCenter center(mo);
  if (Status s = center.start(); !s.is_ok()) return fail(s);

  monitor::HttpServerOptions ho;
  ho.listen = listen;
  monitor::HttpServer http(ho);
  http.route("/", asset(kIndexHtml, "text/html; charset=utf-8"));
  http.route("/index.html", asset(kIndexHtml, "text/html; charset=utf-8"));
  http.route("/style.css", asset(kStyleCss, "text/css; charset=utf-8"));
  http.route("/app.js", asset(kAppJs, "text/javascript; charset=utf-8"));
  http.route("/api/state", [&center](const monitor::HttpRequest&) {
    monitor::HttpResponse r;
    r.content_type = "application/json";
    r.body = center.state_json();
    return r;
  });
  http.route("/health", [](const monitor::HttpRequest&) { return monitor::HttpResponse{200, "text/plain", "ok\n", {}}; });
  if (Status s = http.start(); !s.is_ok()) return fail(s);
  std::cout << "[monitor] registry " << registry_url << (registry_tls.enabled ? " (TLS)" : "") << ", scraping every "
            << mo.interval.count() << " ms\n"
            << "[monitor] dashboard at http://" << http.address().to_string() << "/" << std::endl;
  install_stop_signals();
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  http.shutdown();
  center.shutdown();
  std::cout << "[monitor] stopped" << std::endl;
  return 0;
}

}  // namespace tern::cli
