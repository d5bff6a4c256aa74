// The gRPC built-ins of every Tern provider, called by gRPC C++'s own clients
// generated from the official .proto files (src/proto/grpc): the health
// service grpc.health.v1.Health (Check, Watch) fed by the provider's serving
// state, and server reflection grpc.reflection.v1alpha.ServerReflection.
// Both are also reached from a Tern consumer over the Tern protocol.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "greeter.grpc.pb.h"
#include "greeter.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "loopback.h"
#include "server/grpc_health.h"
#include "tern/client.h"
#include "tern/server.h"
#include "tern/stream.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;
using tern::ServerStream;
using tern::Status;
using tern::StatusCode;
using tern::Task;

namespace {

class GrpcBuiltins : public ::testing::Test {
 protected:
  void start(tern::ServerOptions so = {}) {
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    server = std::make_unique<tern::Server>(so);
    ASSERT_TRUE(server
                    ->add_method("terngrpc.Greeter", "Hello",
                                 [](tern::ServerCall& call) {
                                   terngrpc::HelloRequest req;
                                   req.ParseFromArray(call.body().data(), static_cast<int>(call.body().size()));
                                   terngrpc::HelloReply reply;
                                   reply.set_text("hello, " + req.name());
                                   auto b = call.start_response();
                                   b.append_body(reply.SerializeAsString());
                                   call.respond(std::move(b));
                                 })
                    .is_ok());
    // A service no .proto describes: reachable, but not listed by gRPC reflection.
    ASSERT_TRUE(server->add_method("plain.Echo", "echo", [](tern::ServerCall& call) { call.respond(Status()); }).is_ok());
    auto st = server->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials());
    health = grpc::health::v1::Health::NewStub(channel);
    reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  }
  void TearDown() override {
    health.reset();
    reflection.reset();
    channel.reset();
    if (server) server->shutdown(1000ms);
  }

  grpc::Status check(const std::string& service, HealthCheckResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    HealthCheckRequest req;
    req.set_service(service);
    return health->Check(&ctx, req, out);
  }

  std::unique_ptr<tern::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  std::unique_ptr<grpc::reflection::v1alpha::ServerReflection::Stub> reflection;
};

TEST_F(GrpcBuiltins, HealthCheckWholeServerAndKnownServicesAreServing) {
  start();
  for (const std::string name : {"", "terngrpc.Greeter", "plain.Echo", "grpc.health.v1.Health",
                                 "grpc.reflection.v1alpha.ServerReflection", "tern.Reflection"}) {
    HealthCheckResponse resp;
    grpc::Status st = check(name, &resp);
    ASSERT_TRUE(st.ok()) << "'" << name << "': " << st.error_code() << " " << st.error_message();
    EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING) << "'" << name << "'";
  }
}

TEST_F(GrpcBuiltins, HealthCheckOfAnUnknownServiceIsNotFound) {
  start();
  HealthCheckResponse resp;
  grpc::Status st = check("no.Such", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "unknown service 'no.Such'");
}

TEST_F(GrpcBuiltins, HealthWatchSeesNotServingWhenTheServerShutsDown) {
  start();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  HealthCheckRequest req;  // "" = the whole server
  auto reader = health->Watch(&ctx, req);
  HealthCheckResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);

  auto began = std::chrono::steady_clock::now();
  std::thread stopper([&] { server->shutdown(5000ms); });
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&resp));
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.error_message(), "provider is shutting down");
  stopper.join();
  // The watch ended by itself: the shutdown did not wait out its grace.
  EXPECT_LT(std::chrono::steady_clock::now() - began, 4000ms);
}

TEST_F(GrpcBuiltins, HealthWatchOfAnUnknownServiceStaysOpenUntilCancelled) {
  start();
  grpc::ClientContext ctx;
  HealthCheckRequest req;
  req.set_service("no.Such");
  auto reader = health->Watch(&ctx, req);
  HealthCheckResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&resp));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The provider's stream ended too: a shutdown does not wait for it.
  auto began = std::chrono::steady_clock::now();
  server->shutdown(3000ms);
  EXPECT_LT(std::chrono::steady_clock::now() - began, 2500ms);
}

TEST_F(GrpcBuiltins, HealthCanBeTurnedOff) {
  tern::ServerOptions so;
  so.grpc_health = false;
  so.grpc_reflection = false;
  start(so);
  HealthCheckResponse resp;
  EXPECT_EQ(check("", &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(GrpcBuiltins, BuiltinsAreNeverAnnouncedInTheRegistry) {
  start();
  std::vector<std::string> announced;
  for (const auto& u : server->provider_urls()) announced.push_back(u.path());
  std::sort(announced.begin(), announced.end());
  EXPECT_EQ(announced, (std::vector<std::string>{"plain.Echo", "terngrpc.Greeter"}));
}

TEST_F(GrpcBuiltins, HealthOverTheTernProtocol) {
  start();
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.serialization = "protobuf";
  auto ref = client.reference("grpc.health.v1.Health", testutil::direct(*server), ro).value();
  ASSERT_TRUE(ref->wait_for_providers(5s));

  auto call = [&](const std::string& service) {
    HealthCheckRequest req;
    req.set_service(service);
    auto b = ref->new_request("Check", false);
    b.append_body(req.SerializeAsString());
    std::promise<tern::CallResult> done;
    ref->invoke("Check", b.finish(), 5000ms, [&](tern::CallResult&& cr) { done.set_value(std::move(cr)); });
    return done.get_future().get();
  };
  auto ok = call("terngrpc.Greeter");
  ASSERT_TRUE(ok.status.is_ok()) << ok.status.to_string();
  HealthCheckResponse resp;
  ASSERT_TRUE(resp.ParseFromArray(ok.body().data(), static_cast<int>(ok.body().size())));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  EXPECT_EQ(call("no.Such").status.code(), StatusCode::kNotFound);
  // Bytes that are no HealthCheckRequest, and another serialization: a clear status.
  {
    auto b = ref->new_request("Check", false);
    b.append_body(std::string("\xff\xff\xff", 3));
    std::promise<tern::CallResult> done;
    ref->invoke("Check", b.finish(), 5000ms, [&](tern::CallResult&& cr) { done.set_value(std::move(cr)); });
    Status bad = done.get_future().get().status;
    EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(bad.message(), "grpc.health.v1.Health: the request is not a valid grpc.health.v1.HealthCheckRequest");
  }
  {
    tern::ReferenceOptions jo;
    jo.serialization = "json";
    auto json_ref = client.reference("grpc.health.v1.Health", testutil::direct(*server), jo).value();
    ASSERT_TRUE(json_ref->wait_for_providers(5s));
    auto b = json_ref->new_request("Check", false);
    b.append_body("[{}]");
    std::promise<tern::CallResult> done;
    json_ref->invoke("Check", b.finish(), 5000ms, [&](tern::CallResult&& cr) { done.set_value(std::move(cr)); });
    Status bad = done.get_future().get().status;
    EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(bad.message(), "grpc.health.v1.Health speaks protobuf only (serialization 1), not 2");
  }

  // Watch as a Tern stream: the current status, then NOT_SERVING at shutdown.
  auto s = tern::ClientStream<HealthCheckRequest, HealthCheckResponse>::open(*ref, "Watch").value();
  HealthCheckRequest req;
  ASSERT_TRUE(s.write_sync(req).is_ok());
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  auto first = s.read_sync(5000ms);
  ASSERT_TRUE(first.has_value()) << s.status().to_string();
  EXPECT_EQ(first->status(), HealthCheckResponse::SERVING);
  std::thread stopper([&] { server->shutdown(5000ms); });
  auto second = s.read_sync(5000ms);
  ASSERT_TRUE(second.has_value()) << s.status().to_string();
  EXPECT_EQ(second->status(), HealthCheckResponse::NOT_SERVING);
  Status end = s.finish_sync();
  EXPECT_EQ(end.code(), StatusCode::kUnavailable) << end.to_string();
  stopper.join();
}

TEST(GrpcHealthState, WatchersRunOnceAndForgetEndedCalls) {
  auto h = tern::rpc::GrpcHealth::create();
  h->set_services({"a.A"});
  EXPECT_EQ(h->status(""), tern::rpc::GrpcHealth::kServing);
  EXPECT_EQ(h->status("a.A"), tern::rpc::GrpcHealth::kServing);
  EXPECT_EQ(h->status("b.B"), std::nullopt);
  int ran = 0;
  std::uint64_t seen = h->generation();
  std::uint64_t kept = h->watch(seen, [&] { ++ran; });
  std::uint64_t dropped = h->watch(seen, [&] { ran += 100; });
  EXPECT_NE(kept, 0u);
  EXPECT_EQ(h->watchers(), 2u);
  h->unwatch(dropped);
  h->stop_serving();
  h->stop_serving();  // idempotent
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(h->watchers(), 0u);
  EXPECT_EQ(h->status(""), tern::rpc::GrpcHealth::kNotServing);
  EXPECT_EQ(h->status("a.A"), tern::rpc::GrpcHealth::kNotServing);
  // Watching an older generation runs at once.
  EXPECT_EQ(h->watch(seen, [&] { ++ran; }), 0u);
  EXPECT_EQ(ran, 2);
}

// ---------------------------------------------------------------------------
// Reflection

class Reflector {
 public:
  explicit Reflector(grpc::reflection::v1alpha::ServerReflection::Stub& stub)
      : stream_(stub.ServerReflectionInfo(&ctx_)) {}
  ServerReflectionResponse ask(const ServerReflectionRequest& req) {
    EXPECT_TRUE(stream_->Write(req));
    ServerReflectionResponse resp;
    EXPECT_TRUE(stream_->Read(&resp));
    return resp;
  }
  grpc::Status close() {
    stream_->WritesDone();
    ServerReflectionResponse extra;
    EXPECT_FALSE(stream_->Read(&extra));
    return stream_->Finish();
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<ServerReflectionRequest, ServerReflectionResponse>> stream_;
};

// The files of a FileDescriptorResponse, built into a fresh pool (the file
// first, then its dependencies; a pool needs them the other way round).
// `names` gets the file names in the order they were built.
std::unique_ptr<google::protobuf::DescriptorPool> build(const ServerReflectionResponse& resp,
                                                        std::vector<std::string>* names) {
  auto pool = std::make_unique<google::protobuf::DescriptorPool>();
  const auto& files = resp.file_descriptor_response().file_descriptor_proto();
  for (int i = files.size() - 1; i >= 0; --i) {
    google::protobuf::FileDescriptorProto fdp;
    EXPECT_TRUE(fdp.ParseFromString(files[i]));
    names->push_back(fdp.name());
    EXPECT_NE(pool->BuildFile(fdp), nullptr) << fdp.name();
  }
  return pool;
}

TEST_F(GrpcBuiltins, ReflectionListsTheDescribedServices) {
  start();
  Reflector r(*reflection);
  ServerReflectionRequest req;
  req.set_host("localhost");
  req.set_list_services("*");
  auto resp = r.ask(req);
  EXPECT_EQ(resp.valid_host(), "localhost");
  EXPECT_EQ(resp.original_request().list_services(), "*");
  ASSERT_TRUE(resp.has_list_services_response()) << resp.DebugString();
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  // plain.Echo and tern.Reflection have no .proto: gRPC tools could not call them.
  EXPECT_EQ(names, (std::vector<std::string>{"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                                             "terngrpc.Greeter"}));
  EXPECT_TRUE(r.close().ok());
}

TEST_F(GrpcBuiltins, ReflectionResolvesASymbolToItsFileDescriptor) {
  start();
  Reflector r(*reflection);
  ServerReflectionRequest req;
  req.set_file_containing_symbol("terngrpc.Greeter");
  auto resp = r.ask(req);
  ASSERT_TRUE(resp.has_file_descriptor_response()) << resp.DebugString();
  std::vector<std::string> files;
  auto pool = build(resp, &files);
  EXPECT_EQ(files, (std::vector<std::string>{"greeter.proto"}));
  const auto* svc = pool->FindServiceByName("terngrpc.Greeter");
  ASSERT_NE(svc, nullptr);
  ASSERT_NE(svc->FindMethodByName("Hello"), nullptr);
  EXPECT_EQ(svc->FindMethodByName("Hello")->input_type()->full_name(), "terngrpc.HelloRequest");
  EXPECT_TRUE(svc->FindMethodByName("Count")->server_streaming());
  EXPECT_EQ(svc->method_count(), 6);

  // A method and a message resolve to the same file.
  req.set_file_containing_symbol("terngrpc.Greeter.Hello");
  auto by_method = r.ask(req);
  ASSERT_EQ(by_method.file_descriptor_response().file_descriptor_proto_size(), 1);
  req.set_file_containing_symbol("terngrpc.SumReply");
  EXPECT_EQ(r.ask(req).file_descriptor_response().file_descriptor_proto(0),
            by_method.file_descriptor_response().file_descriptor_proto(0));

  // The built-ins resolve too, and by file name.
  req.set_file_containing_symbol("grpc.health.v1.Health");
  files.clear();
  auto health_pool = build(r.ask(req), &files);
  EXPECT_EQ(files, (std::vector<std::string>{"grpc/health/v1/health.proto"}));
  EXPECT_NE(health_pool->FindMethodByName("grpc.health.v1.Health.Watch"), nullptr);
  ServerReflectionRequest by_name;
  by_name.set_file_by_filename("grpc/reflection/v1alpha/reflection.proto");
  files.clear();
  auto refl_pool = build(r.ask(by_name), &files);
  EXPECT_EQ(files, (std::vector<std::string>{"grpc/reflection/v1alpha/reflection.proto"}));
  EXPECT_NE(refl_pool->FindServiceByName("grpc.reflection.v1alpha.ServerReflection"), nullptr);
  EXPECT_TRUE(r.close().ok());
}

TEST_F(GrpcBuiltins, ReflectionSendsTheDependenciesOfAFile) {
  start();
  Reflector r(*reflection);
  ServerReflectionRequest req;
  // type.proto (linked with libprotobuf) imports any.proto and source_context.proto.
  req.set_file_containing_symbol("google.protobuf.Type");
  std::vector<std::string> files;
  auto pool = build(r.ask(req), &files);
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"google/protobuf/any.proto", "google/protobuf/source_context.proto",
                                             "google/protobuf/type.proto"}));
  EXPECT_NE(pool->FindMessageTypeByName("google.protobuf.Type"), nullptr);
  EXPECT_TRUE(r.close().ok());
}

TEST_F(GrpcBuiltins, ReflectionAnswersUnknownNamesWithNotFoundAndGoesOn) {
  start();
  Reflector r(*reflection);
  ServerReflectionRequest req;
  req.set_file_containing_symbol("no.such.Symbol");
  auto resp = r.ask(req);
  ASSERT_TRUE(resp.has_error_response()) << resp.DebugString();
  EXPECT_EQ(resp.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(resp.error_response().error_message(), "symbol 'no.such.Symbol' not found");
  req.set_file_by_filename("no/such.proto");
  resp = r.ask(req);
  EXPECT_EQ(resp.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  req.set_all_extension_numbers_of_type("no.Such");
  EXPECT_EQ(r.ask(req).error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  // A request naming no lookup at all.
  resp = r.ask(ServerReflectionRequest());
  EXPECT_EQ(resp.error_response().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The stream still answers.
  req.set_list_services("");
  EXPECT_EQ(r.ask(req).list_services_response().service_size(), 3);
  req.set_all_extension_numbers_of_type("terngrpc.HelloRequest");
  resp = r.ask(req);
  EXPECT_EQ(resp.all_extension_numbers_response().base_type_name(), "terngrpc.HelloRequest");
  EXPECT_EQ(resp.all_extension_numbers_response().extension_number_size(), 0);
  EXPECT_TRUE(r.close().ok());
}

TEST_F(GrpcBuiltins, ReflectionOverTheTernProtocol) {
  start();
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.serialization = "protobuf";
  auto ref = client.reference("grpc.reflection.v1alpha.ServerReflection", testutil::direct(*server), ro).value();
  ASSERT_TRUE(ref->wait_for_providers(5s));
  auto s = tern::ClientStream<ServerReflectionRequest, ServerReflectionResponse>::open(*ref, "ServerReflectionInfo")
               .value();
  ServerReflectionRequest req;
  req.set_file_containing_symbol("terngrpc.HelloReply");
  ASSERT_TRUE(s.write_sync(req).is_ok());
  auto resp = s.read_sync(5000ms);
  ASSERT_TRUE(resp.has_value()) << s.status().to_string();
  std::vector<std::string> files;
  auto pool = build(*resp, &files);
  EXPECT_NE(pool->FindMessageTypeByName("terngrpc.HelloReply"), nullptr);
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  EXPECT_FALSE(s.read_sync(5000ms).has_value());
  EXPECT_TRUE(s.finish_sync().is_ok());

  // Bytes that are no ServerReflectionRequest end that stream INVALID_ARGUMENT.
  auto raw = tern::open_stream(*ref, "ServerReflectionInfo").value();
  std::promise<Status> wrote, ended;
  raw->write(std::string("\xff\xff\xff", 3), [&](Status st) { wrote.set_value(st); });
  EXPECT_TRUE(wrote.get_future().get().is_ok());
  raw->await_status([&](Status st) { ended.set_value(st); });
  Status end = ended.get_future().get();
  EXPECT_EQ(end.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(end.message(),
            "grpc.reflection.v1alpha.ServerReflection: the request is not a valid "
            "grpc.reflection.v1alpha.ServerReflectionRequest");
}

}  // namespace
