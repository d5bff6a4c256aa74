// tern/serialization/protobuf_message.h - what the codecs need to know about
// protobuf messages, without any google/protobuf header.
//
// google::protobuf::Message and Descriptor are only declared here. A type is
// a protobuf message when it derives from Message, which its generated .pb.h
// (the only place such a type comes from) makes complete: is_protobuf_message_v
// needs nothing more, and the few operations the codecs perform on a message
// (serialize, parse, its JSON mapping, its name) are out-of-line functions of
// tern_serialization (src/serialization/protobuf_message.cc). So a program
// that uses no protobuf type compiles no protobuf header, while msgpack,
// json and protobuf bodies of messages keep their encodings
// (docs/serialization.md).
//
// Thread safety: the functions are stateless; call them from any thread.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace google::protobuf {
class Message;
class Descriptor;
}  // namespace google::protobuf

namespace tern::serialization {

// True for protobuf message classes (google::protobuf::Message subclasses;
// what ProtobufCodec and protobuf's JSON mapping accept).
template <typename T>
inline constexpr bool is_protobuf_message_v = std::is_base_of_v<google::protobuf::Message, std::remove_cvref_t<T>>;

namespace pb {

// The message's binary encoding (Message::SerializeAsString).
std::string serialize(const google::protobuf::Message& m);
// Parses the binary encoding into `m` (Message::ParseFromArray); false when
// malformed or over 2 GiB.
bool parse(std::string_view bytes, google::protobuf::Message& m);
// parse() with protobuf's own log lines silenced while it runs
// (google::protobuf::LogSilencer: a proto3 string field holding invalid UTF-8
// logs an ERROR line before the parse fails; a peer could make a provider
// write one log line per request).
bool parse_quietly(std::string_view bytes, google::protobuf::Message& m);
// The message's full type name ("demo.EchoRequest").
std::string type_name(const google::protobuf::Message& m);
// A descriptor's full name ("demo.EchoRequest").
std::string full_name(const google::protobuf::Descriptor* d);
// protobuf's JSON mapping (util::MessageToJsonString); false on failure.
bool to_json(const google::protobuf::Message& m, std::string* out);
// protobuf's JSON mapping back (util::JsonStringToMessage, unknown fields
// ignored); on failure false and protobuf's reason in *error.
bool from_json(std::string_view json, google::protobuf::Message& m, std::string* error);

}  // namespace pb
}  // namespace tern::serialization
