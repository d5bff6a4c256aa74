// The dashboard's write actions end to end over HTTP (docs/monitoring.md
// "Changing providers from the dashboard"): an embedded registry, two
// providers and a consumer in this process, the real `tern monitor` binary
// as a subprocess. Without --auth-token-file every write is 403; with it a
// request needs the bearer token (401 otherwise), bad requests are 400 and
// store nothing, and a good one changes the service's configuration document
// in the registry, the state JSON and where the consumer's calls go (exact
// counts from the providers' add() counters).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "registry_embedded/registry_test_util.h"
#include "subprocess.h"
#include "tern/client.h"
#include "tern/monitor/http.h"
#include "tern/registry_server.h"
#include "wait_until.h"

namespace tern::monitor {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testutil::wait_until;
namespace fs = std::filesystem;

const std::string kToken = "s3cret-token";

class DashboardOverride : public ::testing::Test {
 protected:
  void SetUp() override {
    RegistryServerOptions ro;
    ro.listen = "127.0.0.1:0";
    registry_ = std::make_unique<RegistryServer>(ro);
    ASSERT_TRUE(registry_->start().is_ok());
    registry_url_ = "tern://127.0.0.1:" + std::to_string(registry_->port());
    a_ = std::make_unique<regtest::InProcessProvider>(registry_url_);
    b_ = std::make_unique<regtest::InProcessProvider>(registry_url_);
    ASSERT_TRUE(a_->status.is_ok() && b_->status.is_ok());

    ClientOptions co;
    co.io_threads = 1;
    client_ = std::make_unique<Client>(co);
    ReferenceOptions o;
    // Smooth weighted rotation: exact counts per window of total weight.
    o.load_balance = "weighted_round_robin";
    o.warmup = 0ms;
    auto p = client_->refer<testsvc::Calculator>(registry_url_, std::move(o));
    ASSERT_TRUE(p.has_value()) << p.status().to_string();
    calc_ = std::move(p).value();
    ASSERT_TRUE(wait_until([&] { return calc_.reference()->providers().size() == 2; }, 5s));

    // What the test reads the registry with (the monitor has its own).
    auto url = Url::parse(registry_url_).value();
    reader_ = create_registry_any(url, RegistryOptions{}).value();
  }

  void TearDown() override {
    monitor_.reset();
    if (a_) a_->provider->shutdown(0ms);
    if (b_) b_->provider->shutdown(0ms);
  }

  // Starts `tern monitor` (with a token file when `token` is not empty) and
  // waits until its state lists both providers.
  void start_monitor(const std::string& token) {
    std::vector<std::string> argv{TERN_BINARY_DIR "/bin/tern", "monitor", "--registry", registry_url_,
                                  "--listen", "127.0.0.1:0", "--interval", "100"};
    if (!token.empty()) {
      token_file_ = fs::temp_directory_path() / ("tern-dash-token-" + std::to_string(::getpid()));
      std::ofstream(token_file_) << "  " << token << "\n";  // surrounding whitespace is not part of it
      argv.insert(argv.end(), {"--auth-token-file", token_file_.string()});
    }
    monitor_ = std::make_unique<testutil::Subprocess>(argv);
    std::string address;
    for (int i = 0; i < 5 && address.empty(); ++i) {
      std::string line = monitor_->read_line();
      auto at = line.find("dashboard at http://");
      if (at != std::string::npos) address = line.substr(at + 20, line.size() - at - 21);
    }
    ASSERT_FALSE(address.empty()) << "tern monitor did not print its address";
    hp_ = parse_host_port(address).value();
    ASSERT_TRUE(wait_until([&] { return service_state()["providers"].size() == 2; }, 10s)) << state_.dump(2);
    if (!token_file_.empty()) fs::remove(token_file_);  // read at start
  }

  // This service's entry of /api/state (null when absent).
  json service_state() {
    auto r = http_get(hp_, "/api/state", 1000ms);
    if (!r || r->status != 200) return nullptr;
    state_ = json::parse(r->body);
    for (auto& s : state_["services"]) {
      if (s["name"] == svc_) return s;
    }
    return nullptr;
  }

  json provider_row(const std::string& address) {
    json s = service_state();
    if (s.is_null()) return nullptr;
    for (auto& p : s["providers"]) {
      if (p["address"] == address) return p;
    }
    return nullptr;
  }

  HttpResponse post(const json& body, const std::string& authorization = "Bearer " + kToken) {
    std::map<std::string, std::string> headers;
    if (!authorization.empty()) headers["Authorization"] = authorization;
    auto r = http_post(hp_, "/api/providers/override", body.dump(), headers, "application/json", 5000ms);
    EXPECT_TRUE(r.has_value()) << r.status().to_string();
    return r.has_value() ? *r : HttpResponse{0, "", "", {}};
  }

  ConfigDocument stored() { return reader_->get_config(svc_).value(); }

  // `n` calls of add(); returns the add() calls A and B served meanwhile.
  std::pair<int, int> calls(int n) {
    int a0 = a_->impl->adds, b0 = b_->impl->adds;
    for (int i = 0; i < n; ++i) {
      auto r = calc_.call<&testsvc::Calculator::add>(i, 1);
      EXPECT_TRUE(r.has_value()) << r.status().to_string();
    }
    return {a_->impl->adds - a0, b_->impl->adds - b0};
  }

  std::string error_of(const HttpResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "(no error in " + r.body + ")";
  }

  const std::string svc_{ServiceTraits<testsvc::Calculator>::name};
  std::unique_ptr<RegistryServer> registry_;
  std::string registry_url_;
  std::unique_ptr<regtest::InProcessProvider> a_, b_;
  std::unique_ptr<Client> client_;
  Proxy<testsvc::Calculator> calc_;
  std::shared_ptr<Registry> reader_;
  std::unique_ptr<testutil::Subprocess> monitor_;
  fs::path token_file_;
  HostPort hp_;
  json state_;
};

TEST_F(DashboardOverride, WithoutATokenFileEveryWriteIs403) {
  start_monitor("");
  auto info = http_get(hp_, "/api/info", 1000ms);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(json::parse(info->body)["writable"], false);
  for (const std::string& auth : {std::string(), "Bearer " + kToken, std::string("Bearer anything")}) {
    auto r = post({{"service", svc_}, {"address", a_->address()}, {"disabled", true}}, auth);
    EXPECT_EQ(r.status, 403) << auth;
    EXPECT_EQ(error_of(r), "read-only dashboard: start tern monitor with --auth-token-file");
  }
  EXPECT_EQ(stored().revision, 0u);
  // The state shows the (absent) document and no overrides.
  json s = service_state();
  EXPECT_EQ(s["config"]["revision"], 0);
  EXPECT_EQ(s["config"]["text"], "");
  EXPECT_EQ(s["config"]["summary"], "nothing");
  EXPECT_EQ(s["config"]["error"], "");
  for (auto& p : s["providers"]) {
    EXPECT_TRUE(p["override_weight"].is_null());
    EXPECT_EQ(p["disabled"], false);
  }
}

TEST_F(DashboardOverride, TokenIsRequiredAndBadRequestsStoreNothing) {
  start_monitor(kToken);
  auto info = http_get(hp_, "/api/info", 1000ms);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(json::parse(info->body)["writable"], true);
  const json disable_a = {{"service", svc_}, {"address", a_->address()}, {"disabled", true}};
  for (const std::string& auth : {std::string(), std::string("Bearer wrong"), std::string("Bearer " + kToken + "x"),
                                  std::string("Basic " + kToken), std::string("Bearer ")}) {
    auto r = post(disable_a, auth);
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_EQ(r.headers["www-authenticate"].rfind("Bearer", 0), 0u) << auth;
  }
  EXPECT_EQ(error_of(post(disable_a, "")), "missing Authorization: Bearer <token> (the --auth-token-file token)");
  EXPECT_EQ(error_of(post(disable_a, "Bearer wrong")), "wrong token");

  auto expect_400 = [&](const std::string& raw_body, const std::string& message) {
    auto r = http_post(hp_, "/api/providers/override", raw_body, {{"Authorization", "Bearer " + kToken}});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400) << raw_body;
    EXPECT_EQ(error_of(*r), message) << raw_body;
  };
  const std::string a = a_->address();
  expect_400("{not json", "the body is not a JSON object");
  expect_400("[1]", "the body is not a JSON object");
  expect_400(json({{"service", "NoSuch"}, {"address", a}, {"disabled", true}}).dump(),
             "unknown service \"NoSuch\" (not in the registry's list)");
  expect_400(json({{"service", svc_}, {"address", "nohost"}, {"disabled", true}}).dump(),
             "\"nohost\" is not a provider address host:port");
  expect_400(json({{"service", svc_}, {"address", "127.0.0.1:1"}, {"disabled", true}}).dump(),
             "\"127.0.0.1:1\" is neither a provider of " + svc_ + " nor in its configuration");
  expect_400(json({{"service", svc_}, {"address", a}, {"weight", 1000001}}).dump(),
             "weight 1000001 is out of range [0, 1000000]");
  expect_400(json({{"service", svc_}, {"address", a}, {"weight", -1}}).dump(), "weight -1 is out of range [0, 1000000]");
  expect_400(json({{"service", svc_}, {"address", a}, {"weight", "5"}}).dump(), "weight: expected a whole number");
  expect_400(json({{"service", svc_}, {"address", a}, {"weight", 2.5}}).dump(), "weight: expected a whole number");
  expect_400(json({{"service", svc_}, {"address", a}, {"disabled", "yes"}}).dump(), "disabled: expected true or false");
  expect_400(json({{"service", svc_}, {"address", a}, {"clear", true}, {"weight", 1}}).dump(),
             "clear removes the provider's overrides: give it alone");
  expect_400(json({{"service", svc_}, {"address", a}}).dump(), "nothing to change: give weight, disabled or clear");
  expect_400(json({{"address", a}, {"disabled", true}}).dump(), "service: missing");
  expect_400(json({{"service", svc_}, {"address", a}, {"timeout", 5}}).dump(),
             "unknown field \"timeout\" (known: service, address, weight, disabled, clear)");
  EXPECT_EQ(stored().revision, 0u) << "a refused request stored something";

  // The HTTP layer's own refusals: GET on the POST route, a body over the limit.
  auto get = http_get(hp_, "/api/providers/override", 1000ms);
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->headers["allow"], "POST");
  auto big = http_post(hp_, "/api/providers/override", std::string(100 * 1024, ' '),
                       {{"Authorization", "Bearer " + kToken}});
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->status, 413);
}

TEST_F(DashboardOverride, DisableReweightAndClearChangeWhereCallsGo) {
  start_monitor(kToken);
  const std::string a = a_->address(), b = b_->address();
  EXPECT_EQ(calls(20), std::make_pair(10, 10));  // equal weights: strict alternation

  // Disable A: the registry's document says so, the state shows it, and
  // once the consumer applied that revision every call goes to B.
  auto r = post({{"service", svc_}, {"address", a}, {"disabled", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  const std::uint64_t rev1 = body["revision"];
  EXPECT_GT(rev1, 0u);
  EXPECT_EQ(body["summary"], "providers " + a + " disabled");
  ConfigDocument doc = stored();
  EXPECT_EQ(doc.revision, rev1);
  EXPECT_EQ(doc.text, "providers:\n  \"" + a + "\": {disabled: true}\n");
  EXPECT_EQ(body["text"], doc.text);
  json row = provider_row(a);
  EXPECT_EQ(row["disabled"], true) << row.dump();
  EXPECT_TRUE(row["override_weight"].is_null());
  EXPECT_EQ(provider_row(b)["disabled"], false);
  json s = service_state();
  EXPECT_EQ(s["config"]["revision"], rev1);
  EXPECT_EQ(s["config"]["summary"], "providers " + a + " disabled");
  ASSERT_TRUE(wait_until([&] { return calc_.reference()->config_revision() == rev1; }, 5s));
  EXPECT_EQ(calls(20), std::make_pair(0, 20));

  // Re-enable A with weight 300 (B keeps its URL's 100): 3 of every 4 calls.
  r = post({{"service", svc_}, {"address", a}, {"disabled", false}, {"weight", 300}});
  ASSERT_EQ(r.status, 200) << r.body;
  body = json::parse(r.body);
  const std::uint64_t rev2 = body["revision"];
  EXPECT_GT(rev2, rev1);
  EXPECT_EQ(body["summary"], "providers " + a + " weight 300");
  EXPECT_EQ(stored().text, "providers:\n  \"" + a + "\": {weight: 300}\n");
  ASSERT_TRUE(wait_until([&] {
    json p = provider_row(a);
    return !p.is_null() && p["override_weight"] == 300 && p["disabled"] == false;
  }, 5s)) << state_.dump(2);
  ASSERT_TRUE(wait_until([&] { return calc_.reference()->config_revision() == rev2; }, 5s));
  EXPECT_EQ(calls(40), std::make_pair(30, 10));

  // Weight 0 on B: never picked.
  r = post({{"service", svc_}, {"address", b}, {"weight", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::uint64_t rev3 = json::parse(r.body)["revision"];
  const std::string line_a = "  \"" + a + "\": {weight: 300}\n", line_b = "  \"" + b + "\": {weight: 0}\n";
  EXPECT_EQ(stored().text, "providers:\n" + (a < b ? line_a + line_b : line_b + line_a));  // by address
  ASSERT_TRUE(wait_until([&] { return calc_.reference()->config_revision() == rev3; }, 5s));
  EXPECT_EQ(calls(20), std::make_pair(20, 0));

  // Clear both: the document overrides nothing and the calls split evenly
  // again. (Each change of the set of candidates resets the rotation, which
  // is what makes every count above exact.)
  for (const auto& address : {a, b}) {
    r = post({{"service", svc_}, {"address", address}, {"clear", true}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  body = json::parse(r.body);
  const std::uint64_t rev5 = body["revision"];
  EXPECT_EQ(body["summary"], "nothing");
  EXPECT_EQ(stored().text, "{}\n");
  ASSERT_TRUE(wait_until([&] {
    json p = provider_row(b);
    return !p.is_null() && p["override_weight"].is_null() && service_state()["config"]["revision"] == rev5;
  }, 5s)) << state_.dump(2);
  ASSERT_TRUE(wait_until([&] { return calc_.reference()->config_revision() == rev5; }, 5s));
  EXPECT_EQ(calls(40), std::make_pair(20, 20));
}

// A stored document that does not parse (written around `tern config set`'s
// validation): the state says why, and the dashboard refuses to rewrite it
// (409) rather than drop what it cannot read.
TEST_F(DashboardOverride, AnUnparsableStoredDocumentIsShownAndNotOverwritten) {
  start_monitor(kToken);
  ASSERT_TRUE(reader_->set_config(svc_, "retries: many\n").is_ok());
  const std::uint64_t rev = stored().revision;
  ASSERT_TRUE(wait_until([&] {
    json s = service_state();
    return !s.is_null() && s["config"]["revision"] == rev;
  }, 5s)) << state_.dump(2);
  json config = service_state()["config"];
  EXPECT_EQ(config["error"], "does not parse: line 1: retries: \"many\" is not a whole number");
  EXPECT_EQ(config["summary"], "");
  EXPECT_EQ(config["text"], "retries: many\n");
  auto r = post({{"service", svc_}, {"address", a_->address()}, {"disabled", true}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(error_of(r), "the stored document of " + svc_ + " (revision " + std::to_string(rev) +
                             ") does not parse here: line 1: retries: \"many\" is not a whole number; fix it with "
                             "`tern config set`");
  EXPECT_EQ(stored().revision, rev);
  EXPECT_EQ(stored().text, "retries: many\n");

  // Bytes that are not UTF-8 (a Latin-1 comment) do not break /api/state:
  // they show as U+FFFD.
  ASSERT_TRUE(reader_->set_config(svc_, "# caf\xe9\n").is_ok());
  const std::uint64_t latin1 = stored().revision;
  ASSERT_TRUE(wait_until([&] {
    json s = service_state();
    return !s.is_null() && s["config"]["revision"] == latin1;
  }, 5s)) << state_.dump(2);
  EXPECT_EQ(service_state()["config"]["text"], "# caf\ufffd\n");
}

}  // namespace
}  // namespace tern::monitor
