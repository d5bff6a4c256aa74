// src/server/grpc_builtin_protos.h - the messages of the built-in gRPC
// services (grpc.health.v1, grpc.reflection.v1alpha) without generated
// classes (internal header).
//
// Their official .proto files (src/proto/grpc) are compiled by protoc at
// build time into a descriptor set embedded in the library (CMakeLists.txt,
// cmake/EmbedBytes.cmake); a private DescriptorPool is built from it and its
// messages are google::protobuf::DynamicMessage. Nothing enters protobuf's
// generated pool, so a program that also links gRPC's own generated copies
// of these files (a health or reflection client, grpc++_reflection) does not
// abort on a duplicate file or symbol.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tern/result.h"
#include "tern/status.h"
#include "tern/stream.h"

namespace tern::rpc {

inline constexpr std::string_view kGrpcHealthService = "grpc.health.v1.Health";
inline constexpr std::string_view kGrpcReflectionService = "grpc.reflection.v1alpha.ServerReflection";

// The pool holding grpc/health/v1/health.proto and
// grpc/reflection/v1alpha/reflection.proto (built once, thread-safe).
const google::protobuf::DescriptorPool& grpc_builtin_pool();

// A new, empty message of type `full_name` from grpc_builtin_pool(); null
// for a name that is not there (a bug: the names are constants).
std::unique_ptr<google::protobuf::Message> new_builtin_message(std::string_view full_name);

// Decodes a request of a built-in service. Only protobuf (serialization 1)
// is spoken; anything else, and bytes that do not parse, give INVALID_ARGUMENT
// naming `service`.
Status parse_builtin(std::string_view service, std::uint8_t serialization, std::string_view bytes,
                     google::protobuf::Message& out);

// co_await forms of RawStream's callback operations, for the built-in
// stream handlers: the next message (nullopt at the end, with the status that
// ended the reads), and one write's status.
struct RawReadResult {
  std::optional<std::string> message;
  Status status;
};
inline auto raw_read(const std::shared_ptr<RawStream>& raw) {
  return detail::make_awaiter<RawReadResult>([raw](auto cb) {
    raw->read([cb = std::move(cb)](std::optional<std::string> m, Status st) mutable {
      cb(RawReadResult{std::move(m), std::move(st)});
    });
  });
}
inline auto raw_write(const std::shared_ptr<RawStream>& raw, std::string bytes) {
  return detail::make_awaiter<Status>(
      [raw, bytes = std::move(bytes)](auto cb) mutable { raw->write(std::move(bytes), std::move(cb)); });
}

}  // namespace tern::rpc
