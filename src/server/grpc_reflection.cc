// grpc.reflection.v1alpha.ServerReflection over the generated descriptor pool
// (server/grpc_reflection.h, docs/grpc.md).
#include "server/grpc_reflection.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <unordered_set>

#include "server/grpc_builtin_protos.h"
#include "tern/serialization/protobuf_codec.h"

namespace tern::rpc {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;

constexpr std::string_view kRequestType = "grpc.reflection.v1alpha.ServerReflectionRequest";
constexpr std::string_view kResponseType = "grpc.reflection.v1alpha.ServerReflectionResponse";

// The pools a name is looked up in, in order.
const DescriptorPool* const* pools() {
  static const DescriptorPool* const p[] = {DescriptorPool::generated_pool(), &grpc_builtin_pool(), nullptr};
  return p;
}

template <typename F>
auto find_in_pools(F&& find) -> decltype(find(DescriptorPool::generated_pool())) {
  for (const DescriptorPool* const* p = pools(); *p; ++p) {
    if (auto* found = find(*p)) return found;
  }
  return nullptr;
}

const FileDescriptor* file_containing_symbol(const std::string& symbol) {
  return find_in_pools([&](const DescriptorPool* p) { return p->FindFileContainingSymbol(symbol); });
}

// Sets the ErrorResponse of `resp`.
void set_error(Message& resp, int code, const std::string& message) {
  const auto* refl = resp.GetReflection();
  Message* err = refl->MutableMessage(&resp, resp.GetDescriptor()->FindFieldByName("error_response"));
  err->GetReflection()->SetInt32(err, err->GetDescriptor()->FindFieldByName("error_code"), code);
  err->GetReflection()->SetString(err, err->GetDescriptor()->FindFieldByName("error_message"), message);
}

// Sets the FileDescriptorResponse of `resp`: `file`, then its dependencies.
void set_files(Message& resp, const FileDescriptor* file) {
  const auto* refl = resp.GetReflection();
  Message* files = refl->MutableMessage(&resp, resp.GetDescriptor()->FindFieldByName("file_descriptor_response"));
  const FieldDescriptor* protos = files->GetDescriptor()->FindFieldByName("file_descriptor_proto");
  std::unordered_set<const FileDescriptor*> seen{file};
  std::vector<const FileDescriptor*> order{file};
  for (std::size_t i = 0; i < order.size(); ++i) {
    google::protobuf::FileDescriptorProto proto;
    order[i]->CopyTo(&proto);
    files->GetReflection()->AddString(files, protos, proto.SerializeAsString());
    for (int d = 0; d < order[i]->dependency_count(); ++d) {
      if (seen.insert(order[i]->dependency(d)).second) order.push_back(order[i]->dependency(d));
    }
  }
}

Task<Status> reflection_call(std::shared_ptr<const GrpcReflection> self, std::shared_ptr<RawStream> raw) {
  if (raw->serialization() != serialization::ProtobufCodec::kId) {
    co_return Status(StatusCode::kInvalidArgument,
                     "grpc.reflection.v1alpha.ServerReflection speaks protobuf only (serialization 1)");
  }
  for (;;) {
    RawReadResult r = co_await raw_read(raw);
    if (!r.message) co_return r.status;  // OK after the consumer's half-close
    Result<std::string> resp = self->answer(*r.message);
    if (!resp.has_value()) co_return resp.status();
    Status w = co_await raw_write(raw, std::move(*resp));
    if (!w.is_ok()) co_return w;
  }
}

}  // namespace

Status GrpcReflection::install(Server& server) {
  // The handler owns the service (nothing here refers back to the server).
  std::shared_ptr<const GrpcReflection> self = shared_from_this();
  return server.add_stream_method(std::string(kGrpcReflectionService), "ServerReflectionInfo",
                                  [self](std::shared_ptr<RawStream> raw) -> Task<Status> {
                                    return reflection_call(self, std::move(raw));
                                  });
}

void GrpcReflection::set_services(const std::vector<std::string>& names) {
  listed_.clear();
  for (const auto& n : names) {
    bool described = n == kGrpcHealthService || n == kGrpcReflectionService ||
                     find_in_pools([&](const DescriptorPool* p) { return p->FindServiceByName(n); }) != nullptr;
    if (described) listed_.push_back(n);
  }
  std::sort(listed_.begin(), listed_.end());
  listed_.erase(std::unique(listed_.begin(), listed_.end()), listed_.end());
}

Result<std::string> GrpcReflection::answer(std::string_view bytes) const {
  auto req = new_builtin_message(kRequestType);
  auto resp = new_builtin_message(kResponseType);
  if (!req || !resp) return Status(StatusCode::kInternal, "grpc.reflection.v1alpha descriptors missing");
  if (Status s = parse_builtin(kGrpcReflectionService, serialization::ProtobufCodec::kId, bytes, *req); !s.is_ok()) {
    return s;
  }
  const auto* rd = req->GetDescriptor();
  const auto* rr = req->GetReflection();
  const auto* sd = resp->GetDescriptor();
  const auto* sr = resp->GetReflection();
  sr->SetString(resp.get(), sd->FindFieldByName("valid_host"), rr->GetString(*req, rd->FindFieldByName("host")));
  sr->MutableMessage(resp.get(), sd->FindFieldByName("original_request"))->CopyFrom(*req);

  const FieldDescriptor* which = rr->GetOneofFieldDescriptor(*req, rd->FindOneofByName("message_request"));
  const std::string name = which ? which->name() : std::string();
  if (name == "list_services") {
    Message* list = sr->MutableMessage(resp.get(), sd->FindFieldByName("list_services_response"));
    const FieldDescriptor* services = list->GetDescriptor()->FindFieldByName("service");
    for (const auto& s : listed_) {
      Message* entry = list->GetReflection()->AddMessage(list, services);
      entry->GetReflection()->SetString(entry, entry->GetDescriptor()->FindFieldByName("name"), s);
    }
  } else if (name == "file_by_filename") {
    std::string file = rr->GetString(*req, which);
    const FileDescriptor* fd = find_in_pools([&](const DescriptorPool* p) { return p->FindFileByName(file); });
    if (fd) {
      set_files(*resp, fd);
    } else {
      set_error(*resp, static_cast<int>(StatusCode::kNotFound), "file '" + file + "' not found");
    }
  } else if (name == "file_containing_symbol") {
    std::string symbol = rr->GetString(*req, which);
    if (const FileDescriptor* fd = file_containing_symbol(symbol)) {
      set_files(*resp, fd);
    } else {
      set_error(*resp, static_cast<int>(StatusCode::kNotFound), "symbol '" + symbol + "' not found");
    }
  } else if (name == "file_containing_extension") {
    const Message& ext = rr->GetMessage(*req, which);
    const auto* ed = ext.GetDescriptor();
    std::string type = ext.GetReflection()->GetString(ext, ed->FindFieldByName("containing_type"));
    int number = ext.GetReflection()->GetInt32(ext, ed->FindFieldByName("extension_number"));
    const FieldDescriptor* found = find_in_pools([&](const DescriptorPool* p) -> const FieldDescriptor* {
      const auto* msg = p->FindMessageTypeByName(type);
      return msg ? p->FindExtensionByNumber(msg, number) : nullptr;
    });
    if (found) {
      set_files(*resp, found->file());
    } else {
      set_error(*resp, static_cast<int>(StatusCode::kNotFound),
                "extension " + std::to_string(number) + " of '" + type + "' not found");
    }
  } else if (name == "all_extension_numbers_of_type") {
    std::string type = rr->GetString(*req, which);
    const DescriptorPool* pool = nullptr;
    const google::protobuf::Descriptor* msg = nullptr;
    for (const DescriptorPool* const* p = pools(); *p && !msg; ++p) {
      if ((msg = (*p)->FindMessageTypeByName(type))) pool = *p;
    }
    if (msg) {
      Message* out = sr->MutableMessage(resp.get(), sd->FindFieldByName("all_extension_numbers_response"));
      const auto* od = out->GetDescriptor();
      out->GetReflection()->SetString(out, od->FindFieldByName("base_type_name"), msg->full_name());
      std::vector<const FieldDescriptor*> exts;
      pool->FindAllExtensions(msg, &exts);
      for (const auto* e : exts) out->GetReflection()->AddInt32(out, od->FindFieldByName("extension_number"), e->number());
    } else {
      set_error(*resp, static_cast<int>(StatusCode::kNotFound), "type '" + type + "' not found");
    }
  } else {
    set_error(*resp, static_cast<int>(StatusCode::kInvalidArgument), "the request names no known lookup");
  }
  return resp->SerializeAsString();
}

}  // namespace tern::rpc
