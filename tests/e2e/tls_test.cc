// TLS for provider, consumer and registry connections (issue #10, security):
// certificates are made at test time with the openssl CLI (a CA, a server
// certificate for 127.0.0.1 and localhost, a client certificate, a second
// CA, an expired server certificate), then real calls run over loopback.
#include <gtest/gtest.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "loopback.h"
#include "test_certs.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/provider.h"
#include "tern/registry_server.h"
#include "tern/server.h"
#include "tern/tls.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;

namespace {

using testcerts::pki;
using testutil::direct;
using testutil::failfast;
using testutil::wait_until;

tern::TlsOptions server_tls(bool require_client_cert = false) {
  tern::TlsOptions t;
  t.enabled = true;
  t.cert_file = pki().server_cert;
  t.key_file = pki().server_key;
  if (require_client_cert) {
    t.ca_file = pki().ca;
    t.require_client_cert = true;
  }
  return t;
}

tern::TlsOptions client_tls(const std::string& server_name = "localhost", bool with_cert = false) {
  tern::TlsOptions t;
  t.enabled = true;
  t.ca_file = pki().ca;
  t.server_name = server_name;
  if (with_cert) {
    t.cert_file = pki().client_cert;
    t.key_file = pki().client_key;
  }
  return t;
}

// testutil::start_server with four business threads.
std::unique_ptr<tern::Server> start_server(tern::ServerOptions so, std::shared_ptr<testsvc::CalculatorImpl> impl = nullptr) {
  so.worker_threads = 4;
  return impl ? testutil::start_server(std::move(impl), std::move(so)) : testutil::start_server(std::move(so));
}

tern::ServerOptions tls_server_options(bool require_client_cert = false) {
  tern::ServerOptions so;
  so.tls = server_tls(require_client_cert);
  return so;
}

tern::ClientOptions client_options(tern::TlsOptions tls) {
  tern::ClientOptions co = testutil::one_io();
  co.channel.tls = std::move(tls);
  co.channel.connect_timeout = 2000ms;
  return co;
}

const std::string kService(tern::ServiceTraits<Calculator>::name);

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A refused call: UNAVAILABLE, not executed, the message has `part`.
void expect_refused(const tern::Status& s, const std::string& part) {
  EXPECT_EQ(s.code(), tern::StatusCode::kUnavailable) << s.to_string();
  EXPECT_FALSE(s.may_have_executed()) << s.to_string();
  EXPECT_TRUE(contains(s.message(), part)) << "expected '" << part << "' in: " << s.to_string();
}

// ---------------------------------------------------------------------------

TEST(Tls, EveryCallModeWorksOverTls) {
  auto impl = std::make_shared<testsvc::CalculatorImpl>();
  auto server = start_server(tls_server_options(), impl);
  auto client = tern::Client::create(client_options(client_tls("localhost"))).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();

  // sync
  EXPECT_EQ(calc.call<&Calculator::add>(40, 2).value(), 42);
  EXPECT_EQ(calc.call<&Calculator::greet>("tls").value(), "hello, tls");
  // a remote error travels back intact
  auto err = calc.call<&Calculator::fail>("boom");
  EXPECT_EQ(err.status().code(), tern::StatusCode::kInternal);
  EXPECT_EQ(err.status().message(), "boom");
  // future
  auto f = calc.async_call<&Calculator::add>(20, 22);
  EXPECT_EQ(f.get().value(), 42);
  // callback
  std::atomic<int> got{0};
  calc.callback<&Calculator::add>([&](tern::Result<int> r) { got = r.value_or(-1); }, 5, 6);
  ASSERT_TRUE(wait_until([&] { return got.load() != 0; }));
  EXPECT_EQ(got.load(), 11);
  // coroutine
  auto task = [](tern::Proxy<Calculator> c) -> tern::Task<int> {
    auto a = co_await c.co_call<&Calculator::add>(1, 2);
    co_return a.value() * 100;
  };
  EXPECT_EQ(tern::sync_wait(task(calc)).value(), 300);
  // oneway: 100 of them, then the total they added
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(calc.oneway<&Calculator::count>(i).is_ok());
  ASSERT_TRUE(wait_until([&] { return impl->total_.load() == 5050; }));
  EXPECT_EQ(calc.call<&Calculator::total>().value(), 5050);

  // All of it on one TLS connection.
  auto ch = client->channels().get({"127.0.0.1", server->port()});
  EXPECT_TRUE(ch->connected());
  EXPECT_EQ(ch->stats().connects, 1u);
  EXPECT_EQ(server->stats().connections, 1u);
  server->shutdown(0ms);
}

TEST(Tls, ServerNameMayBeTheIpAddress) {
  auto server = start_server(tls_server_options());
  auto client = tern::Client::create(client_options(client_tls("127.0.0.1"))).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
  EXPECT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  // No name: the chain is still verified (the CA signed it), no name checked.
  auto client2 = tern::Client::create(client_options(client_tls(""))).value();
  auto calc2 = client2->refer<Calculator>(direct(*server), failfast()).value();
  EXPECT_EQ(calc2.call<&Calculator::add>(2, 2).value(), 4);
  server->shutdown(0ms);
}

TEST(Tls, LargeBodiesBothWays) {
  auto server = start_server(tls_server_options());
  auto client = tern::Client::create(client_options(client_tls())).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
  std::string big(1 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  for (int round = 0; round < 3; ++round) {
    auto r = calc.call<&Calculator::greet>(big);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    ASSERT_EQ(r->size(), big.size() + 7);
    EXPECT_EQ(*r, "hello, " + big);
  }
  // Several 1 MiB calls in flight at once on the one connection.
  std::vector<tern::Future<std::string>> fs;
  for (int i = 0; i < 4; ++i) fs.push_back(calc.async_call<&Calculator::greet>(std::to_string(i) + big));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(fs[i].get().value(), "hello, " + std::to_string(i) + big);
  EXPECT_EQ(client->channels().get({"127.0.0.1", server->port()})->stats().connects, 1u);
  server->shutdown(0ms);
}

TEST(Tls, ManyConcurrentCallsPipelineOnOneConnection) {
  auto server = start_server(tls_server_options());
  auto client = tern::Client::create(client_options(client_tls())).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
  constexpr int kThreads = 4, kPerThread = 500;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<tern::Future<int>> fs;
      for (int i = 0; i < kPerThread; ++i) fs.push_back(calc.async_call<&Calculator::add>(t * 100000, i));
      for (int i = 0; i < kPerThread; ++i) {
        auto r = fs[i].get();
        if (!r.has_value() || *r != t * 100000 + i) wrong.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(server->stats().requests, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(client->channels().get({"127.0.0.1", server->port()})->stats().connects, 1u);
  EXPECT_EQ(server->stats().connections, 1u);
  server->shutdown(0ms);
}

TEST(Tls, MutualTlsAcceptsAClientCertificateAndRefusesNone) {
  auto server = start_server(tls_server_options(/*require_client_cert=*/true));
  {
    auto client = tern::Client::create(client_options(client_tls("localhost", /*with_cert=*/true))).value();
    auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
    EXPECT_EQ(calc.call<&Calculator::add>(3, 4).value(), 7);
  }
  {
    auto client = tern::Client::create(client_options(client_tls("localhost", /*with_cert=*/false))).value();
    auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
    auto r = calc.call<&Calculator::add>(3, 4);
    ASSERT_FALSE(r.has_value());
    expect_refused(r.status(), "TLS handshake with 127.0.0.1:" + std::to_string(server->port()) + " failed");
    EXPECT_TRUE(contains(r.status().message(), "certificate required")) << r.status().to_string();
    EXPECT_EQ(server->stats().requests, 1u);  // the refused call never ran
  }
  // A client certificate from another CA is refused too.
  {
    // The other CA's self-signed certificate as the client certificate.
    auto t = client_tls("localhost");
    t.cert_file = pki().other_ca;
    t.key_file = pki().path("other_ca.key");
    auto client = tern::Client::create(client_options(t)).value();
    auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
    auto r = calc.call<&Calculator::add>(3, 4);
    ASSERT_FALSE(r.has_value());
    expect_refused(r.status(), "TLS handshake");
  }
  // The server kept serving.
  auto client = tern::Client::create(client_options(client_tls("localhost", true))).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
  EXPECT_EQ(calc.call<&Calculator::add>(5, 5).value(), 10);
  EXPECT_EQ(server->stats().requests, 2u);
  server->shutdown(0ms);
}

TEST(Tls, ServerSignedByAnUntrustedCaIsRefused) {
  auto server = start_server(tls_server_options());
  auto t = client_tls("localhost");
  t.ca_file = pki().other_ca;
  auto client = tern::Client::create(client_options(t)).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
  auto r = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  expect_refused(r.status(), "certificate verify failed");
  EXPECT_TRUE(contains(r.status().message(), "unable to get local issuer certificate") ||
              contains(r.status().message(), "self-signed certificate"))
      << r.status().to_string();
  // Oneways are refused as well (the connection is known broken, or dropped).
  EXPECT_EQ(server->stats().requests, 0u);
  server->shutdown(0ms);
}

TEST(Tls, ExpiredCertificateIsRefused) {
  tern::ServerOptions so = tls_server_options();
  so.tls.cert_file = pki().expired_cert;
  auto server = start_server(so);
  auto client = tern::Client::create(client_options(client_tls("localhost"))).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
  auto r = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  expect_refused(r.status(), "certificate has expired");
  server->shutdown(0ms);
}

TEST(Tls, WrongServerNameIsRefused) {
  auto server = start_server(tls_server_options());
  {
    auto client = tern::Client::create(client_options(client_tls("billing.example.com"))).value();
    auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
    auto r = calc.call<&Calculator::add>(1, 2);
    ASSERT_FALSE(r.has_value());
    expect_refused(r.status(), "hostname mismatch");
  }
  {
    auto client = tern::Client::create(client_options(client_tls("10.1.2.3"))).value();
    auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
    auto r = calc.call<&Calculator::add>(1, 2);
    ASSERT_FALSE(r.has_value());
    expect_refused(r.status(), "IP address mismatch");
  }
  EXPECT_EQ(server->stats().requests, 0u);
  server->shutdown(0ms);
}

TEST(Tls, PlainClientIsRefusedAndTlsClientsKeepWorking) {
  auto server = start_server(tls_server_options());
  auto tls_client = tern::Client::create(client_options(client_tls())).value();
  auto tls_calc = tls_client->refer<Calculator>(direct(*server), failfast()).value();
  EXPECT_EQ(tls_calc.call<&Calculator::add>(1, 2).value(), 3);

  tern::Client plain_client(testutil::one_io());
  auto plain_calc = plain_client.refer<Calculator>(direct(*server), failfast()).value();
  for (int i = 0; i < 3; ++i) {
    auto r = plain_calc.call<&Calculator::add>(1, 2);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable) << r.status().to_string();
  }
  // The established TLS connection and new ones are unaffected.
  EXPECT_EQ(tls_calc.call<&Calculator::add>(2, 3).value(), 5);
  auto tls_client2 = tern::Client::create(client_options(client_tls())).value();
  auto tls_calc2 = tls_client2->refer<Calculator>(direct(*server), failfast()).value();
  EXPECT_EQ(tls_calc2.call<&Calculator::add>(3, 4).value(), 7);
  EXPECT_EQ(server->stats().requests, 3u);
  EXPECT_EQ(tls_client->channels().get({"127.0.0.1", server->port()})->stats().connects, 1u);
  server->shutdown(0ms);
}

TEST(Tls, TlsClientToPlainServerIsRefused) {
  auto server = start_server(tern::ServerOptions{});
  auto client = tern::Client::create(client_options(client_tls())).value();
  auto calc = client->refer<Calculator>(direct(*server), failfast()).value();
  auto r = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  expect_refused(r.status(), "TLS handshake with 127.0.0.1:" + std::to_string(server->port()) + " failed");
  // The plain server still serves plain clients.
  tern::Client plain_client(testutil::one_io());
  EXPECT_EQ(plain_client.refer<Calculator>(direct(*server), failfast()).value().call<&Calculator::add>(1, 2).value(), 3);
  server->shutdown(0ms);
}

TEST(Tls, SilentPeerIsClosedAfterTheHandshakeTimeout) {
  // Server side: a TCP client that never says a word.
  tern::ServerOptions so = tls_server_options();
  so.tls.handshake_timeout = 300ms;
  auto server = start_server(so);
  asio::io_context io;
  asio::ip::tcp::socket raw(io);
  raw.connect({asio::ip::make_address("127.0.0.1"), server->port()});
  auto t0 = std::chrono::steady_clock::now();
  char byte;
  std::error_code ec;
  std::size_t n = raw.read_some(asio::buffer(&byte, 1), ec);  // blocks until the server closes
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 2000ms);
  ASSERT_TRUE(wait_until([&] { return server->stats().connections == 0; }));
  server->shutdown(0ms);

  // Client side: a "server" that accepts and never answers the ClientHello.
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  std::atomic<bool> call_done{false};
  std::thread accept_thread([&] {
    asio::ip::tcp::socket s(io);
    acceptor.accept(s, ec);
    wait_until([&] { return call_done.load(); });  // holds the connection, silent, until the call gave up
  });
  auto co = client_options(client_tls());
  co.channel.connect_timeout = 300ms;
  auto client = tern::Client::create(co).value();
  auto calc = client->refer<Calculator>(direct({port}), failfast()).value();
  t0 = std::chrono::steady_clock::now();
  auto r = calc.call<&Calculator::add>(1, 2);
  waited = std::chrono::steady_clock::now() - t0;
  call_done = true;
  accept_thread.join();
  ASSERT_FALSE(r.has_value());
  expect_refused(r.status(), "TLS handshake with 127.0.0.1:" + std::to_string(port) + " timed out after 300 ms");
  EXPECT_LT(waited, 1200ms);
}

// The openssl CLI as the client: the server handshakes TLS 1.2 as well as
// 1.3, and refuses anything older.
TEST(Tls, ServerSpeaksTls12AndRefusesOlderVersions) {
  auto server = start_server(tls_server_options());
  auto handshake = [&](const std::string& version) {
    std::string out = pki().path("s_client_" + version + ".txt");
    std::string cmd = "echo | timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(server->port()) +
                      " -" + version + " -CAfile " + pki().ca + " -verify_return_error > " + out + " 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream in(out);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return std::make_pair(rc, text);
  };
  auto [rc12, text12] = handshake("tls1_2");
  EXPECT_EQ(rc12, 0) << text12;
  EXPECT_TRUE(contains(text12, "Protocol  : TLSv1.2")) << text12;
  EXPECT_TRUE(contains(text12, "Verify return code: 0 (ok)")) << text12;
  auto [rc13, text13] = handshake("tls1_3");
  EXPECT_EQ(rc13, 0) << text13;
  EXPECT_TRUE(contains(text13, "TLSv1.3")) << text13;
  auto [rc11, text11] = handshake("tls1_1");
  EXPECT_NE(rc11, 0) << text11;
  EXPECT_TRUE(contains(text11, "alert protocol version")) << text11;
  // Still serving.
  auto client = tern::Client::create(client_options(client_tls())).value();
  EXPECT_EQ(client->refer<Calculator>(direct(*server), failfast()).value().call<&Calculator::add>(1, 2).value(), 3);
  server->shutdown(0ms);
}

TEST(Tls, BadFilesAreInvalidArgumentsNamingTheFile) {
  auto start_with = [](tern::TlsOptions t) {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.tls = std::move(t);
    tern::Server s(so);
    return s.start();
  };
  auto missing = pki().path("nope.pem");
  auto t = server_tls();
  t.cert_file = missing;
  auto s = start_with(t);
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), missing) && contains(s.message(), "No such file")) << s.to_string();

  t = server_tls();
  t.cert_file = pki().garbage;
  s = start_with(t);
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), "certificate file '" + pki().garbage + "'") && contains(s.message(), "no start line"))
      << s.to_string();

  t = server_tls();
  t.key_file = pki().client_key;  // not the certificate's key
  s = start_with(t);
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), "private key file '" + pki().client_key + "' does not match certificate file '" +
                                        pki().server_cert + "'"))
      << s.to_string();

  t = server_tls();
  t.key_file.clear();
  s = start_with(t);
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument) << s.to_string();

  t = server_tls();
  t.require_client_cert = true;  // without ca_file
  s = start_with(t);
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), "ca_file")) << s.to_string();

  t = server_tls(true);
  t.ca_file = pki().garbage;
  s = start_with(t);
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), "CA file '" + pki().garbage + "'")) << s.to_string();

  t = server_tls();
  t.min_version = "1.1";
  s = start_with(t);
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument);

  // Consumer side: create() reports it; a directly built client refuses to refer.
  auto c = client_tls();
  c.ca_file = missing;
  auto client = tern::Client::create(client_options(c));
  ASSERT_FALSE(client.has_value());
  EXPECT_EQ(client.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(client.status().message(), "CA file '" + missing + "'")) << client.status().to_string();
  tern::Client direct_client(client_options(c));
  EXPECT_EQ(direct_client.status().code(), tern::StatusCode::kInvalidArgument);
  auto ref = direct_client.refer<Calculator>("direct://127.0.0.1:1");
  EXPECT_EQ(ref.status().code(), tern::StatusCode::kInvalidArgument);
  c = client_tls("localhost", true);
  c.cert_file = pki().garbage;
  client = tern::Client::create(client_options(c));
  ASSERT_FALSE(client.has_value());
  EXPECT_TRUE(contains(client.status().message(), pki().garbage)) << client.status().to_string();
}

TEST(Tls, EmbeddedRegistryOverMutualTls) {
  tern::RegistryServerOptions rso;
  rso.listen = "127.0.0.1:0";
  rso.heartbeat_interval = 500ms;
  rso.tls = server_tls(/*require_client_cert=*/true);
  tern::RegistryServer registry(rso);
  ASSERT_TRUE(registry.start().is_ok());
  std::string registry_url = "tern://127.0.0.1:" + std::to_string(registry.port());

  // The provider: TLS on its own port, mutual TLS to the registry.
  tern::ProviderOptions po;
  po.server.listen = "127.0.0.1:0";
  po.server.io_threads = 1;
  po.server.tls = server_tls();
  po.registry = registry_url;
  po.registry_options.heartbeat_interval = 500ms;
  po.registry_options.tls = client_tls("localhost", /*with_cert=*/true);
  tern::Provider provider(po);
  ASSERT_TRUE(provider.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
  ASSERT_TRUE(provider.start().is_ok());
  ASSERT_TRUE(wait_until([&] { return registry.providers(kService).size() == 1; }))
      << "registered: " << registry.providers(kService).size();

  // The consumer discovers it over TLS and calls it over TLS.
  auto co = client_options(client_tls("127.0.0.1"));
  co.registry.tls = client_tls("localhost", /*with_cert=*/true);
  auto client = tern::Client::create(co).value();
  auto calc = client->refer<Calculator>(registry_url, failfast()).value();
  ASSERT_TRUE(calc.reference()->wait_for_providers(5s));
  EXPECT_EQ(calc.call<&Calculator::add>(19, 23).value(), 42);
  EXPECT_EQ(calc.call<&Calculator::greet>("registry").value(), "hello, registry");

  // A registry client without a certificate learns nothing.
  tern::RegistryOptions no_cert;
  no_cert.tls = client_tls("localhost", /*with_cert=*/false);
  no_cert.request_timeout = 1000ms;
  auto reg = tern::create_registry_any(tern::Url::parse(registry_url).value(), no_cert).value();
  auto found = reg->lookup(kService);
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.status().code(), tern::StatusCode::kUnavailable) << found.status().to_string();
  EXPECT_TRUE(contains(found.status().message(), "TLS handshake")) << found.status().to_string();

  // A bad CA file for the registry client is an INVALID_ARGUMENT at creation.
  tern::RegistryOptions bad;
  bad.tls = client_tls();
  bad.tls.ca_file = pki().garbage;
  auto bad_reg = tern::create_registry_any(tern::Url::parse(registry_url).value(), bad);
  ASSERT_FALSE(bad_reg.has_value());
  EXPECT_EQ(bad_reg.status().code(), tern::StatusCode::kInvalidArgument) << bad_reg.status().to_string();

  provider.shutdown(0ms);
  ASSERT_TRUE(wait_until([&] { return registry.providers(kService).empty(); }));
  registry.shutdown();
}

}  // namespace
