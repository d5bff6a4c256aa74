// `tern monitor`: a MonitorCenter (tern/monitor/monitor_center.h) plus the
// dashboard, served from assets compiled into the binary
// (tools/monitor_assets/*.inc hold the page, CSS and script as raw string
// literals), so the dashboard works offline. With --auth-token-file the
// dashboard may also change provider overrides (POST
// /api/providers/override, docs/monitoring.md); without it, it is read-only.
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string_view>
#include <thread>

#include "commands.h"
#include "tern/auth.h"
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

monitor::HttpResponse json_response(int status, const nlohmann::json& body) {
  monitor::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";  // echoes registry text
  return r;
}

monitor::HttpResponse json_error(int status, const std::string& message) {
  return json_response(status, {{"error", message}});
}

int http_status_of(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kFailedPrecondition: return 409;  // the stored document is in the way
    case StatusCode::kUnimplemented: return 501;       // the registry keeps no configuration
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded: return 503;    // the registry is unreachable
    default: return 500;
  }
}

// The token of --auth-token-file: its contents without surrounding
// whitespace (a trailing newline from `echo` is not part of it).
Result<std::string> read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kInvalidArgument, "cannot read --auth-token-file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  const char* space = " \t\r\n\f\v";
  auto first = token.find_first_not_of(space);
  if (first == std::string::npos) return Status(StatusCode::kInvalidArgument, "--auth-token-file " + path + " is empty");
  token = token.substr(first, token.find_last_not_of(space) - first + 1);
  return token;
}

// POST /api/providers/override: the authentication check, then the JSON
// body {"service", "address", and "weight": N | "disabled": bool | "clear":
// true} turned into MonitorCenter::change_provider_override().
monitor::HttpResponse override_provider(monitor::MonitorCenter& center, const std::string& token,
                                        const monitor::HttpRequest& req) {
  if (token.empty()) return json_error(403, "read-only dashboard: start tern monitor with --auth-token-file");
  std::string given;
  if (auto h = req.headers.find("authorization"); h != req.headers.end()) {
    std::string_view v = h->second;
    constexpr std::string_view kBearer = "bearer ";
    if (v.size() > kBearer.size()) {
      std::string scheme(v.substr(0, kBearer.size()));
      for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (scheme == kBearer) {
        v.remove_prefix(kBearer.size());
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        given = std::string(v);
      }
    }
  }
  if (given.empty() || !constant_time_equals(given, token)) {
    auto r = json_error(401, given.empty() ? "missing Authorization: Bearer <token> (the --auth-token-file token)"
                                           : "wrong token");
    r.headers["WWW-Authenticate"] = "Bearer realm=\"tern monitor\"";
    return r;
  }

  auto body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return json_error(400, "the body is not a JSON object");
  std::string service, address;
  monitor::ProviderOverrideChange change;
  for (auto& [key, value] : body.items()) {
    if (key == "service" || key == "address") {
      if (!value.is_string()) return json_error(400, key + ": expected a string");
      (key == "service" ? service : address) = value.get<std::string>();
    } else if (key == "weight") {
      if (!value.is_number_integer()) return json_error(400, "weight: expected a whole number");
      auto w = value.get<std::int64_t>();
      if (w < 0 || w > 1000000) return json_error(400, "weight " + value.dump() + " is out of range [0, 1000000]");
      change.weight = static_cast<int>(w);
    } else if (key == "disabled" || key == "clear") {
      if (!value.is_boolean()) return json_error(400, key + ": expected true or false");
      if (key == "disabled") {
        change.disabled = value.get<bool>();
      } else {
        change.clear = value.get<bool>();
        if (!change.clear) return json_error(400, "clear: only true means something");
      }
    } else {
      return json_error(400, "unknown field \"" + key + "\" (known: service, address, weight, disabled, clear)");
    }
  }
  if (service.empty()) return json_error(400, "service: missing");
  if (address.empty()) return json_error(400, "address: missing");
  auto result = center.change_provider_override(service, address, change);
  if (!result) return json_error(http_status_of(result.status().code()), result.status().message());
  return json_response(200, {{"service", service},
                             {"address", address},
                             {"revision", result->document.revision},
                             {"summary", result->summary},
                             {"text", result->document.text}});
}
}  // namespace

int run_monitor(const std::string& registry_url, const std::string& listen, int interval_ms,
                const tern::TlsOptions& registry_tls, const std::string& auth_token_file) {
  std::string token;
  if (!auth_token_file.empty()) {
    auto t = read_token(auth_token_file);
    if (!t) return fail(t.status());
    token = std::move(*t);
  }
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
  http.route("/api/info", [&token](const monitor::HttpRequest&) {
    return json_response(200, {{"writable", !token.empty()}});
  });
  http.post_route("/api/providers/override", [&center, &token](const monitor::HttpRequest& req) {
    return override_provider(center, token, req);
  });
  http.route("/health", [](const monitor::HttpRequest&) { return monitor::HttpResponse{200, "text/plain", "ok\n", {}}; });
  if (Status s = http.start(); !s.is_ok()) return fail(s);
  std::cout << "[monitor] registry " << registry_url << (registry_tls.enabled ? " (TLS)" : "") << ", scraping every "
            << mo.interval.count() << " ms\n"
            << "[monitor] dashboard at http://" << http.address().to_string() << "/\n"
            << "[monitor] provider overrides "  // after the address: scripts read the second line for it
            << (token.empty() ? "off (read-only; --auth-token-file enables them)" : "on (bearer token required)")
            << std::endl;
  install_stop_signals();
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  http.shutdown();
  center.shutdown();
  std::cout << "[monitor] stopped" << std::endl;
  return 0;
}

}  // namespace tern::cli
