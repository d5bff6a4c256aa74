// Serialization names and ids (DESIGN §3, byte 4 of the frame header).
#include "tern/serialization/codecs.h"

namespace tern::serialization {

bool serialization_id(std::string_view name, std::uint8_t* id) noexcept {
  if (name == "raw") *id = 0;
  else if (name == "protobuf") *id = 1;
  else if (name == "json") *id = 2;
  else if (name == "msgpack") *id = 3;
  else return false;
  return true;
}

std::string_view serialization_name(std::uint8_t id) noexcept {
  switch (id) {
    case 0: return "raw";
    case 1: return "protobuf";
    case 2: return "json";
    case 3: return "msgpack";
    default: return "unknown";
  }
}

}  // namespace tern::serialization
