// Process and runtime metrics on /metrics (issue #20): the process_* figures
// against what the test observes itself, a provider's connections and
// business pool, a consumer's connections and timeouts, errors by code on
// both sides, and `promtool check metrics` on live scrapes after real calls.
#include "tern/monitor/runtime_metrics.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "monitor_util.h"
#include "tern/monitor/process_metrics.h"
#include "test_services.h"
#include "wait_until.h"

namespace tern::monitor {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

std::map<std::string, double> scrape(const AdminServer& admin, std::string* text = nullptr) {
  auto r = http_get(admin.address(), "/metrics", milliseconds(2000));
  EXPECT_TRUE(r.has_value()) << r.status();
  if (!r) return {};
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string error;
  EXPECT_TRUE(montest::parse_prometheus(r->body, &samples, &types, &error)) << error << "\n" << r->body;
  if (text) *text = r->body;
  return samples;
}

// Runs `promtool check metrics` on `text`; returns its exit code and puts
// everything it printed in `output`.
int promtool_check(const std::string& text, std::string* output) {
  fs::path in = fs::temp_directory_path() / ("tern-metrics-" + std::to_string(::getpid()) + ".txt");
  fs::path out = in;
  out += ".out";
  std::ofstream(in) << text;
  int rc = std::system(("promtool check metrics < " + in.string() + " > " + out.string() + " 2>&1").c_str());
  std::ifstream o(out);
  output->assign(std::istreambuf_iterator<char>(o), std::istreambuf_iterator<char>());
  fs::remove(in);
  fs::remove(out);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(ProcessMetrics, ReadsWhatTheProcessObservesItself) {
  auto before = read_process_metrics();
  ASSERT_TRUE(before.has_value()) << before.status();
  int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  auto after = read_process_metrics();
  ::close(fd);
  ASSERT_TRUE(after.has_value());
  // Nothing else in this test opens descriptors (gtest runs the test alone).
  EXPECT_EQ(after->open_fds, before->open_fds + 1);
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(after->max_fds, limit.rlim_cur);
  EXPECT_GT(after->resident_memory_bytes, 1u << 20);  // a C++ test binary holds more than 1 MiB
  EXPECT_GE(after->virtual_memory_bytes, after->resident_memory_bytes);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(after->start_time_seconds, now + 1);
  EXPECT_GT(after->start_time_seconds, now - 3600);  // a test process is younger than an hour
  // CPU time grows with work done.
  volatile std::uint64_t x = 0;
  ASSERT_TRUE(testutil::wait_until([&] {
    for (int i = 0; i < 1000000; ++i) x = x + static_cast<std::uint64_t>(i);
    auto m = read_process_metrics();
    return m && m->cpu_seconds > before->cpu_seconds;
  }, milliseconds(10000), milliseconds(0)));
}

TEST(RuntimeMetrics, RenderSumsEqualSeriesAndGroupsFamilies) {
  std::vector<Sample> s;
  s.push_back({"b_total", MetricType::kCounter, "B.", {{"reason", "x"}}, 2});
  s.push_back({"a_things", MetricType::kGauge, "A.", {}, 1});
  s.push_back({"b_total", MetricType::kCounter, "B.", {{"reason", "x"}}, 3});
  s.push_back({"b_total", MetricType::kCounter, "B.", {{"reason", "y\"z"}}, 1});
  EXPECT_EQ(render_samples(s),
            "# HELP a_things A.\n# TYPE a_things gauge\na_things 1\n"
            "# HELP b_total B.\n# TYPE b_total counter\nb_total{reason=\"x\"} 5\nb_total{reason=\"y\\\"z\"} 1\n");
  CollectorSet set;
  {
    CollectorHandle h(&set, set.add([](std::vector<Sample>& out) { out.push_back({"c", MetricType::kGauge, "C.", {}, 7}); }));
    ASSERT_EQ(set.collect().size(), 1u);
    EXPECT_EQ(set.collect()[0].value, 7);
  }
  EXPECT_TRUE(set.collect().empty());
}

class RuntimeMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_ = montest::start_monitored_provider("");
    ASSERT_TRUE(p_.provider);
    server_watch_ = watch_server(*p_.admin, p_.provider->server());
    ClientOptions co;
    co.io_threads = 1;
    auto admin = enable_admin(co, "127.0.0.1:0");
    ASSERT_TRUE(admin.has_value()) << admin.status();
    consumer_admin_ = *admin;
    client_ = std::make_unique<Client>(co);
    client_watch_ = watch_client(*consumer_admin_, *client_);
    calc_ = std::make_unique<Proxy<testsvc::Calculator>>(
        client_->refer<testsvc::Calculator>("direct://127.0.0.1:" + std::to_string(p_.provider->port())).value());
    labels_ = "{service=\"" + std::string(ServiceTraits<testsvc::Calculator>::name) + "\",method=\"";
  }
  void TearDown() override {
    client_watch_.reset();
    server_watch_.reset();
    calc_.reset();
    client_.reset();
    if (p_.provider) p_.provider->shutdown(milliseconds(0));
  }

  montest::MonitoredProvider p_;
  CollectorHandle server_watch_;
  std::shared_ptr<AdminServer> consumer_admin_;
  std::unique_ptr<Client> client_;
  CollectorHandle client_watch_;
  std::unique_ptr<Proxy<testsvc::Calculator>> calc_;
  std::string labels_;
};

TEST_F(RuntimeMetricsTest, PromtoolAcceptsLiveScrapesAfterRealCallsIncludingFailures) {
  for (int i = 0; i < 10; ++i) ASSERT_EQ(calc_->call<&testsvc::Calculator::add>(i, 1).value(), i + 1);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(calc_->call<&testsvc::Calculator::fail>(std::string("no")).status().code(), StatusCode::kInternal);
  }
  CallOptions quick;
  quick.timeout = milliseconds(50);
  ASSERT_EQ(calc_->with(quick).call<&testsvc::Calculator::sleep_ms>(1000).status().code(),
            StatusCode::kDeadlineExceeded);

  // The provider counts a call just after answering it, and the timed-out
  // call ends there only when its handler returns: poll for both.
  std::map<std::string, double> provider;
  ASSERT_TRUE(testutil::wait_until([&] {
    provider = scrape(*p_.admin);
    auto it = provider.find("tern_provider_calls_total" + labels_ + "sleep_ms\"}");
    return it != provider.end() && it->second == 1;
  }, milliseconds(10000)));
  std::string provider_text, consumer_text;
  provider = scrape(*p_.admin, &provider_text);
  auto consumer = scrape(*consumer_admin_, &consumer_text);

  // Process metrics: one process, so both endpoints report it.
  for (auto* m : {&provider, &consumer}) {
    EXPECT_GT(m->at("process_resident_memory_bytes"), 0);
    EXPECT_GT(m->at("process_virtual_memory_bytes"), 0);
    EXPECT_GT(m->at("process_open_fds"), 0);
    EXPECT_GT(m->at("process_max_fds"), 0);
    EXPECT_GT(m->at("process_start_time_seconds"), 1.6e9);
    EXPECT_GE(m->at("process_cpu_seconds_total"), 0);
  }
  // Provider: one consumer connection, 14 requests, a fixed pool of 2.
  EXPECT_EQ(provider.at("tern_provider_open_connections"), 1);
  EXPECT_EQ(provider.at("tern_provider_requests_received_total"), 14);
  EXPECT_EQ(provider.at("tern_provider_pool_threads"), 2);
  EXPECT_EQ(provider.at("tern_provider_pool_queued_requests"), 0);
  EXPECT_EQ(provider.at("tern_provider_rejected_total{reason=\"overload\"}"), 0);
  EXPECT_EQ(provider.at("tern_provider_rejected_total{reason=\"method_limit\"}"), 0);
  EXPECT_EQ(provider.at("tern_provider_shed_total"), 0);
  EXPECT_EQ(provider.at("tern_provider_errors_total" + labels_ + "fail\",code=\"INTERNAL\"}"), 3);
  // Consumer: one provider connection, the errors by code it saw.
  EXPECT_EQ(consumer.at("tern_consumer_open_connections"), 1);
  EXPECT_EQ(consumer.at("tern_consumer_pending_calls"), 0);
  EXPECT_EQ(consumer.at("tern_consumer_timeouts_total"), 1);
  EXPECT_EQ(consumer.at("tern_consumer_errors_total" + labels_ + "fail\",code=\"INTERNAL\"}"), 3);
  EXPECT_EQ(consumer.at("tern_consumer_errors_total" + labels_ + "sleep_ms\",code=\"DEADLINE_EXCEEDED\"}"), 1);
  EXPECT_EQ(consumer.at("tern_consumer_calls_total" + labels_ + "add\"}"), 10);

  for (auto* text : {&provider_text, &consumer_text}) {
    std::string output;
    EXPECT_EQ(promtool_check(*text, &output), 0) << output << "\n" << *text;
    EXPECT_EQ(output, "") << "promtool lint problems:\n" << output;
  }
}

TEST_F(RuntimeMetricsTest, BusinessPoolDepthAndActiveThreadsWhileHandlersBlock) {
  // Two business threads (start_monitored_provider): four slow calls keep
  // both busy and queue two.
  // The queued two end after two handler runs: give them far more than the
  // default 3 s timeout.
  CallOptions patient;
  patient.timeout = milliseconds(20000);
  std::vector<Future<std::string>> calls;
  for (int i = 0; i < 4; ++i) calls.push_back(calc_->with(patient).async_call<&testsvc::Calculator::sleep_ms>(1500));
  std::map<std::string, double> m;
  EXPECT_TRUE(testutil::wait_until([&] {
    m = scrape(*p_.admin);
    return m["tern_provider_pool_active_threads"] == 2 && m["tern_provider_pool_queued_requests"] == 2;
  }, milliseconds(5000)))
      << "active " << m["tern_provider_pool_active_threads"] << " queued " << m["tern_provider_pool_queued_requests"];
  auto c = scrape(*consumer_admin_);
  EXPECT_EQ(c.at("tern_consumer_pending_calls"), 4);
  for (auto& f : calls) EXPECT_EQ(f.get().value(), "slept 1500");
  ASSERT_TRUE(testutil::wait_until([&] {
    m = scrape(*p_.admin);
    return m["tern_provider_pool_active_threads"] == 0 && m["tern_provider_pool_queued_requests"] == 0;
  }));
}

}  // namespace
}  // namespace tern::monitor
