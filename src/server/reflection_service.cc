// tern.Reflection: service descriptions rendered once at start, and the
// protobuf half of the type describer (tern/reflection.h).
#include "server/reflection_service.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "tern/reflection.h"
#include "tern/serialization/json_codec.h"
#include "tern/serialization/msgpack_codec.h"

namespace tern {

namespace reflection {
namespace {

using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

nlohmann::json describe_enum(const EnumDescriptor* e, nlohmann::json& types) {
  const std::string& name = e->full_name();
  if (!types.contains(name)) {
    nlohmann::json values = nlohmann::json::array();
    for (int i = 0; i < e->value_count(); ++i) {
      values.push_back({{"name", e->value(i)->name()}, {"number", e->value(i)->number()}});
    }
    types[name] = {{"kind", "enum"}, {"values", std::move(values)}};
  }
  return {{"type", "enum"}, {"name", name}};
}

// The type of one value of `f` (its label aside).
nlohmann::json describe_field_value(const FieldDescriptor* f, nlohmann::json& types) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      return describe_message(f->message_type(), types);
    case FieldDescriptor::TYPE_ENUM:
      return describe_enum(f->enum_type(), types);
    default:
      return {{"type", f->type_name()}};  // "int64", "sint32", "fixed64", "string", "bytes", ...
  }
}

}  // namespace

nlohmann::json describe_message(const google::protobuf::Descriptor* d, nlohmann::json& types) {
  const std::string& name = d->full_name();
  if (!types.contains(name)) {
    types[name] = nlohmann::json::object();  // placeholder: recursive messages refer to themselves by name
    nlohmann::json fields = nlohmann::json::array();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      nlohmann::json type;
      if (f->is_map()) {
        const auto* entry = f->message_type();
        type = {{"type", "map"},
                {"key", describe_field_value(entry->FindFieldByNumber(1), types)},
                {"value", describe_field_value(entry->FindFieldByNumber(2), types)}};
      } else if (f->is_repeated()) {
        type = {{"type", "array"}, {"items", describe_field_value(f, types)}};
      } else {
        type = describe_field_value(f, types);
        if (f->has_optional_keyword()) type = {{"type", "optional"}, {"value", std::move(type)}};
      }
      nlohmann::json field = {{"name", f->name()}, {"number", f->number()}, {"type", std::move(type)}};
      if (const auto* oneof = f->real_containing_oneof()) field["oneof"] = oneof->name();
      fields.push_back(std::move(field));
    }
    types[name] = {{"kind", "message"}, {"fields", std::move(fields)}};
  }
  return {{"type", "message"}, {"name", name}};
}

}  // namespace reflection

namespace rpc {
namespace {

// One answer in both serializations tern.Reflection speaks.
struct Answer {
  std::string json;
  std::string msgpack;
  explicit Answer(const nlohmann::json& doc) : json(doc.dump()) {
    auto bytes = nlohmann::json::to_msgpack(doc);
    msgpack.assign(bytes.begin(), bytes.end());
  }
};

struct Answers {
  std::unique_ptr<Answer> list;
  std::unordered_map<std::string, Answer> by_service;
};

nlohmann::json describe(const ReflectedService& s) {
  nlohmann::json methods = nlohmann::json::array();
  nlohmann::json types = nlohmann::json::object();
  for (const auto& m : s.methods) {
    nlohmann::json entry = {{"name", m}, {"args", nullptr}, {"result", nullptr}};
    if (s.description && s.description->contains("methods")) {
      for (const auto& d : (*s.description)["methods"]) {
        if (d.value("name", "") == m) {
          entry["args"] = d.value("args", nlohmann::json());
          entry["result"] = d.value("result", nlohmann::json());
          break;
        }
      }
    }
    if (s.streams) {
      if (auto it = s.streams->find(m); it != s.streams->end()) {
        const nlohmann::json& d = it->second;
        entry["args"] = d.value("args", nlohmann::json());
        entry["result"] = d.value("result", nlohmann::json());
        entry["stream"] = d.value("stream", "bidi");
      }
    }
    methods.push_back(std::move(entry));
  }
  if (s.description && s.description->contains("types")) types = (*s.description)["types"];
  if (s.streams) {
    for (const auto& [name, d] : *s.streams) {
      if (!d.contains("types")) continue;
      for (const auto& [type_name, t] : d["types"].items()) {
        if (!types.contains(type_name)) types[type_name] = t;
      }
    }
  }
  return {{"name", s.name}, {"version", s.version}, {"group", s.group}, {"methods", std::move(methods)},
          {"types", std::move(types)}};
}

// Decodes the arguments in the request's serialization; INVALID_ARGUMENT for
// protobuf (the answers are JSON documents) and malformed arguments.
template <typename... A>
Result<std::tuple<A...>> decode(const ServerCall& call) {
  switch (call.serialization()) {
    case serialization::JsonCodec::kId:
      return serialization::JsonCodec::decode_args<A...>(call.body());
    case serialization::MsgpackCodec::kId:
      return serialization::MsgpackCodec::decode_args<A...>(call.body());
    default:
      return Status(StatusCode::kInvalidArgument,
                    std::string(kReflectionService) + " answers in the json or msgpack serialization, not " +
                        std::string(serialization::serialization_name(call.serialization())));
  }
}

void respond(ServerCall& call, const Answer& a) {
  auto b = call.start_response();
  b.append_body(call.serialization() == serialization::JsonCodec::kId ? a.json : a.msgpack);
  call.respond(std::move(b));
}

}  // namespace

std::vector<std::pair<std::string, MethodHandler>> make_reflection_handlers(std::vector<ReflectedService> services) {
  nlohmann::json self = {
      {"methods",
       {{{"name", "list"}, {"args", nlohmann::json::array()}, {"result", {{"type", "json"}}}},
        {{"name", "describe"}, {"args", {{{"type", "string"}}}}, {"result", {{"type", "json"}}}}}},
      {"types", nlohmann::json::object()}};
  ReflectedService own;
  own.name = std::string(kReflectionService);
  own.methods = {"list", "describe"};
  own.description = &self;
  services.push_back(std::move(own));
  std::sort(services.begin(), services.end(), [](const auto& a, const auto& b) { return a.name < b.name; });

  auto answers = std::make_shared<Answers>();
  nlohmann::json all = nlohmann::json::array();
  for (const auto& s : services) {
    nlohmann::json d = describe(s);
    answers->by_service.emplace(s.name, Answer(d));
    all.push_back(std::move(d));
  }
  answers->list = std::make_unique<Answer>(nlohmann::json{{"services", std::move(all)}});

  std::vector<std::pair<std::string, MethodHandler>> out;
  out.emplace_back("list", [answers](ServerCall& call) {
    auto args = decode<>(call);
    if (!args) return call.respond(args.status());
    respond(call, *answers->list);
  });
  out.emplace_back("describe", [answers](ServerCall& call) {
    auto args = decode<std::string>(call);
    if (!args) return call.respond(args.status());
    const std::string& name = std::get<0>(*args);
    auto it = answers->by_service.find(name);
    if (it == answers->by_service.end()) {
      return call.respond(Status(StatusCode::kUnimplemented, "unknown service '" + name + "'"));
    }
    respond(call, it->second);
  });
  return out;
}

}  // namespace rpc
}  // namespace tern
