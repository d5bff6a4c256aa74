// The monitor center: registry discovery, /status scraping, per-method
// history, the rules in force (configuration documents) and the dashboard's
// provider overrides. See tern/monitor/monitor_center.h.
#include "tern/monitor/monitor_center.h"

#include <nlohmann/json.hpp>

#include <array>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "monitor/provider_events.h"
#include "tern/governance.h"
#include "tern/monitor/admin_server.h"
#include "tern/monitor/exposition.h"
#include "tern/monitor/http.h"
#include "tern/provider.h"

namespace tern::monitor {

namespace {

using Clock = std::chrono::steady_clock;
using Key = std::pair<std::string, std::string>;  // (service, method)

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct ProviderInfo {
  Url url;
  std::string admin;
};

// One admin endpoint (shared by every service of one provider process).
struct Endpoint {
  bool ever_ok = false;
  bool up = false;
  std::string error;
  Clock::time_point last_ok{};
  double uptime = 0;
  std::map<Key, MethodSnapshot> last;  // provider side
  // The latest interval's deltas per method (for per-provider numbers).
  std::map<Key, double> qps;
};

struct Point {
  std::int64_t t = 0;
  double qps = 0;
  double error_rate = 0;
  bool has_latency = false;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0;  // ms
};

// A service's configuration document as last read.
struct ConfigView {
  ConfigDocument document;
  std::string summary;  // describe_governance_config(); "" when it does not parse
  std::string error;    // why it could not be read or parsed
  bool read_failed = false;  // get_config failed: the document above is the last one read
  std::map<std::string, ProviderOverride, std::less<>> providers;  // its overrides when it parsed
};

ConfigView view_of(Result<ConfigDocument> doc) {
  ConfigView v;
  if (!doc) {
    v.error = "cannot read it: " + doc.status().to_string();
    v.read_failed = true;
    return v;
  }
  v.document = std::move(*doc);
  auto parsed = parse_governance_config(v.document.text, {.check_extensions = false});
  if (!parsed) {
    v.error = "does not parse: " + parsed.status().message();
    return v;
  }
  v.summary = describe_governance_config(*parsed);
  v.providers = std::move(parsed->providers);
  return v;
}

// "host:port" with a non-empty host and a port in 1..65535 (the key format
// of `providers:`).
bool valid_provider_address(std::string_view a) {
  auto hp = parse_host_port(a);
  return hp.has_value() && !hp->host.empty() && hp->port != 0 && hp->to_string() == a;
}

struct Series {
  std::deque<Point> points;
  std::uint64_t calls = 0;   // total over the providers at the last scrape
  std::uint64_t errors = 0;
  std::map<StatusCode, std::uint64_t> errors_by_code;  // totals, over the providers
  bool stream = false;             // a stream method: calls are streams
  std::int64_t active = 0;         // streams open now, over the providers
  std::uint64_t messages_in = 0;   // stream messages, over the providers
  std::uint64_t messages_out = 0;
};

}  // namespace

struct MonitorCenter::Impl {
  MonitorOptions options;
  std::shared_ptr<Registry> registry;
  std::mutex tick_mu;  // serializes tick()
  mutable std::mutex mu;  // guards the state below
  std::string registry_error;
  std::uint64_t ticks = 0;
  std::map<std::string, std::vector<ProviderInfo>> services;
  std::map<std::string, std::vector<Url>> consumers;  // by service, from Registry::list_consumers
  std::map<std::string, ConfigView> configs;  // by service; absent: the backend keeps none
  std::mutex change_mu;  // serializes change_provider_override()
  ProviderEventLog events;
  std::map<std::string, Endpoint> endpoints;  // by admin address
  std::map<Key, Series> series;
  std::thread thread;
  std::condition_variable cv;
  bool stopping = false;
  bool started = false;

  void discover(std::map<std::string, std::vector<ProviderInfo>>* out,
                std::map<std::string, std::vector<Url>>* consumers, std::string* error) {
    auto names = registry->list_services();
    if (!names) {
      *error = names.status().to_string();
      return;
    }
    for (auto& name : *names) {
      auto providers = registry->lookup(name);
      if (!providers) {
        *error = providers.status().to_string();
        continue;
      }
      auto& list = (*out)[name];
      for (auto& u : *providers) list.push_back({u, u.param(kAdminParameter)});
      // Who calls it; a backend without consumers (direct://, an older
      // tern registry) shows none.
      if (auto c = registry->list_consumers(name)) (*consumers)[name] = std::move(*c);
    }
  }
};

MonitorCenter::MonitorCenter(MonitorOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
}

MonitorCenter::~MonitorCenter() { shutdown(); }

Status MonitorCenter::start() {
  auto url = Url::parse(impl_->options.registry);
  if (!url) return url.status();
  RegistryOptions ro;
  ro.request_timeout = std::chrono::milliseconds(1000);
  ro.tls = impl_->options.registry_tls;
  auto reg = create_registry_any(*url, ro);
  if (!reg) return reg.status();
  impl_->registry = *reg;
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return Status(StatusCode::kFailedPrecondition, "monitor already started");
  impl_->started = true;
  impl_->thread = std::thread([this] {
    auto next = Clock::now();
    std::unique_lock lock(impl_->mu);
    while (!impl_->stopping) {
      lock.unlock();
      tick();
      lock.lock();
      next += impl_->options.interval;
      if (next < Clock::now()) next = Clock::now();
      impl_->cv.wait_until(lock, next, [&] { return impl_->stopping; });
    }
  });
  return Status();
}

void MonitorCenter::shutdown() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void MonitorCenter::tick() {
  auto& im = *impl_;
  std::lock_guard tick_lock(im.tick_mu);
  if (!im.registry) return;
  std::map<std::string, std::vector<ProviderInfo>> found;
  std::map<std::string, std::vector<Url>> consumers;
  std::string error;
  im.discover(&found, &consumers, &error);

  // The rules in force: each service's configuration document (blocking:
  // outside the state lock). A backend without configuration shows none.
  // Services that only have history left (no provider now) are shown too,
  // and a document may exist without providers.
  std::set<std::string> config_names;
  for (auto& [service, _] : found) config_names.insert(service);
  {
    std::lock_guard lock(im.mu);
    for (auto& [key, _] : im.series) config_names.insert(key.first);
  }
  std::map<std::string, ConfigView> configs;
  for (auto& service : config_names) {
    auto doc = im.registry->get_config(service);
    if (!doc && doc.status().code() == StatusCode::kUnimplemented) continue;
    configs[service] = view_of(std::move(doc));
  }

  // Providers that left since the last tick: does their admin endpoint still
  // answer? (No: the process is gone, the event is "expired".)
  std::map<std::string, std::string> unreachable;  // provider URL -> why
  if (error.empty()) {
    std::vector<ProviderInfo> gone;
    {
      std::lock_guard lock(im.mu);
      for (auto& [service, list] : im.services) {
        auto now_list = found.find(service);
        for (auto& p : list) {
          bool still = false;
          if (now_list != found.end()) {
            for (auto& q : now_list->second) still = still || q.url == p.url;
          }
          if (!still && !p.admin.empty()) gone.push_back(p);
        }
      }
    }
    for (auto& p : gone) {
      auto hp = parse_host_port(p.admin);
      auto r = hp ? http_get(*hp, "/health", im.options.scrape_timeout) : Result<HttpResponse>(hp.status());
      if (!r) unreachable[p.url.to_string()] = "admin " + p.admin + " unreachable: " + r.status().message();
    }
  }

  // Scrape every distinct admin endpoint (outside the state lock: it blocks).
  std::set<std::string> admins;
  for (auto& [_, list] : found) {
    for (auto& p : list) {
      if (!p.admin.empty()) admins.insert(p.admin);
    }
  }
  struct Scrape {
    Status status;
    double uptime = 0;
    std::vector<MethodSnapshot> methods;
  };
  std::map<std::string, Scrape> scrapes;
  for (auto& a : admins) {
    Scrape s;
    auto hp = parse_host_port(a);
    if (!hp) {
      s.status = hp.status();
    } else if (auto r = http_get(*hp, "/status", im.options.scrape_timeout); !r) {
      s.status = r.status();
    } else if (r->status != 200) {
      s.status = Status(StatusCode::kUnavailable, "HTTP " + std::to_string(r->status) + " from /status");
    } else if (auto parsed = parse_status_json(r->body, &s.uptime); !parsed) {
      s.status = parsed.status();
    } else {
      s.methods = std::move(*parsed);
    }
    scrapes.emplace(a, std::move(s));
  }

  auto now = Clock::now();
  std::int64_t t = unix_ms();
  std::lock_guard lock(im.mu);
  ++im.ticks;
  im.registry_error = error;
  if (error.empty() || !found.empty()) im.services = std::move(found);
  if (error.empty() || !consumers.empty()) im.consumers = std::move(consumers);
  for (auto& [service, view] : configs) {
    // An unreachable registry does not make the last document read go away.
    auto old = im.configs.find(service);
    if (view.read_failed && old != im.configs.end()) {
      view.document = old->second.document;
      view.summary = old->second.summary;
      view.providers = old->second.providers;
    }
  }
  if (error.empty() || !configs.empty()) im.configs = std::move(configs);

  // Interval deltas, summed over the endpoints, per (service, method).
  struct Acc {
    double qps = 0;
    std::uint64_t calls = 0, errors = 0;  // in the interval
    std::uint64_t total_calls = 0, total_errors = 0;
    std::map<StatusCode, std::uint64_t> errors_by_code;
    bool stream = false;
    std::int64_t active = 0;
    std::uint64_t messages_in = 0, messages_out = 0;
    std::array<std::uint64_t, kLatencyBuckets> buckets{};
  };
  std::map<Key, Acc> acc;
  for (auto& [service, list] : im.services) {
    for (auto& p : list) {
      std::string methods = p.url.param("methods");
      std::size_t start = 0;
      while (start < methods.size()) {
        auto comma = methods.find(',', start);
        std::string m = methods.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!m.empty()) acc[{service, m}];
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  }
  for (auto& [admin, s] : scrapes) {
    auto& ep = im.endpoints[admin];
    if (!s.status.is_ok()) {
      ep.up = false;
      ep.error = s.status.to_string();
      ep.qps.clear();
      continue;
    }
    double dt = ep.ever_ok ? std::chrono::duration<double>(now - ep.last_ok).count() : 0;
    bool restarted = ep.ever_ok && s.uptime < ep.uptime;
    std::map<Key, MethodSnapshot> current;
    ep.qps.clear();
    for (auto& m : s.methods) {
      if (m.side != Side::kProvider) continue;
      Key key{m.service, m.method};
      auto& a = acc[key];
      a.total_calls += m.calls;
      a.total_errors += m.errors;
      for (auto& entry : m.errors_by_code) a.errors_by_code[entry.first] += entry.second;
      a.stream = a.stream || m.stream;
      a.active += m.in_flight;
      a.messages_in += m.messages_in;
      a.messages_out += m.messages_out;
      auto prev = ep.last.find(key);
      if (ep.ever_ok && dt > 0) {
        MethodSnapshot zero;
        const MethodSnapshot& p = (prev == ep.last.end() || restarted) ? zero : prev->second;
        if (m.calls >= p.calls) {
          auto dc = m.calls - p.calls;
          a.calls += dc;
          a.errors += m.errors >= p.errors ? m.errors - p.errors : 0;
          a.qps += static_cast<double>(dc) / dt;
          ep.qps[key] = static_cast<double>(dc) / dt;
          for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
            if (m.buckets[i] >= p.buckets[i]) a.buckets[i] += m.buckets[i] - p.buckets[i];
          }
        }
      }
      current.emplace(std::move(key), std::move(m));
    }
    ep.last = std::move(current);
    ep.ever_ok = true;
    ep.up = true;
    ep.error.clear();
    ep.last_ok = now;
    ep.uptime = s.uptime;
  }
  // The event log, from the providers as this tick saw them (only after a
  // complete discovery: a failed lookup is not every provider leaving).
  if (error.empty()) {
    std::vector<ProviderEventLog::Seen> seen;
    for (auto& [service, list] : im.services) {
      for (auto& p : list) {
        ProviderEventLog::Seen s{service, p.url.to_string(), p.url.address(), !p.admin.empty(), false, ""};
        if (auto ep = im.endpoints.find(p.admin); s.has_admin && ep != im.endpoints.end()) {
          s.up = ep->second.up;
          s.error = ep->second.error;
        }
        seen.push_back(std::move(s));
      }
    }
    im.events.update(t, seen, [&](const ProviderEventLog::Seen& s, std::string* why) {
      auto it = unreachable.find(s.url);
      if (it == unreachable.end()) return false;
      *why = it->second;
      return true;
    });
  }
  // Forget endpoints no provider announces any more.
  for (auto it = im.endpoints.begin(); it != im.endpoints.end();) {
    it = admins.count(it->first) ? std::next(it) : im.endpoints.erase(it);
  }

  for (auto& [key, a] : acc) {
    auto& s = im.series[key];
    s.calls = a.total_calls;
    s.errors = a.total_errors;
    s.errors_by_code = a.errors_by_code;
    s.stream = a.stream;
    s.active = a.active;
    s.messages_in = a.messages_in;
    s.messages_out = a.messages_out;
    Point p;
    p.t = t;
    p.qps = a.qps;
    p.error_rate = a.calls > 0 ? static_cast<double>(a.errors) / static_cast<double>(a.calls) : 0;
    std::uint64_t n = 0;
    for (auto b : a.buckets) n += b;
    if (n > 0) {
      p.has_latency = true;
      p.p50 = histogram_quantile(a.buckets, 0.50) * 1e3;
      p.p90 = histogram_quantile(a.buckets, 0.90) * 1e3;
      p.p99 = histogram_quantile(a.buckets, 0.99) * 1e3;
      p.p999 = histogram_quantile(a.buckets, 0.999) * 1e3;
    }
    s.points.push_back(p);
    while (s.points.size() > im.options.history) s.points.pop_front();
  }
}

Result<ProviderOverrideResult> MonitorCenter::change_provider_override(const std::string& service,
                                                                      const std::string& address,
                                                                      const ProviderOverrideChange& change) {
  auto& im = *impl_;
  std::lock_guard change_lock(im.change_mu);
  if (!im.registry) return Status(StatusCode::kFailedPrecondition, "the monitor is not started");
  if (change.clear && (change.weight || change.disabled)) {
    return Status(StatusCode::kInvalidArgument, "clear removes the provider's overrides: give it alone");
  }
  if (!change.clear && !change.weight && !change.disabled) {
    return Status(StatusCode::kInvalidArgument, "nothing to change: give weight, disabled or clear");
  }
  if (change.weight && (*change.weight < 0 || *change.weight > 1000000)) {
    return Status(StatusCode::kInvalidArgument,
                  "weight " + std::to_string(*change.weight) + " is out of range [0, 1000000]");
  }
  if (!valid_provider_address(address)) {
    return Status(StatusCode::kInvalidArgument, "\"" + address + "\" is not a provider address host:port");
  }
  bool is_provider = false;
  {
    std::lock_guard lock(im.mu);
    auto it = im.services.find(service);
    if (it == im.services.end()) {
      return Status(StatusCode::kInvalidArgument, "unknown service \"" + service + "\" (not in the registry's list)");
    }
    for (auto& p : it->second) is_provider = is_provider || p.url.address() == address;
  }

  auto current = im.registry->get_config(service);
  if (!current) return current.status();
  auto config = parse_governance_config(current->text, {.check_extensions = false});
  if (!config) {
    return Status(StatusCode::kFailedPrecondition,
                  "the stored document of " + service + " (revision " + std::to_string(current->revision) +
                      ") does not parse here: " + config.status().message() + "; fix it with `tern config set`");
  }
  auto entry = config->providers.find(address);
  if (!is_provider && entry == config->providers.end()) {
    return Status(StatusCode::kInvalidArgument,
                  "\"" + address + "\" is neither a provider of " + service + " nor in its configuration");
  }
  if (change.clear) {
    if (entry != config->providers.end()) config->providers.erase(entry);
  } else {
    ProviderOverride& o = config->providers[address];
    if (change.weight) o.weight = *change.weight;
    if (change.disabled) o.disabled = *change.disabled;
    if (!o.weight && !o.disabled) config->providers.erase(address);  // nothing left to override
  }
  const std::string text = format_governance_config(*config);
  if (auto checked = parse_governance_config(text, {.check_extensions = false}); !checked) {
    return Status(StatusCode::kInternal, "the changed document does not parse: " + checked.status().message());
  }
  if (Status s = im.registry->set_config(service, text); !s.is_ok()) return s;

  // Read back: the revision, and what the dashboard shows from now on.
  ConfigView view = view_of(im.registry->get_config(service));
  if (view.read_failed) return Status(StatusCode::kUnavailable, "written, but reading it back failed: " + view.error);
  ProviderOverrideResult result{view.document, describe_governance_config(*config)};
  std::lock_guard lock(im.mu);
  im.configs[service] = std::move(view);
  return result;
}

std::string MonitorCenter::state_json() const {
  using nlohmann::json;
  auto& im = *impl_;
  std::lock_guard lock(im.mu);
  auto now = Clock::now();
  json services = json::array();
  std::set<std::string> names;
  for (auto& [name, _] : im.services) names.insert(name);
  for (auto& [key, _] : im.series) names.insert(key.first);
  for (auto& name : names) {
    json providers = json::array();
    auto config = im.configs.find(name);
    if (auto it = im.services.find(name); it != im.services.end()) {
      for (auto& p : it->second) {
        json row = {{"address", p.url.address()},
                    {"url", p.url.to_string()},
                    {"weight", p.url.int_param("weight", 100)},
                    {"version", p.url.param("version")},
                    {"group", p.url.param("group")},
                    {"admin", p.admin},
                    {"status", "no-admin"},
                    {"last_scrape_age_ms", nullptr},
                    {"error", ""},
                    {"qps", 0.0},
                    {"calls", 0},
                    {"in_flight", 0},
                    {"override_weight", nullptr},
                    {"disabled", false}};
        if (config != im.configs.end()) {
          if (auto o = config->second.providers.find(p.url.address()); o != config->second.providers.end()) {
            if (o->second.weight) row["override_weight"] = *o->second.weight;
            row["disabled"] = o->second.disabled;
          }
        }
        if (auto ep = im.endpoints.find(p.admin); !p.admin.empty() && ep != im.endpoints.end()) {
          auto& e = ep->second;
          row["status"] = e.up ? "up" : "down";
          row["error"] = e.error;
          if (e.ever_ok) {
            row["last_scrape_age_ms"] =
                std::chrono::duration_cast<std::chrono::milliseconds>(now - e.last_ok).count();
          }
          double qps = 0;
          std::uint64_t calls = 0;
          std::int64_t in_flight = 0;
          for (auto& [k, m] : e.last) {
            if (k.first != name) continue;
            calls += m.calls;
            in_flight += m.in_flight;
          }
          for (auto& [k, q] : e.qps) {
            if (k.first == name) qps += q;
          }
          row["qps"] = qps;
          row["calls"] = calls;
          row["in_flight"] = in_flight;
        } else if (!p.admin.empty()) {
          row["status"] = "down";
        }
        providers.push_back(std::move(row));
      }
    }
    json methods = json::array();
    for (auto it = im.series.lower_bound({name, ""}); it != im.series.end() && it->first.first == name; ++it) {
      json points = json::array();
      for (auto& p : it->second.points) {
        json jp = {{"t", p.t}, {"qps", p.qps}, {"error_rate", p.error_rate}};
        if (p.has_latency) {
          jp["p50"] = p.p50;
          jp["p90"] = p.p90;
          jp["p99"] = p.p99;
          jp["p999"] = p.p999;
        } else {
          jp["p50"] = jp["p90"] = jp["p99"] = jp["p999"] = nullptr;
        }
        points.push_back(std::move(jp));
      }
      json by_code = json::object();
      for (auto& entry : it->second.errors_by_code) by_code[std::string(status_code_name(entry.first))] = entry.second;
      methods.push_back({{"name", it->first.second},
                         {"calls", it->second.calls},
                         {"errors", it->second.errors},
                         {"errors_by_code", std::move(by_code)},
                         {"stream", it->second.stream},
                         {"active", it->second.active},
                         {"messages_in", it->second.messages_in},
                         {"messages_out", it->second.messages_out},
                         {"series", std::move(points)}});
    }
    json consumers = json::array();
    if (auto it = im.consumers.find(name); it != im.consumers.end()) {
      for (auto& c : it->second) {
        consumers.push_back({{"host", c.host_port().host},
                             {"application", c.param("application")},
                             {"hostname", c.param("hostname")},
                             {"pid", c.param("pid")},
                             {"version", c.param("version")},
                             {"group", c.param("group")},
                             {"url", c.to_string()}});
      }
    }
    json config_json = nullptr;
    if (config != im.configs.end()) {
      config_json = {{"revision", config->second.document.revision},
                     {"text", config->second.document.text},
                     {"summary", config->second.summary},
                     {"error", config->second.error}};
    }
    services.push_back({{"name", name},
                        {"providers", std::move(providers)},
                        {"config", std::move(config_json)},
                        {"consumers", std::move(consumers)},
                        {"methods", std::move(methods)}});
  }
  json events = json::array();
  for (auto it = im.events.events().rbegin(); it != im.events.events().rend(); ++it) {
    events.push_back({{"t", it->t},
                      {"kind", it->kind},
                      {"service", it->service},
                      {"address", it->address},
                      {"url", it->url},
                      {"detail", it->detail}});
  }
  json doc = {{"now_ms", unix_ms()},
              {"registry", im.options.registry},
              {"registry_error", im.registry_error},
              {"interval_ms", im.options.interval.count()},
              {"ticks", im.ticks},
              {"services", std::move(services)},
              {"events", std::move(events)}};
  // The document text and URLs come from the registry: bytes that are not
  // UTF-8 become U+FFFD instead of an exception.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tern::monitor
