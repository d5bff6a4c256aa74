// The protobuf operations of the codecs (tern/serialization/protobuf_message.h),
// out of line so that the public codec headers include no google/protobuf header.
#include "tern/serialization/protobuf_message.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>

namespace tern::serialization::pb {

std::string serialize(const google::protobuf::Message& m) { return m.SerializeAsString(); }

bool parse(std::string_view bytes, google::protobuf::Message& m) {
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX)) return false;
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

bool parse_quietly(std::string_view bytes, google::protobuf::Message& m) {
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX)) return false;
  // LogSilencer (one atomic counter) is what protobuf offers for code that
  // triggers such messages; the failure reaches the caller as INVALID_ARGUMENT.
  google::protobuf::LogSilencer quiet;
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

std::string type_name(const google::protobuf::Message& m) { return m.GetTypeName(); }

std::string full_name(const google::protobuf::Descriptor* d) { return d->full_name(); }

bool to_json(const google::protobuf::Message& m, std::string* out) {
  return google::protobuf::util::MessageToJsonString(m, out).ok();
}

bool from_json(std::string_view json, google::protobuf::Message& m, std::string* error) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(std::string(json), &m, opts);
  if (st.ok()) return true;
  *error = std::string(st.message());
  return false;
}

}  // namespace tern::serialization::pb
