// src/contract/contract.cc - method contracts from reflection descriptions
// (tern/contract.h).
#include "tern/contract.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <set>

namespace tern {
namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The short form of a type (grammar in the header). Named types reached are
// appended to `named` for the digest.
std::string render(const json& t, std::vector<std::string>& named) {
  if (!t.is_object()) return "?";
  std::string kind = str(t, "type");
  if (kind == "array") return "[" + render(t.value("items", json()), named) + "]";
  if (kind == "map") {
    return "{" + render(t.value("key", json()), named) + ":" + render(t.value("value", json()), named) + "}";
  }
  if (kind == "optional") return render(t.value("value", json()), named) + "?";
  if (kind == "tuple") {
    std::string out = "(";
    const json items = t.value("items", json::array());
    for (std::size_t i = 0; items.is_array() && i < items.size(); ++i) {
      if (i) out += ",";
      out += render(items[i], named);
    }
    return out + ")";
  }
  if (kind == "struct" || kind == "enum" || kind == "message") {
    std::string name = str(t, "name");
    named.push_back(name);
    return name;
  }
  if (kind.empty() || kind == "unknown") return "?";
  return kind;  // scalars, "json", "void"
}

// The canonical definition of a named type from the description's "types".
std::string definition(const json& def, std::vector<std::string>& named) {
  if (!def.is_object()) return "?";
  std::string kind = str(def, "kind");
  std::string out = kind + "{";
  if (kind == "enum") {
    if (def.contains("values") && def["values"].is_array()) {
      for (const auto& v : def["values"]) {
        out += str(v, "name") + "=" + (v.contains("number") ? v["number"].dump() : "") + ",";
      }
    } else {
      out += render(def.value("underlying", json()), named);
    }
  } else {
    const json fields = def.value("fields", json::array());
    for (std::size_t i = 0; fields.is_array() && i < fields.size(); ++i) {
      const json& f = fields[i];
      out += str(f, "name");
      if (f.contains("number")) out += "=" + f["number"].dump();
      out += ":" + render(f.value("type", json()), named) + ",";
    }
  }
  return out + "}";
}

// FNV-1a 64, folded to 32 bits.
std::string digest_of(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:08x}", static_cast<std::uint32_t>((h >> 32) ^ (h & 0xffffffffu)));
}

}  // namespace

std::vector<MethodContract> method_contracts(const json& description) {
  std::vector<MethodContract> out;
  if (!description.is_object()) return out;
  auto methods = description.find("methods");
  if (methods == description.end() || !methods->is_array()) return out;
  const json types = description.value("types", json::object());
  for (const auto& m : *methods) {
    if (!m.is_object()) continue;
    std::string name = str(m, "name");
    auto args = m.find("args");
    if (name.empty() || args == m.end() || !args->is_array()) continue;  // hand-registered: no types
    std::vector<std::string> named;
    std::string stream = str(m, "stream");
    std::string sig = name + "(";
    for (std::size_t i = 0; i < args->size(); ++i) {
      if (i) sig += ",";
      if (stream == "client" || stream == "bidi") sig += "stream ";
      sig += render((*args)[i], named);
    }
    sig += ")->";
    if (stream == "server" || stream == "bidi") sig += "stream ";
    sig += render(m.value("result", json()), named);
    // The digest covers every named type reached, each once, in a canonical order.
    std::set<std::string> seen;
    std::deque<std::string> todo(named.begin(), named.end());
    std::string text = sig;
    std::vector<std::string> defs;
    while (!todo.empty()) {
      std::string n = std::move(todo.front());
      todo.pop_front();
      if (!seen.insert(n).second) continue;
      std::vector<std::string> more;
      auto it = types.is_object() ? types.find(n) : types.end();
      defs.push_back(n + "=" + (it != types.end() ? definition(*it, more) : std::string("?")));
      for (auto& x : more) todo.push_back(std::move(x));
    }
    std::sort(defs.begin(), defs.end());
    for (auto& d : defs) text += "|" + d;
    out.push_back({std::move(name), std::move(sig), digest_of(text)});
  }
  return out;
}

std::string encode_contracts(const std::vector<MethodContract>& methods) {
  std::string out;
  for (const auto& m : methods) {
    if (!out.empty()) out += ';';
    out += m.signature + "@" + m.digest;
  }
  return out;
}

std::vector<MethodContract> decode_contracts(std::string_view param) {
  std::vector<MethodContract> out;
  while (!param.empty()) {
    auto end = param.find(';');
    std::string_view entry = param.substr(0, end);
    param = end == std::string_view::npos ? std::string_view() : param.substr(end + 1);
    auto at = entry.rfind('@');
    if (at == std::string_view::npos) continue;
    std::string_view sig = entry.substr(0, at);
    auto paren = sig.find('(');
    if (paren == 0 || paren == std::string_view::npos) continue;
    out.push_back({std::string(sig.substr(0, paren)), std::string(sig), std::string(entry.substr(at + 1))});
  }
  return out;
}

std::string ContractMismatch::message() const {
  std::string out = method + ": consumer " + consumer_signature + ", provider " + provider_signature;
  if (consumer_signature == provider_signature) out += " (same signature, a type's definition differs)";
  return out;
}

std::vector<ContractMismatch> compare_contracts(const std::vector<MethodContract>& consumer,
                              const std::vector<MethodContract>& provider) {
  std::vector<ContractMismatch> out;
  for (const auto& c : consumer) {
    for (const auto& p : provider) {
      if (p.method != c.method) continue;
      if (p.digest != c.digest) out.push_back({c.method, c.signature, p.signature});
      break;
    }
  }
  return out;
}

}  // namespace tern
