// The private descriptor pool of the built-in gRPC services
// (server/grpc_builtin_protos.h).
#include "server/grpc_builtin_protos.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include <cstddef>
#include <string>

#include "tern/log.h"
#include "tern/serialization/protobuf_codec.h"

namespace tern::rpc {

// Generated at build time (CMakeLists.txt): the FileDescriptorSet of src/proto/grpc.
extern const unsigned char kGrpcBuiltinDescriptors[];
extern const std::size_t kGrpcBuiltinDescriptors_size;

namespace {

struct Builtin {
  google::protobuf::DescriptorPool pool;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory;

  Builtin() {
    google::protobuf::FileDescriptorSet set;
    if (!set.ParseFromArray(kGrpcBuiltinDescriptors, static_cast<int>(kGrpcBuiltinDescriptors_size))) {
      TERN_LOG(kError, "the embedded gRPC descriptors do not parse");
    }
    for (const auto& file : set.file()) {
      if (pool.BuildFile(file) == nullptr) TERN_LOG(kError, "the embedded {} does not build", file.name());
    }
    factory = std::make_unique<google::protobuf::DynamicMessageFactory>(&pool);
  }
};

Builtin& builtin() {
  static Builtin* b = new Builtin();  // never destroyed: handlers may run during exit
  return *b;
}

}  // namespace

const google::protobuf::DescriptorPool& grpc_builtin_pool() { return builtin().pool; }

std::unique_ptr<google::protobuf::Message> new_builtin_message(std::string_view full_name) {
  Builtin& b = builtin();
  const google::protobuf::Descriptor* d = b.pool.FindMessageTypeByName(std::string(full_name));
  if (d == nullptr) return nullptr;
  const google::protobuf::Message* prototype = b.factory->GetPrototype(d);
  return prototype ? std::unique_ptr<google::protobuf::Message>(prototype->New()) : nullptr;
}

Status parse_builtin(std::string_view service, std::uint8_t serialization, std::string_view bytes,
                     google::protobuf::Message& out) {
  if (serialization != serialization::ProtobufCodec::kId) {
    return Status(StatusCode::kInvalidArgument, std::string(service) + " speaks protobuf only (serialization 1), not " +
                                                    std::to_string(serialization));
  }
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(service) + ": the request is not a valid " + out.GetDescriptor()->full_name());
  }
  return Status();
}

}  // namespace tern::rpc
