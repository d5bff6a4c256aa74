// echo_proto: a protobuf-IDL service served and called over loopback in one
// process. echo.proto's service demo.Echo becomes the contract demo::Echo and
// the stub demo::EchoStub (protoc-gen-tern, cmake/TernProto.cmake); the same
// provider answers the binary protobuf, JSON and MessagePack serializations, and any
// method can be called with JSON text without the stub (tern::call_json).
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "echo.tern.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/server.h"

namespace {

class EchoImpl : public demo::Echo {
 public:
  tern::Result<demo::EchoReply> Say(const demo::EchoRequest& request) override {
    demo::EchoReply reply;
    int n = request.repeat() > 0 ? request.repeat() : 1;
    for (int i = 0; i < n; ++i) reply.mutable_text()->append(request.text());
    reply.set_length(static_cast<int>(reply.text().size()));
    return reply;
  }
  tern::Result<demo::EchoReply> Check(const demo::EchoRequest& request) override {
    if (request.text().empty()) return tern::Status(tern::StatusCode::kInvalidArgument, "text is empty");
    demo::EchoReply reply;
    reply.set_text("ok");
    return reply;
  }
};

}  // namespace

int main() {
  tern::Server server({.listen = "127.0.0.1:0", .io_threads = 1});
  if (auto s = server.expose<demo::Echo>(std::make_shared<EchoImpl>()); !s.is_ok()) {
    std::cerr << "expose: " << s << "\n";
    return 1;
  }
  if (auto s = server.start(); !s.is_ok()) {
    std::cerr << "start: " << s << "\n";
    return 1;
  }
  const std::string url = "direct://127.0.0.1:" + std::to_string(server.port());
  tern::Client client;
  int failures = 0;

  for (const char* serialization : {"protobuf", "json", "msgpack"}) {
    tern::ReferenceOptions options;
    options.serialization = serialization;
    demo::EchoStub stub = client.refer<demo::Echo>(url, options).value();
    demo::EchoRequest request;
    request.set_text("tern ");
    request.set_repeat(3);

    tern::Result<demo::EchoReply> r = stub.call<&demo::Echo::Say>(request);  // sync
    if (r) std::cout << "[" << serialization << "] Say -> \"" << r->text() << "\" (" << r->length() << ")\n";
    else ++failures, std::cout << "[" << serialization << "] Say failed: " << r.status() << "\n";

    tern::Future<demo::EchoReply> f = stub.async_call<&demo::Echo::Say>(request);  // future
    auto fr = f.get();
    std::cout << "[" << serialization << "] future Say -> " << (fr ? fr->length() : -1) << " chars\n";
    if (!fr) ++failures;

    demo::EchoRequest empty;
    tern::Result<demo::EchoReply> e = stub.call<&demo::Echo::Check>(empty);  // an error value
    std::cout << "[" << serialization << "] Check(empty) -> " << (e ? std::string("ok?!") : e.status().to_string())
              << "\n";
    if (e) ++failures;
  }

  // Generic invocation: JSON in, JSON out, no stub (protobuf's JSON mapping).
  auto ref = client.reference("demo.Echo", url).value();
  auto j = tern::call_json(*ref, "Say", R"({"text":"hi ","repeat":2})");
  std::cout << "[call_json] Say {\"text\":\"hi \",\"repeat\":2} -> " << (j ? *j : j.status().to_string()) << "\n";
  if (!j) ++failures;

  server.shutdown(std::chrono::milliseconds(1000));
  std::cout << (failures == 0 ? "all calls behaved as expected" : "unexpected results") << "\n";
  return failures == 0 ? 0 : 1;
}
