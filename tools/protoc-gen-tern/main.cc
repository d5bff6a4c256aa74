// protoc-gen-tern - the protoc plugin of Tern's IDL front end (DESIGN §8).
//
//   protoc --plugin=protoc-gen-tern=path/to/protoc-gen-tern --cpp_out=OUT --tern_out=OUT echo.proto
//
// For every .proto file that declares a service it writes `<name>.tern.h`
// next to protoc's `<name>.pb.h`. Each service becomes an interface-binding
// contract, so Server::expose<> and Proxy<> serve it unchanged:
//
//   namespace demo {
//   struct Echo {                                      // service demo.Echo
//     virtual ~Echo() = default;
//     virtual ::tern::Result<::demo::EchoReply> Say(const ::demo::EchoRequest& request) = 0;
//   };
//   using EchoStub = ::tern::Proxy<Echo>;
//   }
//   TERN_SERVICE_NAMED(demo::Echo, "demo.Echo", Say)
//
// Streaming rpcs (`stream` on the request, the response or both) become, in
// the same contract (docs/streaming.md):
//   provider  virtual ::tern::Task<::tern::Status> Chat(::tern::ServerStream<Req, Resp>& stream) = 0;
//             plus a static tern_expose_streams() that Server::expose<Echo>()
//             calls to register them (Server::add_stream_method, with their
//             StreamKind: server, client or bidi);
//   consumer  EchoStub is then a class deriving from ::tern::Proxy<Echo> with
//             ::tern::Result<::tern::ClientStream<Req, Resp>> Chat(const ::tern::CallOptions& = {})
//             which opens the stream on the stub's reference.
// A service without streaming rpcs is generated exactly as above.
//
// Method identity on the wire is the protobuf full service name plus the
// method name, as gRPC's /demo.Echo/Say. Nothing else is generated: the
// message classes are protoc's own (--cpp_out). proto3 `optional` fields are
// supported (they are protoc's business; the plugin declares the feature).
#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/compiler/plugin.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

std::string strip_proto(const std::string& name) {
  const std::string ext = ".proto";
  if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
    return name.substr(0, name.size() - ext.size());
  }
  return name;
}

// "a.b.C" -> "::a::b::C" (nested messages "a.Outer.Inner" -> "::a::Outer_Inner",
// as protoc's C++ generator names them).
std::string cpp_type(const Descriptor* d) {
  std::string name = d->name();
  for (const Descriptor* outer = d->containing_type(); outer != nullptr; outer = outer->containing_type()) {
    name = outer->name() + "_" + name;
  }
  std::string ns;
  for (char c : d->file()->package()) {
    if (c == '.') ns += "::";
    else ns += c;
  }
  return ns.empty() ? "::" + name : "::" + ns + "::" + name;
}

std::string cpp_namespace(const FileDescriptor* f) {
  std::string ns;
  for (char c : f->package()) {
    if (c == '.') ns += "::";
    else ns += c;
  }
  return ns;
}

const char* kind_enum(const MethodDescriptor* md) {
  if (md->client_streaming() && md->server_streaming()) return "::tern::StreamKind::kBidi";
  if (md->client_streaming()) return "::tern::StreamKind::kClient";
  return "::tern::StreamKind::kServer";
}

const char* kind_text(const MethodDescriptor* md) {
  if (md->client_streaming() && md->server_streaming()) return "bidirectional streaming";
  if (md->client_streaming()) return "client streaming";
  return "server streaming";
}

bool is_stream(const MethodDescriptor* md) { return md->client_streaming() || md->server_streaming(); }

class TernGenerator : public google::protobuf::compiler::CodeGenerator {
 public:
  // proto3 `optional` fields are plain protoc --cpp_out business; Tern's
  // contracts only name messages, so the plugin supports them as they are.
  std::uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }

  bool Generate(const FileDescriptor* file, const std::string& /*parameter*/,
                google::protobuf::compiler::GeneratorContext* context, std::string* error) const override {
    if (file->service_count() == 0) return true;
    bool any_stream = false;
    for (int i = 0; i < file->service_count(); ++i) {
      const ServiceDescriptor* s = file->service(i);
      for (int m = 0; m < s->method_count(); ++m) {
        const MethodDescriptor* md = s->method(m);
        any_stream = any_stream || is_stream(md);
        if (md->name() == s->name()) {
          *error = "method " + md->full_name() + " has the name of its service (a C++ constructor name)";
          return false;
        }
        if (md->name() == "tern_expose_streams") {
          *error = "method " + md->full_name() + " has a name protoc-gen-tern reserves";
          return false;
        }
        // A stream rpc is a member of the stub (a tern::Proxy): it must not hide one of Proxy's.
        static const char* const kProxyMembers[] = {"with",   "call",      "async_call", "callback", "co_call",
                                                    "oneway", "reference", "encode",     "Proxy",
                                                    "stream"};
        for (const char* member : kProxyMembers) {
          if (is_stream(md) && md->name() == member) {
            *error = "stream method " + md->full_name() + " has the name of a tern::Proxy member (rename the rpc)";
            return false;
          }
        }
      }
      if (s->method_count() == 0) {
        *error = "service " + s->full_name() + " has no methods";
        return false;
      }
    }
    const std::string base = strip_proto(file->name());
    std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(context->Open(base + ".tern.h"));
    google::protobuf::io::Printer p(out.get(), '$');
    const std::string ns = cpp_namespace(file);

    p.Print("// Generated by protoc-gen-tern from $file$. DO NOT EDIT.\n", "file", file->name());
    p.Print(
        "// Each service is a Tern interface-binding contract (tern/service.h):\n"
        "// implement it and Server::expose<>() it; call it through its Stub\n"
        "// (tern::Proxy<Service>). Serializations: \"protobuf\" (binary, the natural\n"
        "// choice: set ReferenceOptions::serialization = \"protobuf\") and \"json\"\n"
        "// (protobuf's JSON mapping); the provider answers in the request's one.\n"
        "#pragma once\n\n");
    if (any_stream) {
      p.Print(
          "#include <memory>\n"
          "#include <utility>\n\n"
          "#include \"tern/reference.h\"\n"
          "#include \"tern/server.h\"\n"
          "#include \"tern/stream.h\"\n"
          "#include \"tern/task.h\"\n");
    }
    p.Print(
        "#include \"tern/proxy.h\"\n"
        "#include \"tern/result.h\"\n"
        "#include \"tern/service.h\"\n"
        "#include \"$base$.pb.h\"\n\n",
        "base", base);

    if (!ns.empty()) p.Print("namespace $ns$ {\n\n", "ns", ns);
    std::vector<std::string> registrations;
    // With stream rpcs, a stub class derives from tern::Proxy<Service>, which
    // needs TERN_SERVICE_NAMED first: the stubs then follow the registrations.
    std::string stub_text;
    auto stub_out = std::make_unique<google::protobuf::io::StringOutputStream>(&stub_text);
    auto stub_printer = std::make_unique<google::protobuf::io::Printer>(stub_out.get(), '$');
    google::protobuf::io::Printer& sp = any_stream ? *stub_printer : p;
    for (int i = 0; i < file->service_count(); ++i) {
      const ServiceDescriptor* s = file->service(i);
      std::vector<std::string> methods;
      std::vector<const MethodDescriptor*> streams;
      p.Print("// Service $full$ (wire name \"$full$\").\n", "full", s->full_name());
      p.Print("struct $name$ {\n  virtual ~$name$() = default;\n", "name", s->name());
      p.Indent();
      for (int m = 0; m < s->method_count(); ++m) {
        const MethodDescriptor* md = s->method(m);
        if (is_stream(md)) {
          p.Print(
              "// $full$ ($kind$): runs once per stream a consumer opens; its result\n"
              "// is the stream's final status.\n"
              "virtual ::tern::Task<::tern::Status> $method$(::tern::ServerStream<$in$, $out$>& stream) = 0;\n",
              "full", md->full_name(), "kind", kind_text(md), "method", md->name(), "in", cpp_type(md->input_type()),
              "out", cpp_type(md->output_type()));
          streams.push_back(md);
          continue;
        }
        p.Print("// $full$\n", "full", md->full_name());
        p.Print("virtual ::tern::Result<$out$> $method$(const $in$& request) = 0;\n", "out", cpp_type(md->output_type()),
                "method", md->name(), "in", cpp_type(md->input_type()));
        methods.push_back(md->name());
      }
      if (!streams.empty()) {
        p.Print(
            "\n// Registers the stream methods of `impl` under options.name; called by\n"
            "// tern::Server::expose<$name$>() after the unary methods.\n"
            "static ::tern::Status tern_expose_streams(::tern::Server& server, const std::shared_ptr<$name$>& impl,\n"
            "                                          const ::tern::ServiceOptions& options) {\n",
            "name", s->name());
        p.Indent();
        for (const MethodDescriptor* md : streams) {
          p.Print(
              "if (auto s = server.add_stream_method<$in$, $out$>(\n"
              "        options.name, \"$method$\", $kind$,\n"
              "        [impl](::tern::ServerStream<$in$, $out$>& stream) { return impl->$method$(stream); }, options);\n"
              "    !s.is_ok()) {\n"
              "  return s;\n"
              "}\n",
              "in", cpp_type(md->input_type()), "out", cpp_type(md->output_type()), "method", md->name(), "kind",
              kind_enum(md));
        }
        p.Print("return ::tern::Status();\n");
        p.Outdent();
        p.Print("}\n");
      }
      p.Outdent();
      p.Print("};\n\n");
      if (streams.empty()) {
        sp.Print(
            "// Typed client of $full$: a tern::Proxy, with every call mode:\n"
            "//   sync       stub.call<&$name$::M>(request)           -> tern::Result<Reply>\n"
            "//   future     stub.async_call<&$name$::M>(request)     -> tern::Future<Reply>\n"
            "//   callback   stub.callback<&$name$::M>(on_done, request)\n"
            "//   oneway     stub.oneway<&$name$::M>(request)\n"
            "//   coroutine  co_await stub.co_call<&$name$::M>(request)\n"
            "// Get one with client.refer<$name$>(url, options).\n"
            "using $name$Stub = ::tern::Proxy<$name$>;\n\n",
            "full", s->full_name(), "name", s->name());
      } else {
        sp.Print(
            "// Typed client of $full$: a tern::Proxy (every call mode of the unary\n"
            "// methods: stub.call<&$name$::M>(request), async_call, callback, oneway,\n"
            "// co_call) plus one method per streaming rpc, which opens the stream on\n"
            "// the stub's reference (the load balancer picks the provider; the stream\n"
            "// stays on it). `options` gives the stream's attachments and deadline\n"
            "// (tern/stream.h open_stream). The error, if any, is local: FAILED_PRECONDITION\n"
            "// for a stub without a reference, or open_stream's own; a provider that\n"
            "// cannot be reached ends the stream with UNAVAILABLE instead.\n"
            "// Get one with client.refer<$name$>(url, options) (it converts).\n"
            "// Thread safety: as tern::Proxy (any thread).\n"
            "class $name$Stub : public ::tern::Proxy<$name$> {\n"
            " public:\n"
            "  $name$Stub() = default;\n"
            "  $name$Stub(::tern::Proxy<$name$> proxy) : ::tern::Proxy<$name$>(std::move(proxy)) {}  // NOLINT: implicit\n"
            "  explicit $name$Stub(std::shared_ptr<::tern::Reference> ref) : ::tern::Proxy<$name$>(std::move(ref)) {}\n",
            "full", s->full_name(), "name", s->name());
        sp.Indent();
        for (const MethodDescriptor* md : streams) {
          sp.Print(
              "\n// $full$ ($kind$).\n"
              "::tern::Result<::tern::ClientStream<$in$, $out$>> $method$(\n"
              "    const ::tern::CallOptions& options = {}) const {\n"
              "  if (!reference()) {\n"
              "    return ::tern::Status(::tern::StatusCode::kFailedPrecondition, \"$name$Stub has no reference\");\n"
              "  }\n"
              "  return ::tern::ClientStream<$in$, $out$>::open(*reference(), \"$method$\", &options);\n"
              "}\n",
              "full", md->full_name(), "kind", kind_text(md), "in", cpp_type(md->input_type()), "out",
              cpp_type(md->output_type()), "method", md->name(), "name", s->name());
        }
        sp.Outdent();
        sp.Print("};\n\n");
      }
      std::string reg = "TERN_SERVICE_NAMED(" + (ns.empty() ? std::string() : ns + "::") + s->name() + ", \"" +
                        s->full_name() + "\"";
      for (const auto& m : methods) reg += ", " + m;
      reg += ")\n";
      registrations.push_back(reg);
    }
    if (!ns.empty()) p.Print("}  // namespace $ns$\n\n", "ns", ns);
    for (const auto& r : registrations) p.Print("$r$", "r", r);
    if (any_stream) {
      if (stub_printer->failed()) return false;
      stub_printer.reset();  // hands its buffer back: stub_text is complete
      stub_out.reset();
      p.Print("\n");
      if (!ns.empty()) p.Print("namespace $ns$ {\n\n", "ns", ns);
      p.PrintRaw(stub_text);
      if (!ns.empty()) p.Print("}  // namespace $ns$\n", "ns", ns);
    }
    return !p.failed();
  }
};

}  // namespace

int main(int argc, char** argv) {
  TernGenerator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
