// gRPC over TLS on a Tern provider's one port: the provider selects "h2" by
// ALPN for gRPC C++ (grpc::SslCredentials, which refuses a server that does
// not), and keeps serving Tern consumers (no ALPN) on the same TLS port. The
// ALPN choice itself is checked with in-memory OpenSSL handshakes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "greeter.grpc.pb.h"
#include "greeter.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "loopback.h"
#include "test_certs.h"
#include "tern/client.h"
#include "tern/net/tls_context.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using tern::Status;
using tern::StatusCode;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

tern::TlsOptions server_tls() {
  const auto& pki = testcerts::pki();
  tern::TlsOptions tls;
  tls.enabled = true;
  tls.cert_file = pki.server_cert;
  tls.key_file = pki.server_key;
  return tls;
}

TEST(GrpcTls, GrpcClientAndTernConsumerShareOneTlsPort) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.tls = server_tls();
  tern::Server server(so);
  ASSERT_TRUE(server
                  .add_method("terngrpc.Greeter", "Hello",
                              [](tern::ServerCall& call) {
                                terngrpc::HelloRequest req;
                                if (!req.ParseFromArray(call.body().data(), static_cast<int>(call.body().size()))) {
                                  call.respond(Status(StatusCode::kInvalidArgument, "bad request"));
                                  return;
                                }
                                terngrpc::HelloReply reply;
                                reply.set_text("hello, " + req.name());
                                auto b = call.start_response();
                                b.append_body(reply.SerializeAsString());
                                call.respond(std::move(b));
                              })
                  .is_ok());
  auto st = server.start();
  ASSERT_TRUE(st.is_ok()) << st.to_string();

  // gRPC C++ over TLS: verifies the chain and the name, and requires "h2" by ALPN.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(testcerts::pki().ca);
  ASSERT_FALSE(ssl.pem_root_certs.empty());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.port()), grpc::SslCredentials(ssl), args);
  auto stub = terngrpc::Greeter::NewStub(channel);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    terngrpc::HelloRequest req;
    req.set_name("tls " + std::to_string(i));
    terngrpc::HelloReply reply;
    grpc::Status gs = stub->Hello(&ctx, req, &reply);
    ASSERT_TRUE(gs.ok()) << gs.error_code() << " " << gs.error_message();
    EXPECT_EQ(reply.text(), "hello, tls " + std::to_string(i));
  }
  // The built-in health service answers over TLS too.
  {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  // A Tern consumer (no ALPN) on the same TLS port.
  tern::ClientOptions co = testutil::one_io();
  co.channel.tls.enabled = true;
  co.channel.tls.ca_file = testcerts::pki().ca;
  co.channel.tls.server_name = "127.0.0.1";
  tern::Client client(co);
  ASSERT_TRUE(client.status().is_ok()) << client.status().to_string();
  tern::ReferenceOptions ro;
  ro.serialization = "protobuf";
  auto ref = client.reference("terngrpc.Greeter", testutil::direct(server), ro).value();
  ASSERT_TRUE(ref->wait_for_providers(5s));
  terngrpc::HelloRequest req;
  req.set_name("tern");
  auto b = ref->new_request("Hello", false);
  b.append_body(req.SerializeAsString());
  std::promise<tern::CallResult> done;
  ref->invoke("Hello", b.finish(), 10000ms, [&](tern::CallResult&& cr) { done.set_value(std::move(cr)); });
  auto cr = done.get_future().get();
  ASSERT_TRUE(cr.status.is_ok()) << cr.status.to_string();
  terngrpc::HelloReply reply;
  ASSERT_TRUE(reply.ParseFromArray(cr.body().data(), static_cast<int>(cr.body().size())));
  EXPECT_EQ(reply.text(), "hello, tern");

  channel.reset();
  stub.reset();
  server.shutdown(1000ms);
}

// One TLS handshake in memory between the provider's context and a client
// offering `alpn` (wire format; empty = no ALPN). Returns the protocol the
// server selected ("" for none), or "<failed>".
std::string negotiated(const std::string& alpn) {
  auto server_ctx = tern::net::TlsContext::create(server_tls(), tern::net::TlsContext::Role::kServer);
  if (!server_ctx.has_value()) return "<failed: " + server_ctx.status().message() + ">";
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, nullptr);
  SSL* client = SSL_new(client_ctx);
  SSL* server = SSL_new((*server_ctx)->native());
  if (!alpn.empty()) {
    SSL_set_alpn_protos(client, reinterpret_cast<const unsigned char*>(alpn.data()), static_cast<unsigned>(alpn.size()));
  }
  BIO *c_io = nullptr, *s_io = nullptr;
  BIO_new_bio_pair(&c_io, 0, &s_io, 0);
  SSL_set_bio(client, c_io, c_io);
  SSL_set_bio(server, s_io, s_io);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  bool c_done = false, s_done = false;
  for (int i = 0; i < 100 && !(c_done && s_done); ++i) {
    if (!c_done) {
      int r = SSL_do_handshake(client);
      c_done = r == 1;
      if (r <= 0 && SSL_get_error(client, r) != SSL_ERROR_WANT_READ) break;
    }
    if (!s_done) {
      int r = SSL_do_handshake(server);
      s_done = r == 1;
      if (r <= 0 && SSL_get_error(server, r) != SSL_ERROR_WANT_READ) break;
    }
  }
  std::string out = "<failed>";
  if (c_done && s_done) {
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(client, &p, &n);
    out.assign(reinterpret_cast<const char*>(p), n);
  }
  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(client_ctx);
  return out;
}

TEST(GrpcTls, AlpnPrefersH2ThenTernAndToleratesNone) {
  using namespace std::string_literals;
  EXPECT_EQ(negotiated("\x02h2\x08http/1.1"s), "h2");
  EXPECT_EQ(negotiated("\x08http/1.1\x02h2"s), "h2");       // h2 wherever the client lists it
  EXPECT_EQ(negotiated("\x04tern\x02h2"s), "h2");           // a client offering both speaks gRPC
  EXPECT_EQ(negotiated("\x04tern"s), "tern");
  EXPECT_EQ(negotiated(""), "");                            // Tern consumers send no ALPN
  EXPECT_EQ(negotiated("\x08http/1.1"s), "");               // no common protocol: the handshake goes on without one
}

}  // namespace
