// Key/value parsers for the options structs (tern/config.h): one table of
// fields per struct, each field a key, a setter that validates the text and
// a getter that prints the current value back in the same form. URL
// parameters, the YAML loader and docs/configuration.md's test all go
// through these tables, so a key cannot mean two things.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tern/cluster/cluster.h"
#include "tern/cluster/load_balancer.h"
#include "tern/cluster/router.h"
#include "tern/config.h"
#include "tern/dispatcher.h"
#include "tern/protocol/compression.h"
#include "tern/serialization/codecs.h"

namespace tern {
namespace {

using std::chrono::milliseconds;

Status invalid(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

std::string quoted(std::string_view v) { return "\"" + std::string(v) + "\""; }

// ---- value parsers (messages without the key; apply_param() prefixes it) ----

template <typename Int>
Status set_int(Int& out, std::string_view v, Int min, Int max) {
  Int parsed{};
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
  if (v.empty() || ec == std::errc::invalid_argument || end != v.data() + v.size() || v.front() == '+') {
    return invalid(quoted(v) + " is not an integer");
  }
  if (ec == std::errc::result_out_of_range || parsed < min || parsed > max) {
    return invalid(quoted(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  out = parsed;
  return Status();
}

// "500", "500ms", "3s", "2min" -> milliseconds, at least `min_ms`.
// A whole number of microseconds, 1 to 10 s.
Status set_micros(std::chrono::microseconds& out, std::string_view v) {
  std::int64_t us = 0;
  Status s = set_int<std::int64_t>(us, v, 1, 10'000'000);
  if (s.is_ok()) out = std::chrono::microseconds(us);
  return s;
}

Status set_duration(milliseconds& out, std::string_view v, std::int64_t min_ms) {
  std::size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
  std::string_view unit = v.substr(digits);
  std::int64_t factor = 0;
  if (unit.empty() || unit == "ms") factor = 1;
  else if (unit == "s") factor = 1000;
  else if (unit == "min") factor = 60000;
  const auto bad = [&] {
    return invalid(quoted(v) + " is not a duration (milliseconds, or a whole number with ms, s or min)");
  };
  if (digits == 0 || factor == 0) return bad();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + digits, n);
  constexpr std::int64_t kMaxMs = std::int64_t{1} << 40;  // ~35 years: far beyond any sane setting
  if (ec != std::errc() || end != v.data() + digits || n > kMaxMs / factor) {
    return invalid(quoted(v) + " is too large");
  }
  if (n * factor < min_ms) return invalid(quoted(v) + " must be at least " + std::to_string(min_ms) + " ms");
  out = milliseconds(n * factor);
  return Status();
}

std::string ms(milliseconds d) { return std::to_string(d.count()); }

// "0.5", "5%" -> a share in (0, 1].
Status set_rate(double& out, std::string_view v) {
  std::string_view number = v;
  double scale = 1.0;
  if (!number.empty() && number.back() == '%') {
    number.remove_suffix(1);
    scale = 0.01;
  }
  double parsed = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), parsed);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size()) {
    return invalid(quoted(v) + " is not a number (0.5, or a percentage like 50%)");
  }
  parsed *= scale;
  if (!(parsed > 0.0 && parsed <= 1.0)) return invalid(quoted(v) + " is out of range (0, 1]");
  out = parsed;
  return Status();
}

std::string rate(double r) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, r);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(r);
}

Status set_pool_kind(std::string& out, std::string_view v) {
  if (v != "fixed" && v != "cached" && v != "limited") {
    return invalid("unknown pool " + quoted(v) + " (known: fixed, cached, limited)");
  }
  out = std::string(v);
  return Status();
}

Status set_dispatcher(std::string& out, std::string_view v, bool allow_empty) {
  if (v.empty() && allow_empty) {
    out.clear();
    return Status();
  }
  auto policy = dispatch_policy(v);
  if (!policy) return policy.status();
  out = std::string(v);
  return Status();
}

Status set_serialization(std::string& out, std::string_view v) {
  std::uint8_t id = 0;
  if (!serialization::serialization_id(v, &id)) {
    return invalid("unknown serialization " + quoted(v) + " (known: msgpack, json, protobuf)");
  }
  out = std::string(v);
  return Status();
}

Status set_load_balancer(std::string& out, std::string_view v) {
  auto lb = cluster::create_load_balancer(v);  // the table's own error lists the known names
  if (!lb) return lb.status();
  out = std::string(v);
  return Status();
}

Status set_cluster(std::string& out, std::string_view v) {
  auto ft = cluster::create_cluster(v);  // the table's own error lists the known names
  if (!ft) return ft.status();
  out = std::string(v);
  return Status();
}

Status set_host_port(std::string& out, std::string_view v) {
  auto hp = parse_host_port(v);
  if (!hp) return hp.status();
  auto bracket = v.rfind(']');
  if (v.find(':', bracket == std::string_view::npos ? 0 : bracket) == std::string_view::npos) {
    return invalid("'" + std::string(v) + "' has no port (write '" + std::string(v) + ":0' for a free port)");
  }
  out = std::string(v);
  return Status();
}

Status set_nonempty(std::string& out, std::string_view v) {
  if (v.empty()) return invalid("must not be empty");
  out = std::string(v);
  return Status();
}

Status set_bool(bool& out, std::string_view v) {
  if (v == "true") out = true;
  else if (v == "false") out = false;
  else return invalid(quoted(v) + " is not a boolean (true or false)");
  return Status();
}

std::string yes_no(bool b) { return b ? "true" : "false"; }

Status set_compression(std::string& out, std::string_view v) {
  auto c = protocol::parse_compression(v);
  if (!c) return c.status();
  out = std::string(v);
  return Status();
}

Status set_tls_version(std::string& out, std::string_view v) {
  if (v != "1.2" && v != "1.3") return invalid("unknown TLS version " + quoted(v) + " (known: 1.2, 1.3)");
  out = std::string(v);
  return Status();
}

Status set_text(std::string& out, std::string_view v) {
  out = std::string(v);
  return Status();
}

// "add, get,put" -> {add, get, put}; an empty value clears the set.
Status set_method_list(std::set<std::string, std::less<>>& out, std::string_view v) {
  std::set<std::string, std::less<>> methods;
  while (!v.empty()) {
    std::size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) return invalid("empty method name in the list");
    methods.emplace(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
    if (v.empty()) return invalid("empty method name in the list");
  }
  out = std::move(methods);
  return Status();
}

std::string join(const std::set<std::string, std::less<>>& items) {
  std::string s;
  for (const auto& i : items) {
    if (!s.empty()) s += ',';
    s += i;
  }
  return s;
}

// "tag:|condition:method = get => version = 2.0" -> two route specs, each
// checked by building the chain, so a bad rule fails here (at load time)
// with RouterChain's "routes[i] ..." message; an empty value clears the
// routes. '|' separates because no built-in rule grammar uses it (',' ';' '&'
// '=' and '%' all occur in rules).
constexpr char kRouteSeparator = '|';
Status set_routes(std::vector<std::string>& out, std::string_view v) {
  std::vector<std::string> routes;
  for (std::size_t i = 0; !v.empty(); ++i) {
    std::size_t bar = v.find(kRouteSeparator);
    std::string_view item = v.substr(0, bar);
    if (item.empty()) return invalid("routes[" + std::to_string(i) + "] is empty (routes are separated by '|')");
    routes.emplace_back(item);
    if (bar == std::string_view::npos) break;
    v.remove_prefix(bar + 1);
    if (v.empty()) return invalid("routes[" + std::to_string(i + 1) + "] is empty (routes are separated by '|')");
  }
  auto chain = cluster::RouterChain::create(routes);
  if (!chain) return chain.status();
  out = std::move(routes);
  return Status();
}

std::string join_routes(const std::vector<std::string>& routes) {
  std::string s;
  for (const auto& r : routes) {
    if (!s.empty()) s += kRouteSeparator;
    s += r;
  }
  return s;
}

constexpr std::size_t kMaxCount = 1u << 20;
constexpr std::uint32_t kMaxMetaLimit = 0xFFFF;  // the header's u16 metadata length

// ---- the field tables -------------------------------------------------------

template <typename O>
struct Field {
  std::string_view key;
  Status (*set)(O&, std::string_view);
  std::string (*get)(const O&);
};

using RO = ReferenceOptions;
const std::vector<Field<RO>>& reference_fields() {
  static const std::vector<Field<RO>> fields = {
      {"backup_request", [](RO& o, std::string_view v) { return set_duration(o.backup_request, v, 0); },
       [](const RO& o) { return ms(o.backup_request); }},
      {"breaker_failure_rate", [](RO& o, std::string_view v) { return set_rate(o.breaker_failure_rate, v); },
       [](const RO& o) { return rate(o.breaker_failure_rate); }},
      {"breaker_min_calls", [](RO& o, std::string_view v) { return set_int(o.breaker_min_calls, v, 1, 100000); },
       [](const RO& o) { return std::to_string(o.breaker_min_calls); }},
      {"breaker_slow_call", [](RO& o, std::string_view v) { return set_duration(o.breaker_slow_call, v, 0); },
       [](const RO& o) { return ms(o.breaker_slow_call); }},
      {"breaker_slow_rate", [](RO& o, std::string_view v) { return set_rate(o.breaker_slow_rate, v); },
       [](const RO& o) { return rate(o.breaker_slow_rate); }},
      {"breaker_window", [](RO& o, std::string_view v) { return set_int(o.breaker_window, v, 0, 100000); },
       [](const RO& o) { return std::to_string(o.breaker_window); }},
      {"cluster", [](RO& o, std::string_view v) { return set_cluster(o.cluster, v); },
       [](const RO& o) { return o.cluster; }},
      {"compression", [](RO& o, std::string_view v) { return set_compression(o.compression, v); },
       [](const RO& o) { return o.compression; }},
      {"compression_threshold",
       [](RO& o, std::string_view v) {
         return set_int<std::size_t>(o.compression_threshold, v, 0, std::numeric_limits<std::size_t>::max());
       },
       [](const RO& o) { return std::to_string(o.compression_threshold); }},
      {"contract_check",
       [](RO& o, std::string_view v) {
         if (v != "warn" && v != "strict" && v != "off") {
           return Status(StatusCode::kInvalidArgument,
                         "contract_check: '" + std::string(v) + "' is not one of warn, strict, off");
         }
         o.contract_check = std::string(v);
         return Status();
       },
       [](const RO& o) { return o.contract_check; }},
      {"eject_after", [](RO& o, std::string_view v) { return set_int(o.eject_after, v, 0, 1000000); },
       [](const RO& o) { return std::to_string(o.eject_after); }},
      {"eject_backoff", [](RO& o, std::string_view v) { return set_duration(o.eject_backoff, v, 1); },
       [](const RO& o) { return ms(o.eject_backoff); }},
      {"eject_backoff_max", [](RO& o, std::string_view v) { return set_duration(o.eject_backoff_max, v, 1); },
       [](const RO& o) { return ms(o.eject_backoff_max); }},
      {"forks", [](RO& o, std::string_view v) { return set_int(o.forks, v, 1, 1000); },
       [](const RO& o) { return std::to_string(o.forks); }},
      {"group", [](RO& o, std::string_view v) { return set_text(o.group, v); }, [](const RO& o) { return o.group; }},
      {"idempotent_methods", [](RO& o, std::string_view v) { return set_method_list(o.idempotent_methods, v); },
       [](const RO& o) { return join(o.idempotent_methods); }},
      {"load_balance", [](RO& o, std::string_view v) { return set_load_balancer(o.load_balance, v); },
       [](const RO& o) { return o.load_balance; }},
      {"retries", [](RO& o, std::string_view v) { return set_int(o.retries, v, 0, 100); },
       [](const RO& o) { return std::to_string(o.retries); }},
      {"routes", [](RO& o, std::string_view v) { return set_routes(o.routes, v); },
       [](const RO& o) { return join_routes(o.routes); }},
      {"seed",
       [](RO& o, std::string_view v) {
         return set_int<std::uint64_t>(o.seed, v, 0, std::numeric_limits<std::uint64_t>::max());
       },
       [](const RO& o) { return std::to_string(o.seed); }},
      {"serialization", [](RO& o, std::string_view v) { return set_serialization(o.serialization, v); },
       [](const RO& o) { return o.serialization; }},
      {"timeout", [](RO& o, std::string_view v) { return set_duration(o.timeout, v, 1); },
       [](const RO& o) { return ms(o.timeout); }},
      {"version", [](RO& o, std::string_view v) { return set_text(o.version, v); },
       [](const RO& o) { return o.version; }},
      {"warmup", [](RO& o, std::string_view v) { return set_duration(o.warmup, v, 0); },
       [](const RO& o) { return ms(o.warmup); }},
  };
  return fields;
}

using SO = ServerOptions;
const std::vector<Field<SO>>& server_fields() {
  static const std::vector<Field<SO>> fields = {
      {"compression_threshold",
       [](SO& o, std::string_view v) {
         return set_int<std::size_t>(o.compression_threshold, v, 0, std::numeric_limits<std::size_t>::max());
       },
       [](const SO& o) { return std::to_string(o.compression_threshold); }},
      {"max_write_queue_bytes",
       [](SO& o, std::string_view v) {
         return set_int<std::size_t>(o.max_write_queue_bytes, v, 1, std::numeric_limits<std::size_t>::max());
       },
       [](const SO& o) { return std::to_string(o.max_write_queue_bytes); }},
      {"reflection", [](SO& o, std::string_view v) { return set_bool(o.reflection, v); },
       [](const SO& o) { return yes_no(o.reflection); }},
      {"grpc_health", [](SO& o, std::string_view v) { return set_bool(o.grpc_health, v); },
       [](const SO& o) { return yes_no(o.grpc_health); }},
      {"grpc_reflection", [](SO& o, std::string_view v) { return set_bool(o.grpc_reflection, v); },
       [](const SO& o) { return yes_no(o.grpc_reflection); }},
      {"tls_enabled", [](SO& o, std::string_view v) { return set_bool(o.tls.enabled, v); },
       [](const SO& o) { return yes_no(o.tls.enabled); }},
      {"tls_cert_file", [](SO& o, std::string_view v) { return set_text(o.tls.cert_file, v); },
       [](const SO& o) { return o.tls.cert_file; }},
      {"tls_key_file", [](SO& o, std::string_view v) { return set_text(o.tls.key_file, v); },
       [](const SO& o) { return o.tls.key_file; }},
      {"tls_ca_file", [](SO& o, std::string_view v) { return set_text(o.tls.ca_file, v); },
       [](const SO& o) { return o.tls.ca_file; }},
      {"tls_require_client_cert", [](SO& o, std::string_view v) { return set_bool(o.tls.require_client_cert, v); },
       [](const SO& o) { return yes_no(o.tls.require_client_cert); }},
      {"tls_min_version", [](SO& o, std::string_view v) { return set_tls_version(o.tls.min_version, v); },
       [](const SO& o) { return o.tls.min_version; }},
      {"tls_handshake_timeout", [](SO& o, std::string_view v) { return set_duration(o.tls.handshake_timeout, v, 1); },
       [](const SO& o) { return ms(o.tls.handshake_timeout); }},
      {"announce_host", [](SO& o, std::string_view v) { return set_nonempty(o.announce_host, v); },
       [](const SO& o) { return o.announce_host; }},
      {"dispatcher", [](SO& o, std::string_view v) { return set_dispatcher(o.dispatcher, v, false); },
       [](const SO& o) { return o.dispatcher; }},
      {"heartbeat_interval", [](SO& o, std::string_view v) { return set_duration(o.heartbeat_interval, v, 0); },
       [](const SO& o) { return ms(o.heartbeat_interval); }},
      {"adaptive_promote_after",
       [](SO& o, std::string_view v) { return set_int<std::uint32_t>(o.adaptive.promote_after, v, 0, 1 << 20); },
       [](const SO& o) { return std::to_string(o.adaptive.promote_after); }},
      {"adaptive_promote_below", [](SO& o, std::string_view v) { return set_micros(o.adaptive.promote_below, v); },
       [](const SO& o) { return std::to_string(o.adaptive.promote_below.count()); }},
      {"adaptive_demote_mean_above",
       [](SO& o, std::string_view v) { return set_micros(o.adaptive.demote_mean_above, v); },
       [](const SO& o) { return std::to_string(o.adaptive.demote_mean_above.count()); }},
      {"adaptive_demote_above", [](SO& o, std::string_view v) { return set_micros(o.adaptive.demote_above, v); },
       [](const SO& o) { return std::to_string(o.adaptive.demote_above.count()); }},
      {"adaptive_max_demotions",
       [](SO& o, std::string_view v) { return set_int<std::uint32_t>(o.adaptive.max_demotions, v, 0, 64); },
       [](const SO& o) { return std::to_string(o.adaptive.max_demotions); }},
      {"io_block_threshold", [](SO& o, std::string_view v) { return set_duration(o.io_block_threshold, v, 1); },
       [](const SO& o) { return ms(o.io_block_threshold); }},
      {"io_threads", [](SO& o, std::string_view v) { return set_int<std::size_t>(o.io_threads, v, 0, 1024); },
       [](const SO& o) { return std::to_string(o.io_threads); }},
      {"listen", [](SO& o, std::string_view v) { return set_host_port(o.listen, v); },
       [](const SO& o) { return o.listen; }},
      {"max_body",
       [](SO& o, std::string_view v) {
         return set_int<std::uint32_t>(o.limits.max_body, v, 1, std::numeric_limits<std::uint32_t>::max());
       },
       [](const SO& o) { return std::to_string(o.limits.max_body); }},
      {"max_connections",
       [](SO& o, std::string_view v) { return set_int<std::size_t>(o.max_connections, v, 0, kMaxCount); },
       [](const SO& o) { return std::to_string(o.max_connections); }},
      {"max_in_flight_per_connection",
       [](SO& o, std::string_view v) {
         return set_int<std::size_t>(o.max_in_flight_per_connection, v, 0, kMaxCount);
       },
       [](const SO& o) { return std::to_string(o.max_in_flight_per_connection); }},
      {"max_meta",
       [](SO& o, std::string_view v) { return set_int<std::uint32_t>(o.limits.max_meta, v, 1, kMaxMetaLimit); },
       [](const SO& o) { return std::to_string(o.limits.max_meta); }},
      {"pool", [](SO& o, std::string_view v) { return set_pool_kind(o.pool, v); }, [](const SO& o) { return o.pool; }},
      {"pool_keep_alive", [](SO& o, std::string_view v) { return set_duration(o.pool_keep_alive, v, 1); },
       [](const SO& o) { return ms(o.pool_keep_alive); }},
      {"worker_queue", [](SO& o, std::string_view v) { return set_int<std::size_t>(o.worker_queue, v, 1, kMaxCount); },
       [](const SO& o) { return std::to_string(o.worker_queue); }},
      {"worker_threads",
       [](SO& o, std::string_view v) { return set_int<std::size_t>(o.worker_threads, v, 0, 4096); },
       [](const SO& o) { return std::to_string(o.worker_threads); }},
  };
  return fields;
}

using SvO = ServiceOptions;
constexpr std::string_view kParametersPrefix = "parameters.";
const std::vector<Field<SvO>>& service_fields() {
  static const std::vector<Field<SvO>> fields = {
      {"dispatcher", [](SvO& o, std::string_view v) { return set_dispatcher(o.dispatcher, v, true); },
       [](const SvO& o) { return o.dispatcher; }},
      {"group", [](SvO& o, std::string_view v) { return set_text(o.group, v); }, [](const SvO& o) { return o.group; }},
      // tern/overload.h, for every method of the service: "auto" (adaptive) or a number (0 = none).
      {"max_concurrency",
       [](SvO& o, std::string_view v) {
         if (v == "auto") {
           o.limit.adaptive = true;
           o.limit.max_concurrency = 0;
           return Status();
         }
         o.limit.adaptive = false;
         return set_int(o.limit.max_concurrency, v, 0, std::numeric_limits<int>::max());
       },
       [](const SvO& o) { return o.limit.adaptive ? std::string("auto") : std::to_string(o.limit.max_concurrency); }},
      {"max_qps",
       [](SvO& o, std::string_view v) {
         int qps = 0;
         if (Status s = set_int(qps, v, 0, std::numeric_limits<int>::max()); !s.is_ok()) return s;
         o.limit.max_qps = qps;
         return Status();
       },
       [](const SvO& o) { return std::to_string(static_cast<long long>(o.limit.max_qps)); }},
      {"name", [](SvO& o, std::string_view v) { return set_text(o.name, v); }, [](const SvO& o) { return o.name; }},
      {"version", [](SvO& o, std::string_view v) { return set_text(o.version, v); },
       [](const SvO& o) { return o.version; }},
      {"weight",
       [](SvO& o, std::string_view v) { return set_int(o.weight, v, 0, std::numeric_limits<int>::max()); },
       [](const SvO& o) { return std::to_string(o.weight); }},
  };
  return fields;
}

using RgO = RegistryOptions;
const std::vector<Field<RgO>>& registry_fields() {
  static const std::vector<Field<RgO>> fields = {
      {"heartbeat_interval", [](RgO& o, std::string_view v) { return set_duration(o.heartbeat_interval, v, 1); },
       [](const RgO& o) { return ms(o.heartbeat_interval); }},
      {"initial_backoff", [](RgO& o, std::string_view v) { return set_duration(o.initial_backoff, v, 1); },
       [](const RgO& o) { return ms(o.initial_backoff); }},
      {"max_backoff", [](RgO& o, std::string_view v) { return set_duration(o.max_backoff, v, 1); },
       [](const RgO& o) { return ms(o.max_backoff); }},
      {"request_timeout", [](RgO& o, std::string_view v) { return set_duration(o.request_timeout, v, 1); },
       [](const RgO& o) { return ms(o.request_timeout); }},
      {"cache_file", [](RgO& o, std::string_view v) { return set_text(o.cache_file, v); },
       [](const RgO& o) { return o.cache_file; }},
  };
  return fields;
}

using CO = ChannelOptions;
const std::vector<Field<CO>>& channel_fields() {
  static const std::vector<Field<CO>> fields = {
      {"callback_threads",
       [](CO& o, std::string_view v) { return set_int<std::size_t>(o.callback_threads, v, 0, 4096); },
       [](const CO& o) { return std::to_string(o.callback_threads); }},
      {"connect_timeout", [](CO& o, std::string_view v) { return set_duration(o.connect_timeout, v, 1); },
       [](const CO& o) { return ms(o.connect_timeout); }},
      {"dispatcher", [](CO& o, std::string_view v) { return set_dispatcher(o.dispatcher, v, false); },
       [](const CO& o) { return o.dispatcher; }},
      {"heartbeat_interval", [](CO& o, std::string_view v) { return set_duration(o.heartbeat_interval, v, 0); },
       [](const CO& o) { return ms(o.heartbeat_interval); }},
      {"reconnect_backoff", [](CO& o, std::string_view v) { return set_duration(o.reconnect_backoff, v, 0); },
       [](const CO& o) { return ms(o.reconnect_backoff); }},
      {"max_body",
       [](CO& o, std::string_view v) {
         return set_int<std::uint32_t>(o.limits.max_body, v, 1, std::numeric_limits<std::uint32_t>::max());
       },
       [](const CO& o) { return std::to_string(o.limits.max_body); }},
      {"max_meta",
       [](CO& o, std::string_view v) { return set_int<std::uint32_t>(o.limits.max_meta, v, 1, kMaxMetaLimit); },
       [](const CO& o) { return std::to_string(o.limits.max_meta); }},
      {"tls_enabled", [](CO& o, std::string_view v) { return set_bool(o.tls.enabled, v); },
       [](const CO& o) { return yes_no(o.tls.enabled); }},
      {"tls_cert_file", [](CO& o, std::string_view v) { return set_text(o.tls.cert_file, v); },
       [](const CO& o) { return o.tls.cert_file; }},
      {"tls_key_file", [](CO& o, std::string_view v) { return set_text(o.tls.key_file, v); },
       [](const CO& o) { return o.tls.key_file; }},
      {"tls_ca_file", [](CO& o, std::string_view v) { return set_text(o.tls.ca_file, v); },
       [](const CO& o) { return o.tls.ca_file; }},
      {"tls_server_name", [](CO& o, std::string_view v) { return set_text(o.tls.server_name, v); },
       [](const CO& o) { return o.tls.server_name; }},
      {"tls_min_version", [](CO& o, std::string_view v) { return set_tls_version(o.tls.min_version, v); },
       [](const CO& o) { return o.tls.min_version; }},
  };
  return fields;
}

template <typename O>
std::vector<std::string> keys_of(const std::vector<Field<O>>& fields) {
  std::vector<std::string> keys;
  for (const auto& f : fields) keys.emplace_back(f.key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string known_list(const std::vector<std::string>& keys) {
  std::string s;
  for (const auto& k : keys) {
    if (!s.empty()) s += ", ";
    s += k;
  }
  return s;
}

template <typename O>
const Field<O>* find_field(const std::vector<Field<O>>& fields, std::string_view key) {
  for (const auto& f : fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

Status unknown_key(std::string_view what, std::string_view key, const std::vector<std::string>& known) {
  return invalid("unknown " + std::string(what) + " parameter " + quoted(key) + " (known: " + known_list(known) + ")");
}

template <typename O>
Status apply_field(const std::vector<Field<O>>& fields, std::string_view what, const std::vector<std::string>& known,
                   O& options, std::string_view key, std::string_view value) {
  const Field<O>* f = find_field(fields, key);
  if (!f) return unknown_key(what, key, known);
  Status s = f->set(options, value);
  if (s.is_ok()) return s;
  // A message that already names the key with an index ("routes[1] ...") is kept.
  if (s.message().starts_with(std::string(key) + "[")) return s;
  return invalid(std::string(key) + ": " + s.message());
}

template <typename O>
Result<std::string> field_value(const std::vector<Field<O>>& fields, std::string_view what,
                                const std::vector<std::string>& known, const O& options, std::string_view key) {
  const Field<O>* f = find_field(fields, key);
  if (!f) return unknown_key(what, key, known);
  return f->get(options);
}

template <typename O>
Result<O> apply_all(const ConfigParams& params, O options) {
  for (const auto& [key, value] : params) {
    if (Status s = apply_param(options, key, value); !s.is_ok()) return s;
  }
  return options;
}

}  // namespace

// ---- ReferenceOptions ----

template <>
const std::vector<std::string>& param_keys<ReferenceOptions>() {
  static const std::vector<std::string> keys = keys_of(reference_fields());
  return keys;
}
Status apply_param(ReferenceOptions& o, std::string_view key, std::string_view value) {
  return apply_field(reference_fields(), "reference", param_keys<ReferenceOptions>(), o, key, value);
}
Result<std::string> param_value(const ReferenceOptions& o, std::string_view key) {
  return field_value(reference_fields(), "reference", param_keys<ReferenceOptions>(), o, key);
}
Result<ReferenceOptions> parse_reference_options(const ConfigParams& params, ReferenceOptions base) {
  auto r = apply_all(params, std::move(base));
  if (r && r->eject_backoff > r->eject_backoff_max) {
    return invalid("eject_backoff: " + ms(r->eject_backoff) + " ms exceeds eject_backoff_max (" +
                   ms(r->eject_backoff_max) + " ms)");
  }
  if (r && r->breaker_window > 0 && r->breaker_min_calls > r->breaker_window) {
    return invalid("breaker_min_calls: " + std::to_string(r->breaker_min_calls) + " exceeds breaker_window (" +
                   std::to_string(r->breaker_window) + ")");
  }
  return r;
}

// ---- ServerOptions ----

template <>
const std::vector<std::string>& param_keys<ServerOptions>() {
  static const std::vector<std::string> keys = keys_of(server_fields());
  return keys;
}
Status apply_param(ServerOptions& o, std::string_view key, std::string_view value) {
  return apply_field(server_fields(), "server", param_keys<ServerOptions>(), o, key, value);
}
Result<std::string> param_value(const ServerOptions& o, std::string_view key) {
  return field_value(server_fields(), "server", param_keys<ServerOptions>(), o, key);
}
Result<ServerOptions> parse_server_options(const ConfigParams& params, ServerOptions base) {
  return apply_all(params, std::move(base));
}

// ---- ServiceOptions ----

template <>
const std::vector<std::string>& param_keys<ServiceOptions>() {
  static const std::vector<std::string> keys = [] {
    auto k = keys_of(service_fields());
    k.push_back(std::string(kParametersPrefix) + "<name>");
    std::sort(k.begin(), k.end());
    return k;
  }();
  return keys;
}
Status apply_param(ServiceOptions& o, std::string_view key, std::string_view value) {
  if (key.starts_with(kParametersPrefix)) {
    std::string_view name = key.substr(kParametersPrefix.size());
    if (name.empty()) return invalid(std::string(key) + ": the parameter needs a name (parameters.<name>)");
    o.parameters[std::string(name)] = std::string(value);
    return Status();
  }
  return apply_field(service_fields(), "service", param_keys<ServiceOptions>(), o, key, value);
}
Result<std::string> param_value(const ServiceOptions& o, std::string_view key) {
  if (key.starts_with(kParametersPrefix) && key.size() > kParametersPrefix.size()) {
    auto it = o.parameters.find(std::string(key.substr(kParametersPrefix.size())));
    return it == o.parameters.end() ? std::string() : it->second;
  }
  return field_value(service_fields(), "service", param_keys<ServiceOptions>(), o, key);
}
Result<ServiceOptions> parse_service_options(const ConfigParams& params, ServiceOptions base) {
  return apply_all(params, std::move(base));
}

// ---- RegistryOptions ----

template <>
const std::vector<std::string>& param_keys<RegistryOptions>() {
  static const std::vector<std::string> keys = keys_of(registry_fields());
  return keys;
}
Status apply_param(RegistryOptions& o, std::string_view key, std::string_view value) {
  return apply_field(registry_fields(), "registry", param_keys<RegistryOptions>(), o, key, value);
}
Result<std::string> param_value(const RegistryOptions& o, std::string_view key) {
  return field_value(registry_fields(), "registry", param_keys<RegistryOptions>(), o, key);
}
Result<RegistryOptions> parse_registry_options(const ConfigParams& params, RegistryOptions base) {
  auto r = apply_all(params, std::move(base));
  if (r && r->initial_backoff > r->max_backoff) {
    return invalid("initial_backoff: " + ms(r->initial_backoff) + " ms exceeds max_backoff (" + ms(r->max_backoff) +
                   " ms)");
  }
  return r;
}

// ---- ChannelOptions ----

template <>
const std::vector<std::string>& param_keys<ChannelOptions>() {
  static const std::vector<std::string> keys = keys_of(channel_fields());
  return keys;
}
Status apply_param(ChannelOptions& o, std::string_view key, std::string_view value) {
  return apply_field(channel_fields(), "client", param_keys<ChannelOptions>(), o, key, value);
}
Result<std::string> param_value(const ChannelOptions& o, std::string_view key) {
  return field_value(channel_fields(), "client", param_keys<ChannelOptions>(), o, key);
}
Result<ChannelOptions> parse_channel_options(const ConfigParams& params, ChannelOptions base) {
  return apply_all(params, std::move(base));
}

// ---- ClientOptions: io_threads + its channel's keys ----

template <>
const std::vector<std::string>& param_keys<ClientOptions>() {
  static const std::vector<std::string> keys = [] {
    auto k = keys_of(channel_fields());
    k.push_back("io_threads");
    std::sort(k.begin(), k.end());
    return k;
  }();
  return keys;
}
Status apply_param(ClientOptions& o, std::string_view key, std::string_view value) {
  if (key == "io_threads") {
    Status s = set_int<std::size_t>(o.io_threads, value, 0, 1024);
    return s.is_ok() ? s : invalid("io_threads: " + s.message());
  }
  if (!find_field(channel_fields(), key)) return unknown_key("client", key, param_keys<ClientOptions>());
  return apply_param(o.channel, key, value);
}
Result<std::string> param_value(const ClientOptions& o, std::string_view key) {
  if (key == "io_threads") return std::to_string(o.io_threads);
  if (!find_field(channel_fields(), key)) return unknown_key("client", key, param_keys<ClientOptions>());
  return param_value(o.channel, key);
}
Result<ClientOptions> parse_client_options(const ConfigParams& params, ClientOptions base) {
  return apply_all(params, std::move(base));
}

// ---- reference URL ----

Result<ReferenceConfig> parse_reference_url(std::string_view text, ReferenceOptions base) {
  auto url = Url::parse(text);
  if (!url) return url.status();
  if (url->hosts().empty()) return invalid("reference URL " + quoted(text) + " names no registry host");
  auto options = parse_reference_options(url->params(), std::move(base));
  if (!options) return invalid("reference URL " + quoted(text) + ": " + options.status().message());
  ReferenceConfig rc;
  Url registry(url->scheme(), url->hosts());
  rc.registry = registry.to_string();
  rc.service = url->path();
  rc.options = std::move(*options);
  return rc;
}

}  // namespace tern
