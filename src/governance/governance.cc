// The dynamic configuration document (tern/governance.h): YAML through
// yaml-cpp, every value checked, every error INVALID_ARGUMENT "line N: key:
// what". yaml-cpp reports problems by throwing, so everything that touches a
// node runs inside one try block (its marks are 0-based; messages 1-based).
#include "tern/governance.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <limits>
#include <set>

#include "tern/cluster/load_balancer.h"
#include "tern/cluster/router.h"

namespace tern {

namespace {

Status error_at(const YAML::Node& node, std::string_view message) {
  std::string where;
  const YAML::Mark mark = node.Mark();
  if (mark.line >= 0) where = "line " + std::to_string(mark.line + 1) + ": ";
  return Status(StatusCode::kInvalidArgument, where + std::string(message));
}

std::string_view kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "a value";
  }
}

Status scalar(const YAML::Node& node, std::string_view key, std::string* out) {
  if (!node.IsScalar()) return error_at(node, std::string(key) + ": expected a value, got " + std::string(kind(node)));
  *out = node.Scalar();
  return Status();
}

// A whole number in [lo, hi].
Status integer(const YAML::Node& node, std::string_view key, long long lo, long long hi, long long* out) {
  std::string text;
  if (Status s = scalar(node, key, &text); !s.is_ok()) return s;
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return error_at(node, std::string(key) + ": \"" + text + "\" is not a whole number");
  }
  if (v < lo || v > hi) {
    return error_at(node, std::string(key) + ": " + text + " is out of range [" + std::to_string(lo) + ", " +
                              std::to_string(hi) + "]");
  }
  *out = v;
  return Status();
}

// Milliseconds, or a whole number with ms, s or min (as docs/configuration.md).
Status duration(const YAML::Node& node, std::string_view key, std::chrono::milliseconds* out) {
  std::string text;
  if (Status s = scalar(node, key, &text); !s.is_ok()) return s;
  auto bad = [&] {
    return error_at(node, std::string(key) + ": \"" + text +
                              "\" is not a duration (milliseconds, or a whole number with ms, s or min)");
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return bad();
  long long n = std::stoll(text.substr(0, digits));
  std::string_view unit = std::string_view(text).substr(digits);
  long long ms = 0;
  if (unit.empty() || unit == "ms") {
    ms = n;
  } else if (unit == "s") {
    ms = n * 1000;
  } else if (unit == "min") {
    ms = n * 60000;
  } else {
    return bad();
  }
  constexpr long long kDay = 24LL * 3600 * 1000;
  if (ms < 1 || ms > kDay) return error_at(node, std::string(key) + ": " + text + " is out of range [1ms, 1 day]");
  *out = std::chrono::milliseconds(ms);
  return Status();
}

// Calls fn(key, key node, value node) for each entry of map `node`, refusing
// repeated keys.
template <typename F>
Status each_entry(const YAML::Node& node, std::string_view what, F&& fn) {
  if (!node.IsMap()) return error_at(node, std::string(what) + ": expected a map, got " + std::string(kind(node)));
  std::set<std::string, std::less<>> seen;
  for (const auto& entry : node) {
    std::string key;
    if (Status s = scalar(entry.first, what, &key); !s.is_ok()) return s;
    if (!seen.insert(key).second) return error_at(entry.first, std::string(what) + ": \"" + key + "\" is repeated");
    if (Status s = fn(key, entry.first, entry.second); !s.is_ok()) return s;
  }
  return Status();
}

Status boolean(const YAML::Node& node, std::string_view key, bool* out) {
  std::string text;
  if (Status s = scalar(node, key, &text); !s.is_ok()) return s;
  if (text != "true" && text != "false") {
    return error_at(node, std::string(key) + ": expected true or false, got \"" + text + "\"");
  }
  *out = text == "true";
  return Status();
}

// "host:port" with a port in 1..65535 and a non-empty host.
bool valid_address(std::string_view a) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return false;
  unsigned port = 0;
  auto digits = a.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  return ec == std::errc() && end == digits.data() + digits.size() && port >= 1 && port <= 65535;
}

Status routes_key(const YAML::Node& node, const GovernanceParseOptions& options, GovernanceConfig& config) {
  if (!node.IsSequence()) return error_at(node, "routes: expected a list, got " + std::string(kind(node)));
  std::vector<std::string> routes;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string where = "routes[" + std::to_string(i) + "]";
    std::string spec;
    if (Status s = scalar(item, where, &spec); !s.is_ok()) return s;
    if (!options.check_extensions) {  // the form only: "<router>:<rule>"
      auto colon = spec.find(':');
      if (colon == std::string::npos || colon == 0) {
        return error_at(item, where + ": \"" + spec + "\" is not a route \"<router>:<rule>\"");
      }
      routes.push_back(std::move(spec));
      continue;
    }
    // One route at a time, so the error points at its own line;
    // RouterChain names it routes[0]: renamed to its real index.
    auto chain = cluster::RouterChain::create(std::span<const std::string>(&spec, 1));
    if (!chain) {
      std::string message = chain.status().message();
      constexpr std::string_view kFirst = "routes[0] ";
      if (message.starts_with(kFirst)) message = message.substr(kFirst.size());
      return error_at(item, where + ": " + message);
    }
    routes.push_back(std::move(spec));
  }
  config.routes = std::move(routes);
  return Status();
}

Status providers_key(const YAML::Node& node, GovernanceConfig& config) {
  return each_entry(node, "providers", [&](const std::string& address, const YAML::Node& key_node,
                                           const YAML::Node& value) -> Status {
    const std::string where = "providers." + address;
    if (!valid_address(address)) {
      return error_at(key_node, "providers: \"" + address + "\" is not a provider address host:port");
    }
    ProviderOverride o;
    Status s = each_entry(value, where, [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> Status {
      if (key == "weight") {
        long long w = 0;
        if (Status e = integer(v, where + ".weight", 0, 1000000, &w); !e.is_ok()) return e;
        o.weight = static_cast<int>(w);
        return Status();
      }
      if (key == "disabled") return boolean(v, where + ".disabled", &o.disabled);
      return error_at(k, where + ": unknown key \"" + key + "\" (known: weight, disabled)");
    });
    if (!s.is_ok()) return s;
    config.providers[address] = o;
    return Status();
  });
}

// A number >= 0 (max_qps may be fractional: 0.5 = one call every 2 s).
Status non_negative(const YAML::Node& node, std::string_view key, double hi, double* out) {
  std::string text;
  if (Status s = scalar(node, key, &text); !s.is_ok()) return s;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !(v == v)) {
    return error_at(node, std::string(key) + ": \"" + text + "\" is not a number");
  }
  if (v < 0 || v > hi) {
    return error_at(node, std::string(key) + ": " + text + " is out of range [0, " + std::to_string(static_cast<long long>(hi)) + "]");
  }
  *out = v;
  return Status();
}

// limits: {"*": {...}, method: {max_concurrency: N, max_qps: Q, adaptive: B}}
Status limits_key(const YAML::Node& node, GovernanceConfig& config) {
  std::map<std::string, MethodLimit, std::less<>> limits;
  Status s = each_entry(node, "limits", [&](const std::string& method, const YAML::Node& key_node,
                                            const YAML::Node& value) -> Status {
    if (method.empty()) return error_at(key_node, "limits: a method name may not be empty");
    const std::string where = "limits." + method;
    MethodLimit l;
    Status e = each_entry(value, where, [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> Status {
      if (key == "max_concurrency") {
        long long n = 0;
        if (Status x = integer(v, where + ".max_concurrency", 0, 1000000, &n); !x.is_ok()) return x;
        l.max_concurrency = static_cast<int>(n);
        return Status();
      }
      if (key == "max_qps") return non_negative(v, where + ".max_qps", 1e9, &l.max_qps);
      if (key == "adaptive") return boolean(v, where + ".adaptive", &l.adaptive);
      return error_at(k, where + ": unknown key \"" + key + "\" (known: max_concurrency, max_qps, adaptive)");
    });
    if (!e.is_ok()) return e;
    limits[method] = l;
    return Status();
  });
  if (!s.is_ok()) return s;
  config.limits = std::move(limits);
  return Status();
}

Status document(const YAML::Node& root, const GovernanceParseOptions& options, GovernanceConfig& config) {
  if (root.IsNull()) return Status();  // empty: overrides nothing
  if (!root.IsMap()) return error_at(root, "expected a map at the top, got " + std::string(kind(root)));
  return each_entry(root, "top level", [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> Status {
    if (key == "routes") return routes_key(v, options, config);
    if (key == "timeout") {
      std::chrono::milliseconds t{0};
      if (Status s = duration(v, "timeout", &t); !s.is_ok()) return s;
      config.timeout = t;
      return Status();
    }
    if (key == "retries") {
      long long r = 0;
      if (Status s = integer(v, "retries", 0, 100, &r); !s.is_ok()) return s;
      config.retries = static_cast<int>(r);
      return Status();
    }
    if (key == "load_balance") {
      std::string name;
      if (Status s = scalar(v, "load_balance", &name); !s.is_ok()) return s;
      if (!options.check_extensions) {
        if (name.empty()) return error_at(v, "load_balance: the name is empty");
        config.load_balance = std::move(name);
        return Status();
      }
      auto lb = cluster::create_load_balancer(name);  // its error lists the known names
      if (!lb) return error_at(v, "load_balance: " + lb.status().message());
      config.load_balance = std::move(name);
      return Status();
    }
    if (key == "providers") return providers_key(v, config);
    if (key == "limits") return limits_key(v, config);
    return error_at(k, "unknown key \"" + key +
                           "\" (known: routes, timeout, retries, load_balance, providers, limits)");
  });
}

}  // namespace

Result<GovernanceConfig> parse_governance_config(std::string_view text) {
  return parse_governance_config(text, GovernanceParseOptions{});
}

Result<GovernanceConfig> parse_governance_config(std::string_view text, const GovernanceParseOptions& options) {
  GovernanceConfig config;
  try {
    if (text.size() > kMaxGovernanceDocument) {
      return Status(StatusCode::kInvalidArgument, "the document is " + std::to_string(text.size()) +
                                                      " bytes, over the limit of " +
                                                      std::to_string(kMaxGovernanceDocument) + " bytes");
    }
    std::vector<YAML::Node> all = YAML::LoadAll(std::string(text));
    if (all.size() > 1) {
      return Status(StatusCode::kInvalidArgument,
                    "the text holds " + std::to_string(all.size()) + " YAML documents ('---'); store one");
    }
    YAML::Node root = all.empty() ? YAML::Node() : all.front();
    if (Status s = document(root, options, config); !s.is_ok()) return s;
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.line >= 0 ? "line " + std::to_string(e.mark.line + 1) + ": " : std::string();
    return Status(StatusCode::kInvalidArgument, where + "malformed YAML: " + e.msg);
  }
  return config;
}

std::string describe_governance_config(const GovernanceConfig& config) {
  std::string out;
  auto add = [&](const std::string& part) {
    if (!out.empty()) out += ", ";
    out += part;
  };
  if (config.routes) add("routes (" + std::to_string(config.routes->size()) + ")");
  if (config.timeout) add("timeout " + std::to_string(config.timeout->count()) + "ms");
  if (config.retries) add("retries " + std::to_string(*config.retries));
  if (config.load_balance) add("load_balance " + *config.load_balance);
  bool first = true;
  for (const auto& [address, o] : config.providers) {
    std::string part = first ? "providers " + address : address;
    first = false;
    if (o.weight) part += " weight " + std::to_string(*o.weight);
    if (o.disabled) part += " disabled";
    if (!o.weight && !o.disabled) part += " (no override)";
    add(part);
  }
  if (config.limits) {
    std::string part = "limits";
    if (config.limits->empty()) part += " none";
    for (const auto& [method, l] : *config.limits) {
      part += " " + method + " {";
      std::string inner;
      auto put = [&](const std::string& x) { inner += (inner.empty() ? "" : " ") + x; };
      if (l.max_concurrency > 0) put("max_concurrency " + std::to_string(l.max_concurrency));
      if (l.max_qps > 0) put(fmt::format("max_qps {}", l.max_qps));
      if (l.adaptive) put("adaptive");
      if (inner.empty()) inner = "none";
      part += inner + "}";
    }
    add(part);
  }
  return out.empty() ? "nothing" : out;
}

namespace {

// A double-quoted YAML scalar: the escapes YAML's double-quoted style knows,
// so any string (quotes, backslashes, control bytes, '#', ': ') reads back
// as itself.
std::string quoted(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string format_governance_config(const GovernanceConfig& config) {
  std::string out;
  if (config.routes) {
    if (config.routes->empty()) {
      out += "routes: []\n";
    } else {
      out += "routes:\n";
      for (const auto& r : *config.routes) out += "  - " + quoted(r) + "\n";
    }
  }
  if (config.timeout) out += "timeout: " + std::to_string(config.timeout->count()) + "ms\n";
  if (config.retries) out += "retries: " + std::to_string(*config.retries) + "\n";
  if (config.load_balance) out += "load_balance: " + quoted(*config.load_balance) + "\n";
  if (!config.providers.empty()) {
    out += "providers:\n";
    for (const auto& [address, o] : config.providers) {
      std::string fields;
      if (o.weight) fields += "weight: " + std::to_string(*o.weight);
      if (o.disabled) fields += std::string(fields.empty() ? "" : ", ") + "disabled: true";
      out += "  " + quoted(address) + ": {" + fields + "}\n";
    }
  }
  if (config.limits) {
    if (config.limits->empty()) {
      out += "limits: {}\n";
    } else {
      out += "limits:\n";
      for (const auto& [method, l] : *config.limits) {
        std::string fields;
        auto put = [&](const std::string& f) { fields += (fields.empty() ? "" : ", ") + f; };
        if (l.max_concurrency > 0) put("max_concurrency: " + std::to_string(l.max_concurrency));
        if (l.max_qps > 0) put(fmt::format("max_qps: {}", l.max_qps));  // shortest text that reads back the same
        if (l.adaptive) put("adaptive: true");
        out += "  " + quoted(method) + ": {" + fields + "}\n";
      }
    }
  }
  return out.empty() ? "{}\n" : out;
}

}  // namespace tern
