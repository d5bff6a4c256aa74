// tern::Config: the YAML file (tern/config.h). yaml-cpp builds the node tree;
// every scalar then goes through apply_param(), the same parser URL
// parameters use. yaml-cpp reports problems by throwing, so everything that
// touches a node runs inside one try block and becomes INVALID_ARGUMENT with
// the file and line (yaml-cpp's marks are 0-based; messages are 1-based).
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "tern/config.h"

namespace tern {

struct ConfigLoader {
  std::string source;
  Config config;

  Status error_at(const YAML::Node& node, std::string_view message) const {
    std::string where = source;
    const YAML::Mark mark = node.Mark();
    if (mark.line >= 0) where += ":" + std::to_string(mark.line + 1);
    return Status(StatusCode::kInvalidArgument, where + ": " + std::string(message));
  }

  static std::string_view kind(const YAML::Node& node) {
    switch (node.Type()) {
      case YAML::NodeType::Map: return "a map";
      case YAML::NodeType::Sequence: return "a list";
      case YAML::NodeType::Null: return "nothing";
      default: return "a value";
    }
  }

  // A scalar (or null: the empty string) as text.
  Status scalar(const YAML::Node& node, std::string_view key, std::string* out) const {
    if (node.IsNull()) {
      out->clear();
      return Status();
    }
    if (!node.IsScalar()) {
      return error_at(node, std::string(key) + ": expected a value, got " + std::string(kind(node)));
    }
    *out = node.Scalar();
    return Status();
  }

  // `node` must be a map (or null, meaning empty); calls fn(key, value node, key node).
  template <typename F>
  Status each_entry(const YAML::Node& node, std::string_view what, F&& fn) const {
    if (node.IsNull()) return Status();
    if (!node.IsMap()) return error_at(node, std::string(what) + ": expected a map, got " + std::string(kind(node)));
    for (const auto& entry : node) {
      std::string key;
      if (Status s = scalar(entry.first, what, &key); !s.is_ok()) return s;
      if (Status s = fn(key, entry.second, entry.first); !s.is_ok()) return s;
    }
    return Status();
  }

  // A section of option keys: every entry through apply_param(options, ...).
  // `extra` handles keys that are not options (address, registry, parameters)
  // and returns true when it consumed one.
  template <typename O, typename Extra>
  Status options_map(const YAML::Node& node, std::string_view what, O& options, Extra&& extra) const {
    return each_entry(node, what, [&](const std::string& key, const YAML::Node& value, const YAML::Node& key_node) {
      Status handled;
      if (extra(key, value, key_node, &handled)) return handled;
      std::string text;
      if (key == "idempotent_methods" && value.IsSequence()) {
        for (const auto& item : value) {
          std::string one;
          if (Status s = scalar(item, key, &one); !s.is_ok()) return s;
          if (!text.empty()) text += ',';
          text += one;
        }
      } else if (key == "routes" && value.IsSequence()) {
        // A list of "<router>:<rule>" strings: joined with the URL form's
        // separator '|', which a route in a list therefore cannot contain.
        std::size_t i = 0;
        for (const auto& item : value) {
          std::string one;
          const std::string where = key + "[" + std::to_string(i) + "]";
          if (Status s = scalar(item, where, &one); !s.is_ok()) return s;
          if (one.empty()) return error_at(item, where + " is empty");
          if (one.find('|') != std::string::npos) {
            return error_at(item, where + ": '" + one + "' contains '|', which separates routes");
          }
          if (i++ > 0) text += '|';
          text += one;
        }
      } else if (Status s = scalar(value, key, &text); !s.is_ok()) {
        return s;
      }
      Status s = apply_param(options, key, text);
      return s.is_ok() ? s : error_at(key_node, s.message());
    });
  }

  // tracing.enabled: ServerOptions::tracing and ClientOptions::tracing.
  Status tracing_enabled_key(const YAML::Node& value, const YAML::Node& key_node) {
    std::string text;
    if (Status s = scalar(value, "enabled", &text); !s.is_ok()) return s;
    if (text != "true" && text != "false") return error_at(key_node, "enabled: expected true or false, got \"" + text + "\"");
    config.server_.tracing = config.client_.tracing = text == "true";
    return Status();
  }
  const std::function<bool(const std::string&, const YAML::Node&, const YAML::Node&, Status*)> tracing_enabled =
      [this](const std::string& key, const YAML::Node& value, const YAML::Node& key_node, Status* out) {
        if (key != "enabled") return false;
        *out = tracing_enabled_key(value, key_node);
        return true;
      };

  static constexpr auto kNoExtra = [](const std::string&, const YAML::Node&, const YAML::Node&, Status*) {
    return false;
  };

  Status registry_address(const YAML::Node& value, const YAML::Node& key_node, std::string* out) const {
    std::string text;
    if (Status s = scalar(value, "registry", &text); !s.is_ok()) return s;
    if (!text.empty()) {
      auto url = Url::parse(text);
      if (!url) return error_at(key_node, "registry: " + url.status().message());
      if (!url->path().empty() || !url->params().empty()) {
        return error_at(key_node, "registry: \"" + text +
                                      "\" has a path or parameters; registry options go in the registry map");
      }
    }
    *out = text;
    return Status();
  }

  Status registry_section(const YAML::Node& node, const YAML::Node& key_node) {
    if (node.IsScalar() || node.IsNull()) return registry_address(node, key_node, &config.registry_);
    RegistryOptions& ro = config.registry_options_;
    Status s = options_map(node, "registry", ro,
                           [&](const std::string& key, const YAML::Node& v, const YAML::Node& k, Status* out) {
                             if (key != "address") return false;
                             *out = registry_address(v, k, &config.registry_);
                             return true;
                           });
    if (!s.is_ok()) return s;
    if (ro.initial_backoff > ro.max_backoff) return error_at(node, "registry: initial_backoff exceeds max_backoff");
    return Status();
  }

  Status services_section(const YAML::Node& node) {
    return each_entry(node, "services", [&](const std::string& name, const YAML::Node& value, const YAML::Node&) {
      ServiceOptions options;
      Status s = options_map(value, name, options,
                             [&](const std::string& key, const YAML::Node& v, const YAML::Node&, Status* out) {
                               if (key != "parameters") return false;
                               *out = each_entry(v, "parameters",
                                                 [&](const std::string& p, const YAML::Node& pv, const YAML::Node& pk) {
                                                   std::string text;
                                                   if (Status e = scalar(pv, p, &text); !e.is_ok()) return e;
                                                   Status e = apply_param(options, "parameters." + p, text);
                                                   return e.is_ok() ? e : error_at(pk, e.message());
                                                 });
                               return true;
                             });
      if (!s.is_ok()) return s;
      config.services_[name] = std::move(options);
      return Status();
    });
  }

  Status references_section(const YAML::Node& node) {
    return each_entry(node, "references", [&](const std::string& name, const YAML::Node& value, const YAML::Node& k) {
      ReferenceConfig rc;
      if (value.IsScalar()) {  // one reference URL
        auto parsed = parse_reference_url(value.Scalar());
        if (!parsed) return error_at(k, name + ": " + parsed.status().message());
        if (!parsed->service.empty() && parsed->service != name) {
          return error_at(k, name + ": the URL names service \"" + parsed->service + "\"");
        }
        rc = std::move(*parsed);
      } else {
        Status s = options_map(value, name, rc.options,
                               [&](const std::string& key, const YAML::Node& v, const YAML::Node& kn, Status* out) {
                                 if (key != "registry") return false;
                                 *out = registry_address(v, kn, &rc.registry);
                                 return true;
                               });
        if (!s.is_ok()) return s;
        if (rc.options.eject_backoff > rc.options.eject_backoff_max) {
          return error_at(k, name + ": eject_backoff exceeds eject_backoff_max");
        }
      }
      rc.service = name;
      config.references_[name] = std::move(rc);
      return Status();
    });
  }

  Status document(const YAML::Node& root) {
    if (root.IsNull()) return Status();  // an empty file: every default
    if (!root.IsMap()) return error_at(root, "expected a map of sections at the top, got " + std::string(kind(root)));
    return each_entry(root, "top level", [&](const std::string& key, const YAML::Node& value, const YAML::Node& k) {
      if (key == "registry") return registry_section(value, k);
      if (key == "server") return options_map(value, "server", config.server_, kNoExtra);
      if (key == "services") return services_section(value);
      if (key == "client") return options_map(value, "client", config.client_, kNoExtra);
      if (key == "references") return references_section(value);
      if (key == "tracing") return options_map(value, "tracing", config.tracing_, tracing_enabled);
      return error_at(k, "unknown section \"" + key +
                             "\" (known: registry, server, services, client, references, tracing)");
    });
  }
};

Result<Config> Config::parse(std::string_view yaml, std::string_view source) {
  ConfigLoader loader;
  loader.source = std::string(source);
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (Status s = loader.document(root); !s.is_ok()) return s;
  } catch (const YAML::Exception& e) {
    std::string where = loader.source;
    if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1);
    return Status(StatusCode::kInvalidArgument, where + ": malformed YAML: " + e.msg);
  } catch (const std::exception& e) {
    return Status(StatusCode::kInvalidArgument, loader.source + ": " + e.what());
  }
  return std::move(loader.config);
}

Result<Config> Config::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, "cannot open configuration file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status(StatusCode::kNotFound, "cannot read configuration file " + path);
  return parse(text.str(), path);
}

ClientOptions Config::client_options() const {
  ClientOptions o = client_;
  o.registry = registry_options_;
  return o;
}

ProviderOptions Config::provider_options() const {
  ProviderOptions o;
  o.server = server_;
  o.registry = registry_;
  o.registry_options = registry_options_;
  return o;
}

ServiceOptions Config::service(std::string_view name) const {
  auto it = services_.find(name);
  return it == services_.end() ? ServiceOptions{} : it->second;
}

ReferenceConfig Config::reference(std::string_view name) const {
  ReferenceConfig rc;
  if (auto it = references_.find(name); it != references_.end()) rc = it->second;
  rc.service = std::string(name);
  if (rc.registry.empty()) rc.registry = registry_;
  return rc;
}

}  // namespace tern
