// tern/serialization/codecs.h - picks the typed codec for a serialization id
// at run time, so one typed handler serves every serialization the request
// names (DESIGN §3: the provider answers in the serialization of the request).
//
//   Status s = tern::serialization::with_codec(id, [&]<typename Codec>() { ... });
//
// Returns INVALID_ARGUMENT "unsupported serialization id N" for ids this build
// does not handle.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tern/serialization/msgpack_codec.h"
#include "tern/status.h"

namespace tern::serialization {

// The id of a serialization name ("msgpack" -> 3); false if unknown.
bool serialization_id(std::string_view name, std::uint8_t* id) noexcept;
// The name of an id ("msgpack"), or "unknown".
std::string_view serialization_name(std::uint8_t id) noexcept;

template <typename F>
Status with_codec(std::uint8_t id, F&& f) {
  switch (id) {
    case MsgpackCodec::kId:
      return f.template operator()<MsgpackCodec>();
    default:
      return Status(StatusCode::kInvalidArgument, "unsupported serialization id " + std::to_string(id));
  }
}

}  // namespace tern::serialization
