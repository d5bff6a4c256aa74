// Dynamic configuration kept by the embedded registry (`tern registry`,
// src/registry/embedded/registry_protocol.h): the storage contract of
// tern/registry.h (config_store_checks.h), through the plain backend and
// through CachingRegistry (cache_file set); a restarted registry (documents
// are kept in memory, so lost) is watched again; a registry older than the
// configuration methods answers UNIMPLEMENTED.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "config_store_checks.h"
#include "tern/provider.h"
#include "tern/registry.h"
#include "tern/registry_server.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using cfgtest::ConfigLog;
using testutil::wait_until;

namespace {

constexpr auto kHeartbeat = 300ms;

std::unique_ptr<tern::RegistryServer> start_registry(std::uint16_t port = 0) {
  tern::RegistryServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  o.heartbeat_interval = kHeartbeat;
  auto r = std::make_unique<tern::RegistryServer>(o);
  tern::Status s = r->start();
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return r;
}

std::shared_ptr<tern::Registry> connect(std::uint16_t port, const std::string& cache_file = "") {
  tern::RegistryOptions o;
  o.heartbeat_interval = kHeartbeat;
  o.initial_backoff = 50ms;
  o.max_backoff = 500ms;
  o.request_timeout = 2000ms;
  o.cache_file = cache_file;
  auto reg = tern::create_registry_any(tern::Url::parse("tern://127.0.0.1:" + std::to_string(port)).value(), o);
  EXPECT_TRUE(reg.has_value()) << reg.status().to_string();
  return reg.has_value() ? *reg : nullptr;
}

TEST(EmbeddedConfigStore, RoundTripWatchPersistenceAndUnwatch) {
  auto server = start_registry();
  const std::uint16_t port = server->port();
  cfgtest::check_round_trip([port] { return connect(port); }, "Calculator");
}

TEST(EmbeddedConfigStore, ThroughTheCachingRegistry) {
  auto server = start_registry();
  const std::uint16_t port = server->port();
  const std::string cache = ::testing::TempDir() + "tern_cfg_cache_" + std::to_string(::getpid());
  cfgtest::check_round_trip([port, cache] { return connect(port, cache); }, "Calculator");
  std::remove(cache.c_str());
}

TEST(EmbeddedConfigStore, EmptyServiceIsInvalid) {
  auto server = start_registry();
  auto reg = connect(server->port());
  ASSERT_TRUE(reg);
  cfgtest::check_empty_service_rejected(*reg);
}

// The registry restarts on the same port: its documents are gone (memory
// only, docs/registries.md), the watcher re-watches by itself and is told
// (revision 0), and later changes on the new registry reach it.
TEST(EmbeddedConfigStore, RestartedRegistryIsWatchedAgain) {
  auto server = start_registry();
  const std::uint16_t port = server->port();
  auto watcher = connect(port);
  ASSERT_TRUE(watcher);
  ConfigLog log;
  auto watch = watcher->watch_config("Echo", log.listener());
  ASSERT_TRUE(watch.has_value()) << watch.status().to_string();
  std::uint64_t before_restart = 0;
  {
    auto writer = connect(port);
    ASSERT_TRUE(writer->set_config("Echo", "weight = 5\n").is_ok());
    auto doc = writer->get_config("Echo");
    ASSERT_TRUE(doc.has_value());
    before_restart = doc->revision;
    ASSERT_TRUE(log.wait_for({"weight = 5\n", doc->revision})) << cfgtest::print(log.docs());
  }

  server->shutdown();
  server.reset();
  server = start_registry(port);
  ASSERT_EQ(server->port(), port);

  ASSERT_TRUE(log.wait_for({"", 0}, 15s)) << "the lost document after the restart: " << cfgtest::print(log.docs());
  auto writer = connect(port);
  ASSERT_TRUE(writer->set_config("Echo", "weight = 7\n").is_ok());
  auto doc = writer->get_config("Echo");
  ASSERT_TRUE(doc.has_value());
  EXPECT_GT(doc->revision, before_restart) << "revisions grow across a registry restart too";
  EXPECT_TRUE(log.wait_for({"weight = 7\n", doc->revision})) << cfgtest::print(log.docs());
  watcher->unwatch_config(*watch);
}

// A Tern server answering as tern.Registry without the configuration
// methods (a `tern registry` older than them) gives UNIMPLEMENTED.
struct OldRegistryApi {
  virtual ~OldRegistryApi() = default;
  virtual int heartbeat() = 0;
};
struct OldRegistry final : OldRegistryApi {
  int heartbeat() override { return 0; }
};

}  // namespace

TERN_SERVICE_NAMED(OldRegistryApi, "tern.Registry", heartbeat)

namespace {

TEST(EmbeddedConfigStore, AnOlderRegistryAnswersUnimplemented) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  tern::Server old(so);
  ASSERT_TRUE(old.expose<OldRegistryApi>(std::make_shared<OldRegistry>()).is_ok());
  ASSERT_TRUE(old.start().is_ok());
  auto reg = connect(old.port());
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->set_config("Echo", "x").code(), tern::StatusCode::kUnimplemented);
  EXPECT_EQ(reg->remove_config("Echo").code(), tern::StatusCode::kUnimplemented);
  auto get = reg->get_config("Echo");
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.status().code(), tern::StatusCode::kUnimplemented) << get.status().to_string();
  auto watch = reg->watch_config("Echo", [](const std::string&, const tern::ConfigDocument&) {});
  ASSERT_FALSE(watch.has_value());
  EXPECT_EQ(watch.status().code(), tern::StatusCode::kUnimplemented) << watch.status().to_string();
  reg.reset();
  old.shutdown(0ms);
}

}  // namespace
