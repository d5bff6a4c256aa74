// The `tern monitor` dashboard end to end, in a real browser: an embedded
// registry and two providers with admin endpoints (in-process), the `tern`
// binary running `monitor` against them, and headless Chromium loading the
// page. The dumped DOM must list both providers as up, hold charts with
// data points, and show the rules in force (a configuration document stored
// in the registry) with the provider's override; a screenshot is kept under the build dir
// (monitor_dashboard.png) for humans.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "monitor_util.h"
#include "subprocess.h"
#include "tern/client.h"
#include "tern/monitor/http.h"
#include "tern/provider.h"
#include "tern/registry_server.h"
#include "test_services.h"
#include "wait_until.h"

namespace tern::monitor {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

// Runs a shell command, returns its stdout.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

std::string chromium_flags(const std::string& profile) {
  return " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
         " --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir=" + profile +
         " --virtual-time-budget=5000 --window-size=1280,1600";
}

TEST(Dashboard, ChromiumSeesProvidersAndChartData) {
  std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (scripts/deps.sh installs it)";

  RegistryServerOptions ro;
  ro.listen = "127.0.0.1:0";
  ro.heartbeat_interval = milliseconds(500);
  RegistryServer registry(ro);
  ASSERT_TRUE(registry.start().is_ok());
  std::string reg_url = "tern://127.0.0.1:" + std::to_string(registry.port());
  auto p1 = montest::start_monitored_provider(reg_url, 100);
  auto p2 = montest::start_monitored_provider(reg_url, 300);
  ASSERT_TRUE(p1.provider && p2.provider);

  // Load: adds and a few failures through the registry, both providers.
  ClientOptions co;
  co.io_threads = 1;
  co.application = "dashboard-test";  // the consumer view shows it
  co.registry.heartbeat_interval = milliseconds(500);  // the registry's: it expires silent consumers
  Client client(co);
  auto calc = client.refer<testsvc::Calculator>(reg_url).value();
  std::atomic<bool> stop{false};
  std::thread load([&] {
    int i = 0;
    while (!stop) {
      (void)calc.call<&testsvc::Calculator::add>(i, 1);
      if (++i % 10 == 0) (void)calc.call<&testsvc::Calculator::fail>(std::string("x"));
      std::this_thread::sleep_for(milliseconds(2));
    }
  });

  testutil::Subprocess monitor({TERN_BINARY_DIR "/bin/tern", "monitor", "--registry", reg_url, "--listen",
                                "127.0.0.1:0", "--interval", "300"});
  std::string address;
  for (int i = 0; i < 5 && address.empty(); ++i) {
    std::string line = monitor.read_line();
    auto at = line.find("dashboard at http://");
    if (at != std::string::npos) address = line.substr(at + 20, line.size() - at - 21);
  }
  ASSERT_FALSE(address.empty()) << "tern monitor did not print its address";
  auto hp = parse_host_port(address).value();
  auto get_state = [&](nlohmann::json* out) {
    auto r = http_get(hp, "/api/state", milliseconds(1000));
    if (!r || r->status != 200) return false;
    *out = nlohmann::json::parse(r->body);
    return true;
  };

  // A third provider, in its own process, with an admin endpoint: once the
  // monitor sees it up, SIGKILL it. The event log must say it expired.
  auto doomed = std::make_unique<testutil::Subprocess>(std::vector<std::string>{
      TERN_BINARY_DIR "/bin/tern_test_provider", "--registry", reg_url, "--heartbeat", "300", "--admin", "1"});
  const int doomed_port = doomed->wait_for_port();
  ASSERT_GT(doomed_port, 0);
  const std::string doomed_address = "127.0.0.1:" + std::to_string(doomed_port);
  nlohmann::json seen;
  auto has_event = [&](const std::string& kind) {
    if (!get_state(&seen)) return false;
    for (auto& e : seen["events"]) {
      if (e["kind"] == kind && e["address"] == doomed_address) return true;
    }
    return false;
  };
  auto doomed_up = [&] {
    if (!get_state(&seen)) return false;
    for (auto& s : seen["services"]) {
      for (auto& p : s["providers"]) {
        if (p["address"] == doomed_address && p["status"] == "up") return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(testutil::wait_until(doomed_up, milliseconds(10000))) << seen.dump(2);
  EXPECT_TRUE(has_event("joined")) << seen["events"].dump(2);
  doomed->kill(SIGKILL);
  ASSERT_TRUE(testutil::wait_until([&] { return has_event("expired"); }, milliseconds(10000)))
      << seen["events"].dump(2);
  EXPECT_FALSE(has_event("left")) << "a killed provider is not a graceful leave";

  // Wait until the monitor has both providers up and a few points of data.
  const std::string svc(ServiceTraits<testsvc::Calculator>::name);
  bool ready = false;
  nlohmann::json state;
  for (int i = 0; i < 100 && !ready; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    auto r = http_get(hp, "/api/state", milliseconds(1000));
    if (!r || r->status != 200) continue;
    state = nlohmann::json::parse(r->body);
    for (auto& s : state["services"]) {
      if (s["name"] != svc) continue;
      int up = 0;
      for (auto& p : s["providers"]) up += p["status"] == "up";
      std::size_t points = 0;
      for (auto& m : s["methods"]) {
        if (m["name"] == "add") {
          for (auto& pt : m["series"]) points += pt["qps"].get<double>() > 0;
        }
      }
      ready = up == 2 && points >= 3;
    }
  }
  ASSERT_TRUE(ready) << state.dump(2);

  // The rules in force: a document stored in the registry, as `tern config
  // set` would, shows in the state (and below, in the page).
  const std::string p1_address = "127.0.0.1:" + std::to_string(p1.provider->port());
  const std::string document = "# slower canary\ntimeout: 750ms\nproviders:\n  \"" + p1_address + "\": {weight: 50}\n";
  auto writer = create_registry_any(Url::parse(reg_url).value()).value();
  ASSERT_TRUE(writer->set_config(svc, document).is_ok());
  const std::uint64_t revision = writer->get_config(svc).value().revision;
  ASSERT_TRUE(testutil::wait_until([&] {
    if (!get_state(&seen)) return false;
    for (auto& s : seen["services"]) {
      if (s["name"] == svc && s["config"].is_object() && s["config"]["revision"] == revision) return true;
    }
    return false;
  }, milliseconds(10000))) << seen.dump(2);

  std::string url = "http://" + address + "/";
  fs::path profile = fs::temp_directory_path() / ("tern-chromium-" + std::to_string(::getpid()));
  std::string dom = run("timeout 60 " + chromium + chromium_flags(profile.string()) + " --dump-dom " + url +
                        " 2>/dev/null");
  fs::path shot = fs::path(TERN_BINARY_DIR) / "monitor_dashboard.png";
  (void)run("timeout 60 " + chromium + chromium_flags(profile.string() + "-shot") + " --screenshot=" + shot.string() +
            " " + url + " >/dev/null 2>&1");
  stop = true;
  load.join();
  fs::remove_all(profile);
  fs::remove_all(profile.string() + "-shot");

  ASSERT_FALSE(dom.empty()) << "chromium produced no DOM";
  for (auto* p : {&p1, &p2}) {
    std::string row = "class=\"provider-row\" data-address=\"127.0.0.1:" + std::to_string(p->provider->port()) +
                      "\" data-status=\"up\"";
    EXPECT_NE(dom.find(row), std::string::npos) << row << "\n" << dom.substr(0, 4000);
  }
  EXPECT_NE(dom.find("data-service=\"" + svc + "\""), std::string::npos);
  // The event log shows the killed provider as expired.
  std::string expired = "class=\"event-row\" data-kind=\"expired\" data-address=\"" + doomed_address + "\"";
  EXPECT_NE(dom.find(expired), std::string::npos) << expired;
  // The consumer view: this process's reference, from the registry.
  std::string consumer = "class=\"consumer-row\" data-application=\"dashboard-test\" data-pid=\"" +
                         std::to_string(::getpid()) + "\"";
  EXPECT_NE(dom.find(consumer), std::string::npos) << consumer;
  // Errors by code: the load's failures are INTERNAL.
  EXPECT_NE(dom.find("data-code=\"INTERNAL\""), std::string::npos);
  // The column says what it measures.
  EXPECT_NE(dom.find("Last scrape"), std::string::npos);
  EXPECT_EQ(dom.find("Heartbeat age"), std::string::npos);
  EXPECT_NE(dom.find("data-method=\"add\""), std::string::npos);
  // The rules panel: revision, summary and the document's text as stored.
  EXPECT_NE(dom.find("class=\"rules\" data-revision=\"" + std::to_string(revision) + "\""), std::string::npos);
  const std::string summary = "<div class=\"rules-summary\">revision " + std::to_string(revision) +
                              " \u00b7 timeout 750ms, providers " + p1_address + " weight 50</div>";
  EXPECT_NE(dom.find(summary), std::string::npos) << summary;
  const std::string text = "<pre class=\"rules-text\"># slower canary\ntimeout: 750ms\nproviders:\n  \"" +
                           p1_address + "\": {weight: 50}\n</pre>";
  EXPECT_NE(dom.find(text), std::string::npos) << text;
  // The provider row shows the override and the buttons, disabled: this
  // monitor has no --auth-token-file.
  std::string p1_row = dom.substr(dom.find("class=\"provider-row\" data-address=\"" + p1_address + "\""));
  p1_row = p1_row.substr(0, p1_row.find("</tr>"));
  EXPECT_NE(p1_row.find("<td class=\"override\">weight 50</td>"), std::string::npos) << p1_row;
  EXPECT_NE(p1_row.find("data-action=\"disable\""), std::string::npos) << p1_row;
  EXPECT_NE(p1_row.find(" disabled=\"\""), std::string::npos) << p1_row;
  EXPECT_NE(dom.find("<span id=\"mode\">read-only</span>"), std::string::npos);
  int charts = 0, max_points = 0;
  const std::string points_attr = "data-points=\"";
  for (std::size_t at = dom.find(points_attr); at != std::string::npos; at = dom.find(points_attr, at + 1)) {
    std::size_t begin = at + points_attr.size();
    std::size_t end = dom.find('"', begin);
    std::string digits = dom.substr(begin, end - begin);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    ++charts;
    max_points = std::max(max_points, std::stoi(digits));
  }
  EXPECT_GE(charts, 2);
  EXPECT_GE(max_points, 3) << dom.substr(0, 4000);
  EXPECT_TRUE(fs::exists(shot) && fs::file_size(shot) > 1000) << "no screenshot at " << shot;
  p1.provider->shutdown(milliseconds(0));
  p2.provider->shutdown(milliseconds(0));
}

}  // namespace
}  // namespace tern::monitor
