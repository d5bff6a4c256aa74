// src/server/reflection_service.h - the built-in tern.Reflection service
// (tern/reflection.h): its answers are rendered once from the exposed
// services when the server starts (internal header).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tern/server.h"

namespace tern::rpc {

// One exposed service as the server knows it.
struct ReflectedService {
  std::string name;
  std::string version;
  std::string group;
  std::vector<std::string> methods;  // in registration order
  const nlohmann::json* description = nullptr;  // {"methods":[...],"types":{...}} or null
  // Stream methods: name -> {"stream":"server"|"client"|"bidi","args","result","types"}.
  const std::unordered_map<std::string, nlohmann::json>* streams = nullptr;
};

// The handlers of tern.Reflection ("list", "describe") over `services` (the
// reflection service itself is added to the answers). The answers are
// rendered here, once; the handlers only copy them.
std::vector<std::pair<std::string, MethodHandler>> make_reflection_handlers(std::vector<ReflectedService> services);

}  // namespace tern::rpc
