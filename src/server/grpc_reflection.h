// src/server/grpc_reflection.h - gRPC server reflection
// grpc.reflection.v1alpha.ServerReflection (bidi stream ServerReflectionInfo),
// served by every provider on both wires (internal header; docs/grpc.md
// "Reflection").
//
// Each request on the stream gets one response, in order:
//   * list_services: the exposed services whose names resolve in protobuf's
//     generated pool (those a .proto describes), and these built-ins
//     (grpc.health.v1.Health, grpc.reflection.v1alpha.ServerReflection);
//   * file_by_filename / file_containing_symbol / file_containing_extension:
//     the file's FileDescriptorProto and those of its dependencies,
//     transitively, each serialized (the file first);
//   * all_extension_numbers_of_type: the extension numbers of a message type;
//   * a name nothing resolves: an ErrorResponse with NOT_FOUND (5); a request
//     that names no lookup: an ErrorResponse with INVALID_ARGUMENT (3). The
//     stream goes on after either. Bytes that are no ServerReflectionRequest
//     end the stream INVALID_ARGUMENT.
// Lookups go to protobuf's generated pool first, then to the private pool of
// the built-in services (server/grpc_builtin_protos.h).
// Registered by Server::start() (ServerOptions::grpc_reflection), never
// announced in the registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tern/server.h"

namespace tern::rpc {

class GrpcReflection : public std::enable_shared_from_this<GrpcReflection> {
 public:
  static std::shared_ptr<GrpcReflection> create() { return std::shared_ptr<GrpcReflection>(new GrpcReflection()); }

  // Registers ServerReflectionInfo on `server`, before its start().
  Status install(Server& server);
  // The names of the server's services (all of them; those no descriptor
  // describes are left out of list_services here). Set once, before the
  // server accepts connections.
  void set_services(const std::vector<std::string>& names);
  // The answer to list_services, sorted.
  const std::vector<std::string>& listed() const noexcept { return listed_; }
  // One request's serialized ServerReflectionResponse, or INVALID_ARGUMENT
  // for a request that does not parse.
  Result<std::string> answer(std::string_view request) const;

 private:
  GrpcReflection() = default;
  std::vector<std::string> listed_;  // immutable once the server accepts
};

}  // namespace tern::rpc
