// A service's contract for its provider URL; see server_impl.h and tern/contract.h.
#include <nlohmann/json.hpp>

#include "server/server_impl.h"
#include "tern/contract.h"

namespace tern::server_impl {

std::string contract_param(const ServiceEntry& svc) {
  if (svc.description.is_null() && svc.stream_descriptions.empty()) return {};
  // The reflection description plus the stream methods, which Server keeps
  // apart ({"stream":kind,"args":[T],"result":T,"types":{...}} each).
  nlohmann::json d = svc.description.is_object() ? svc.description : nlohmann::json::object();
  if (!d.contains("methods") || !d["methods"].is_array()) d["methods"] = nlohmann::json::array();
  if (!d.contains("types") || !d["types"].is_object()) d["types"] = nlohmann::json::object();
  for (const auto& [method, sd] : svc.stream_descriptions) {
    nlohmann::json m = sd;
    if (m.contains("types")) {
      if (m["types"].is_object()) d["types"].update(m["types"]);
      m.erase("types");
    }
    m["name"] = method;
    d["methods"].push_back(std::move(m));
  }
  return encode_contracts(method_contracts(d));
}

}  // namespace tern::server_impl
