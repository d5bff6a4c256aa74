// The `tern` binary's describe, call and bench against in-process providers:
// output and exit codes (the exit code is the status code number on error),
// over TLS and with token authentication too.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "tern/auth.h"
#include "tern/monitor/admin_server.h"
#include "tern/monitor/http.h"
#include "tern/provider.h"
#include "tern/registry_server.h"
#include "test_certs.h"
#include "test_services.h"

namespace {

using std::chrono::milliseconds;

struct Run {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `tern <args>` (args are shell-quoted by the caller), capturing stdout
// and stderr (a file: not a terminal). `env`: "NAME=value " assignments.
Run tern(const std::string& args, const std::string& env = "") {
  static int n = 0;
  std::string err_file = std::string(TERN_BINARY_DIR) + "/cli_test_stderr_" + std::to_string(::getpid()) + "_" +
                         std::to_string(n++) + ".txt";
  std::string cmd = env + "timeout 60 " + TERN_BINARY_DIR "/bin/tern " + args + " 2>" + err_file;
  Run r;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return r;
  char buf[4096];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, got);
  int st = pclose(f);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (FILE* e = std::fopen(err_file.c_str(), "r")) {
    while ((got = fread(buf, 1, sizeof buf, e)) > 0) r.err.append(buf, got);
    std::fclose(e);
  }
  std::remove(err_file.c_str());
  return r;
}

// Runs `tern <argv>` with stderr on a pseudo-terminal (as a person at a
// shell sees it) and stdout on a pipe. Run::err is what the terminal got.
Run tern_on_a_terminal(const std::vector<std::string>& argv) {
  Run r;
  int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return r;
  // This process keeps the terminal's other end open too, so reading the
  // master never fails before the child has opened it.
  int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  int out[2];
  if (slave < 0 || ::pipe(out) != 0) return r;
  std::vector<std::string> args{std::string(TERN_BINARY_DIR) + "/bin/tern"};
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0) _exit(126);
    ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(slave, 2);
    ::execv(cargs[0], cargs.data());
    _exit(127);
  }
  ::close(out[1]);
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
  char buf[4096];
  auto drain_terminal = [&] {
    for (ssize_t got; (got = ::read(master, buf, sizeof buf)) > 0;) r.err.append(buf, static_cast<std::size_t>(got));
  };
  // Until the child closes stdout (it exits), or 60 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {master, POLLIN, 0}};
    if (::poll(fds, 2, 100) < 0 && errno != EINTR) break;
    if (fds[1].revents & POLLIN) drain_terminal();
    if (fds[0].revents != 0) {
      ssize_t got = ::read(out[0], buf, sizeof buf);
      if (got > 0) r.out.append(buf, static_cast<std::size_t>(got));
      if (got == 0) break;
    }
  }
  if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  drain_terminal();
  ::close(out[0]);
  ::close(slave);
  ::close(master);
  return r;
}

std::string q(const std::string& s) { return "'" + s + "'"; }

// describe's methods and types of testsvc::Calculator (from tern.Reflection).
const std::string kCalculatorMethods =
    "methods (8):\n"
    "  add(int32, int32) -> int32\n"
    "  greet(string) -> string\n"
    "  midpoint(testsvc::Point, testsvc::Point) -> testsvc::Point\n"
    "  fail(string) -> int32\n"
    "  sleep_ms(int32) -> string\n"
    "  count(int32) -> void\n"
    "  total() -> int64\n"
    "  histogram(array<string>) -> map<string, int32>\n"
    "types:\n"
    "  struct testsvc::Point {\n"
    "    x: double\n"
    "    y: double\n"
    "    label: string\n"
    "    tags: array<int32>\n"
    "    z: optional<int32>\n"
    "  }\n";

// Waits until `registry` lists a provider of `service`.
bool wait_registered(tern::RegistryServer& registry, const std::string& service) {
  for (int i = 0; i < 250 && registry.providers(service).empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  return !registry.providers(service).empty();
}

// Any trace of bench's progress bar ("\r[#####.....]  50%  100 calls ..."):
// a carriage return, the bar's brackets, a percentage.
bool has_progress_bar(const std::string& text) {
  return text.find('\r') != std::string::npos || text.find("[#") != std::string::npos ||
         text.find("[.") != std::string::npos || text.find("%  ") != std::string::npos;
}

// The options of the suites' embedded registry: a free loopback port, 500 ms
// heartbeats, and `tls` (default: plain TCP).
tern::RegistryServerOptions registry_options(tern::TlsOptions tls = {}) {
  tern::RegistryServerOptions ro;
  ro.listen = "127.0.0.1:0";
  ro.heartbeat_interval = milliseconds(500);
  ro.tls = std::move(tls);
  return ro;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new tern::RegistryServer(registry_options());
    ASSERT_TRUE(registry_->start().is_ok());
    reg_url_ = "tern://127.0.0.1:" + std::to_string(registry_->port());
    tern::ProviderOptions po;
    po.server.listen = "127.0.0.1:0";
    po.server.io_threads = 1;
    po.server.worker_threads = 4;
    po.registry = reg_url_;
    po.registry_options.heartbeat_interval = milliseconds(500);
    admin_ = new std::shared_ptr<tern::monitor::AdminServer>(tern::monitor::enable_admin(po).value());
    provider_ = new tern::Provider(po);
    tern::ServiceOptions so;
    so.weight = 150;
    tern::monitor::announce_admin(so, **admin_);
    ASSERT_TRUE(provider_->expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>(), so).is_ok());
    ASSERT_TRUE(provider_->start().is_ok());
    addr_ = "127.0.0.1:" + std::to_string(provider_->port());
    svc_ = std::string(tern::ServiceTraits<testsvc::Calculator>::name);
    // Registration is asynchronous: wait until the registry lists it.
    for (int i = 0; i < 100 && registry_->providers(svc_).empty(); ++i) std::this_thread::sleep_for(milliseconds(20));
    ASSERT_FALSE(registry_->providers(svc_).empty());
  }
  static void TearDownTestSuite() {
    provider_->shutdown(milliseconds(0));
    delete provider_;
    delete admin_;
    registry_->shutdown();
    delete registry_;
  }

  static inline tern::RegistryServer* registry_ = nullptr;
  static inline tern::Provider* provider_ = nullptr;
  static inline std::shared_ptr<tern::monitor::AdminServer>* admin_ = nullptr;
  static inline std::string reg_url_, addr_, svc_;
};

TEST_F(CliTest, CallThroughRegistryPrintsTheJsonResult) {
  auto r = tern("call " + svc_ + ".add " + q("[40,2]") + " --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "42\n");
  r = tern("call " + svc_ + ".greet " + q("[\"tern\"]") + " --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"hello, tern\"\n");
}

TEST_F(CliTest, CallDirectAddressWithStructArguments) {
  auto r = tern("call " + svc_ + ".midpoint " +
                q(R"([{"x":0,"y":0,"label":"a","tags":[1]},{"x":2,"y":4,"label":"b","tags":[2]}])") + " --addr " +
                addr_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"x\":1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"label\":\"a|b\""), std::string::npos) << r.out;
}

TEST_F(CliTest, HandlerErrorIsInternal) {
  auto r = tern("call " + svc_ + ".fail " + q("[\"boom\"]") + " --addr " + addr_);
  EXPECT_EQ(r.exit_code, 13);  // INTERNAL
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("error: INTERNAL: boom"), std::string::npos) << r.err;
}

TEST_F(CliTest, UnknownServiceIsUnimplemented) {
  auto r = tern("call NoSuchService.add " + q("[1,2]") + " --registry " + reg_url_ + " --timeout 1000");
  EXPECT_EQ(r.exit_code, 12) << r.err;  // UNIMPLEMENTED
  EXPECT_NE(r.err.find("error: UNIMPLEMENTED: service 'NoSuchService' is not registered"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(svc_), std::string::npos) << "lists the registered services: " << r.err;
  r = tern("call NoSuchService.add " + q("[1,2]") + " --addr " + addr_);
  EXPECT_EQ(r.exit_code, 12) << r.err;
  EXPECT_NE(r.err.find("error: UNIMPLEMENTED: unknown service 'NoSuchService'"), std::string::npos) << r.err;
  r = tern("call " + svc_ + ".nope " + q("[1,2]") + " --addr " + addr_);
  EXPECT_EQ(r.exit_code, 12) << r.err;
  EXPECT_NE(r.err.find("unknown method"), std::string::npos) << r.err;
}

TEST_F(CliTest, MalformedJsonIsInvalidArgument) {
  auto r = tern("call " + svc_ + ".add " + q("[1,") + " --addr " + addr_);
  EXPECT_EQ(r.exit_code, 3) << r.err;  // INVALID_ARGUMENT
  EXPECT_NE(r.err.find("error: INVALID_ARGUMENT: malformed JSON arguments"), std::string::npos) << r.err;
  // Well-formed JSON of the wrong types: the provider says so, same code.
  r = tern("call " + svc_ + ".add " + q("[\"a\",2]") + " --addr " + addr_);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("error: INVALID_ARGUMENT"), std::string::npos) << r.err;
  r = tern("call add " + q("[1,2]") + " --addr " + addr_);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("expected <service>.<method>"), std::string::npos) << r.err;
}

TEST_F(CliTest, UnreachableIsUnavailable) {
  auto r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr 127.0.0.1:1 --timeout 1000");
  EXPECT_EQ(r.exit_code, 14) << r.err;  // UNAVAILABLE
  EXPECT_NE(r.err.find("error: UNAVAILABLE"), std::string::npos) << r.err;
  // An unreachable registry fails at once: a 2-minute --timeout is never
  // waited out (tern() kills the command after 60 s, exit 124).
  for (std::string cmd : {"call " + svc_ + ".add " + q("[1,2]"), "describe " + svc_}) {
    r = tern(cmd + " --registry tern://127.0.0.1:1 --timeout 120000");
    EXPECT_EQ(r.exit_code, 14) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find("error: UNAVAILABLE: registry tern://127.0.0.1:1 unreachable: cannot connect to 127.0.0.1:1"),
              std::string::npos)
        << r.err;
  }
}

// A provider's address given as the registry: UNIMPLEMENTED at once, saying
// it is not a registry (a 2-minute --timeout is never waited out).
TEST_F(CliTest, AProviderAddressIsNotARegistry) {
  auto r = tern("call " + svc_ + ".add " + q("[1,2]") + " --registry tern://" + addr_ + " --timeout 120000");
  EXPECT_EQ(r.exit_code, 12) << r.err;  // UNIMPLEMENTED
  EXPECT_NE(r.err.find("error: UNIMPLEMENTED: " + addr_ + " is not a Tern registry (it answered: unknown service "
                       "'tern.Registry'"),
            std::string::npos)
      << r.err;
}

TEST_F(CliTest, DescribeListsMethodsWithTheirTypesAndProviders) {
  // The types come from the provider's tern.Reflection service.
  const std::string& methods = kCalculatorMethods;
  auto r = tern("describe " + svc_ + " --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service " + svc_ + " (1 provider)\n" + methods + "providers:\n  " + addr_ +
                       "  weight=150  admin=" + (*admin_)->address().to_string() + "\n");
  r = tern("describe NoSuchService --registry " + reg_url_ + " --timeout 1000");
  EXPECT_EQ(r.exit_code, 12) << r.err;
  r = tern("describe " + svc_ + " --addr " + addr_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service " + svc_ + " at " + addr_ + "\n" + methods);
  r = tern("describe NoSuchService --addr " + addr_);
  EXPECT_EQ(r.exit_code, 12) << r.err;
  EXPECT_NE(r.err.find("error: UNIMPLEMENTED: unknown service 'NoSuchService'"), std::string::npos) << r.err;
}

TEST_F(CliTest, DescribeFallsBackToTheUrlMethodListWithoutReflection) {
  // A provider with reflection disabled (as an older provider): method names only.
  tern::ProviderOptions po;
  po.server.listen = "127.0.0.1:0";
  po.server.io_threads = 1;
  po.server.reflection = false;
  po.registry = reg_url_;
  po.registry_options.heartbeat_interval = milliseconds(500);
  tern::Provider legacy(po);
  tern::ServiceOptions so;
  so.name = "legacy.Calculator";
  ASSERT_TRUE(legacy.expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>(), so).is_ok());
  ASSERT_TRUE(legacy.start().is_ok());
  for (int i = 0; i < 100 && registry_->providers("legacy.Calculator").empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::string legacy_addr = "127.0.0.1:" + std::to_string(legacy.port());
  auto r = tern("describe legacy.Calculator --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("service legacy.Calculator (1 provider)\nmethods (8; argument and result types are not "
                       "published):\n  add\n  count\n  fail\n  greet\n  histogram\n  midpoint\n  sleep_ms\n  "
                       "total\nproviders:\n  " + legacy_addr + "  weight=100\n"),
            std::string::npos)
      << r.out;
  r = tern("describe legacy.Calculator --addr " + legacy_addr);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("service legacy.Calculator at " + legacy_addr + "\nmethods: not published"), std::string::npos)
      << r.out;
  r = tern("describe NoSuchService --addr " + legacy_addr);
  EXPECT_EQ(r.exit_code, 12) << r.err;
  legacy.shutdown(milliseconds(0));
}

TEST_F(CliTest, ReflectionServiceAnswersGenericJsonCalls) {
  auto r = tern("call tern.Reflection.list " + q("[]") + " --addr " + addr_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["services"].size(), 2u);
  EXPECT_EQ(doc["services"][0]["name"], "tern.Reflection");
  EXPECT_EQ(doc["services"][1]["name"], svc_);
  EXPECT_EQ(doc["services"][1]["methods"][0],
            nlohmann::json::parse(R"({"name":"add","args":[{"type":"int32"},{"type":"int32"}],"result":{"type":"int32"}})"));
  r = tern("call tern.Reflection.describe " + q("[\"" + svc_ + "\"]") + " --addr " + addr_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["types"]["testsvc::Point"]["fields"][3],
            nlohmann::json::parse(R"({"name":"tags","type":{"type":"array","items":{"type":"int32"}}})"));
}

TEST_F(CliTest, BenchPrintsAPercentileTable) {
  auto r = tern("bench " + svc_ + ".add " + q("[1,2]") + " -n 200 -c 4 --registry " + reg_url_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + ".add: 200 calls in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("concurrency 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  ok          200\n  errors      0\n"), std::string::npos) << r.out;
  double prev = 0;
  for (auto* row : {"min", "p50", "p90", "p99", "p99.9", "max"}) {
    // A line "  <row>   <number>" (no std::regex: GCC 12 warns inside <regex> under ASan).
    std::string head = std::string("\n  ") + row + " ";
    std::size_t at = r.out.find(head);
    ASSERT_NE(at, std::string::npos) << row << "\n" << r.out;
    std::size_t num = r.out.find_first_not_of(' ', at + head.size());
    std::size_t end = r.out.find('\n', num);
    ASSERT_TRUE(num != std::string::npos && end != std::string::npos) << row << "\n" << r.out;
    std::string text = r.out.substr(num, end - num);
    ASSERT_EQ(text.find_first_not_of("0123456789."), std::string::npos) << row << ": " << text;
    double v = std::stod(text);
    EXPECT_GE(v, prev) << row;
    prev = v;
  }
  EXPECT_GT(prev, 0);
  // stderr is a file here, not a terminal: no progress bar, nothing at all.
  EXPECT_FALSE(has_progress_bar(r.err)) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, BenchDrawsItsProgressBarOnlyOnATerminal) {
  auto r = tern_on_a_terminal({"bench", svc_ + ".add", "[1,2]", "-n", "200", "-c", "2", "--addr", addr_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + ".add: 200 calls in "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("\r[##############################] 100%  200 calls  "), std::string::npos) << r.err;
  EXPECT_FALSE(has_progress_bar(r.out)) << "the bar goes to stderr only: " << r.out;
  // --no-progress: not even on a terminal.
  r = tern_on_a_terminal({"bench", svc_ + ".add", "[1,2]", "-n", "50", "--no-progress", "--addr", addr_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + ".add: 50 calls in "), std::string::npos) << r.out;
  EXPECT_FALSE(has_progress_bar(r.err)) << r.err;
  // Errors still reach a non-terminal stderr.
  auto e = tern("bench " + svc_ + ".fail " + q("[\"x\"]") + " -n 10 --addr " + addr_);
  EXPECT_EQ(e.exit_code, 13) << e.err;
  EXPECT_EQ(e.err, "error: INTERNAL: x\n");
}

TEST_F(CliTest, BenchDurationAndErrors) {
  auto r = tern("bench " + svc_ + ".add " + q("[1,2]") + " -d 300ms -c 2 --no-progress --addr " + addr_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("p99"), std::string::npos);
  EXPECT_EQ(r.err, "");
  r = tern("bench " + svc_ + ".fail " + q("[\"x\"]") + " -n 10 --addr " + addr_);
  EXPECT_EQ(r.exit_code, 13) << r.err;  // the first call fails: nothing is measured
  EXPECT_NE(r.err.find("error: INTERNAL: x"), std::string::npos) << r.err;
}

// Numbers out of range are usage errors (exit above 100, the option named),
// never wrapped, clamped or replaced by a default.
TEST_F(CliTest, OutOfRangeNumbersAreUsageErrors) {
  struct Case {
    std::string args;
    std::string message;
  };
  std::vector<Case> cases = {
      {"bench " + svc_ + ".add " + q("[1,2]") + " -n -5 --addr " + addr_, "--count: Value -5 not in range 1 to"},
      {"bench " + svc_ + ".add " + q("[1,2]") + " -n 0 --addr " + addr_, "--count: Value 0 not in range 1 to"},
      {"call " + svc_ + ".add " + q("[1,2]") + " --timeout 0 --addr " + addr_, "--timeout: Value 0 not in range 1 to"},
      {"registry --heartbeat-interval -5", "--heartbeat-interval: Value -5 not in range 1 to"},
      {"monitor --interval 0", "--interval: Value 0 not in range 100 to"},
  };
  for (auto& c : cases) {
    auto r = tern(c.args);
    EXPECT_GT(r.exit_code, 100) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.out, "") << c.args;
  }
  // A run time that is not a positive finite number of at least 1 ms.
  for (std::string d : {"inf", "nan", "0.1ms", "-2s", "0"}) {
    auto r = tern("bench " + svc_ + ".add " + q("[1,2]") + " -d " + d + " --no-progress --addr " + addr_);
    EXPECT_EQ(r.exit_code, 3) << d << "\n" << r.err;  // INVALID_ARGUMENT
    EXPECT_NE(r.err.find("bad duration '" + d + "'"), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, ExistingCommandsStillWork) {
  auto r = tern("ls --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + " (1 provider)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("admin="), std::string::npos) << r.out;
  // The provider's port speaks both wires, and says so (docs/grpc.md).
  EXPECT_NE(r.out.find("protocols=tern%2Cgrpc"), std::string::npos) << r.out;
  r = tern("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (auto* cmd : {"registry", "ls", "watch", "monitor", "describe", "call", "bench"}) {
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  }
}

// `tern --config FILE`: the registry comes from the file (tern/config.h)
// unless --registry is given; a bad file is INVALID_ARGUMENT with file:line.
TEST_F(CliTest, ConfigFileNamesTheRegistry) {
  std::string path = std::string(TERN_BINARY_DIR) + "/cli_test_config_" + std::to_string(::getpid()) + ".yaml";
  auto write = [&](const std::string& text) {
    std::ofstream out(path);
    out << text;
  };
  write("registry: " + reg_url_ + "\n");
  auto r = tern("--config " + path + " ls");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + " (1 provider)"), std::string::npos) << r.out;
  r = tern("ls --config " + path);  // after the subcommand too
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + " (1 provider)"), std::string::npos) << r.out;
  r = tern("--config " + path + " call " + svc_ + ".add " + q("[40,2]"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "42\n");

  // A reference's own registry wins for call; --registry wins over the file.
  write("registry: tern://127.0.0.1:1\nreferences:\n  " + svc_ + ":\n    registry: direct://" + addr_ + "\n");
  r = tern("--config " + path + " call " + svc_ + ".add " + q("[1,2]"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n");
  r = tern("--config " + path + " ls --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + " (1 provider)"), std::string::npos) << r.out;

  write("registry: " + reg_url_ + "\nreferences:\n  " + svc_ + ":\n    timeout: soon\n");
  r = tern("--config " + path + " ls");
  EXPECT_EQ(r.exit_code, 3) << r.err;  // INVALID_ARGUMENT
  EXPECT_NE(r.err.find("error: INVALID_ARGUMENT: " + path + ":4: timeout: \"soon\" is not a duration"),
            std::string::npos)
      << r.err;
  std::remove(path.c_str());
  r = tern("--config " + path + " ls");
  EXPECT_EQ(r.exit_code, 5) << r.err;  // NOT_FOUND
}

// ---- token authentication ------------------------------------------------

// A provider behind TokenAuthServerFilter ("s3cret"; tern.Reflection is
// guarded too), serving the Calculator as "secure.Calculator" in the suite's registry.
class CliTokenTest : public CliTest {
 protected:
  void SetUp() override {
    tern::ProviderOptions po;
    po.server.listen = "127.0.0.1:0";
    po.server.io_threads = 1;
    po.server.filters.push_back(std::make_shared<tern::TokenAuthServerFilter>(std::vector<std::string>{"s3cret"}));
    po.registry = reg_url_;
    po.registry_options.heartbeat_interval = milliseconds(500);
    secure_ = std::make_unique<tern::Provider>(po);
    tern::ServiceOptions so;
    so.name = "secure.Calculator";
    ASSERT_TRUE(secure_->expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>(), so).is_ok());
    ASSERT_TRUE(secure_->start().is_ok());
    secure_addr_ = "127.0.0.1:" + std::to_string(secure_->port());
    ASSERT_TRUE(wait_registered(*registry_, "secure.Calculator"));
  }
  void TearDown() override { secure_->shutdown(milliseconds(0)); }

  std::unique_ptr<tern::Provider> secure_;
  std::string secure_addr_;
};

TEST_F(CliTokenTest, CallSendsTheToken) {
  auto r = tern("call secure.Calculator.add " + q("[40,2]") + " --registry " + reg_url_ + " --token s3cret");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "42\n");
  r = tern("call secure.Calculator.add " + q("[1,2]") + " --addr " + secure_addr_ + " --token s3cret");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n");
  // From the environment (kept out of the process list).
  r = tern("call secure.Calculator.add " + q("[2,2]") + " --addr " + secure_addr_, "TERN_TOKEN=s3cret ");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "4\n");
}

TEST_F(CliTokenTest, CallWithoutOrWithAWrongTokenIsUnauthenticated) {
  auto r = tern("call secure.Calculator.add " + q("[1,2]") + " --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 16) << r.err;  // UNAUTHENTICATED
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("error: UNAUTHENTICATED: missing token"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--token"), std::string::npos) << "a hint: " << r.err;
  r = tern("call secure.Calculator.add " + q("[1,2]") + " --addr " + secure_addr_ + " --token s3cre");
  EXPECT_EQ(r.exit_code, 16) << r.err;
  EXPECT_NE(r.err.find("error: UNAUTHENTICATED: invalid token"), std::string::npos) << r.err;
  // The other provider needs no token: a token it does not check is harmless.
  r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr " + addr_ + " --token s3cret");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n");
}

TEST_F(CliTokenTest, DescribeWithTheTokenPrintsTheTypedDescription) {
  auto r = tern("describe secure.Calculator --registry " + reg_url_ + " --token s3cret");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service secure.Calculator (1 provider)\n" + kCalculatorMethods + "providers:\n  " + secure_addr_ +
                       "  weight=100\n");
  r = tern("describe secure.Calculator --addr " + secure_addr_ + " --token s3cret");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service secure.Calculator at " + secure_addr_ + "\n" + kCalculatorMethods);
}

TEST_F(CliTokenTest, DescribeWithoutTheTokenIsUnauthenticated) {
  // Not the untyped fallback of providers without reflection: the refusal.
  auto r = tern("describe secure.Calculator --registry " + reg_url_);
  EXPECT_EQ(r.exit_code, 16) << r.out << r.err;  // UNAUTHENTICATED
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("error: UNAUTHENTICATED: missing token"), std::string::npos) << r.err;
  r = tern("describe secure.Calculator --addr " + secure_addr_);
  EXPECT_EQ(r.exit_code, 16) << r.out << r.err;
  EXPECT_NE(r.err.find("error: UNAUTHENTICATED: missing token"), std::string::npos) << r.err;
  r = tern("describe secure.Calculator --addr " + secure_addr_ + " --token nope");
  EXPECT_EQ(r.exit_code, 16) << r.out << r.err;
  EXPECT_NE(r.err.find("error: UNAUTHENTICATED: invalid token"), std::string::npos) << r.err;
}

TEST_F(CliTokenTest, BenchSendsTheToken) {
  auto r = tern("bench secure.Calculator.add " + q("[1,2]") + " -n 100 -c 2 --registry " + reg_url_ + " --token s3cret");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("  ok          100\n  errors      0\n"), std::string::npos) << r.out;
  r = tern("bench secure.Calculator.add " + q("[1,2]") + " -n 100 --addr " + secure_addr_);
  EXPECT_EQ(r.exit_code, 16) << r.err;
  EXPECT_NE(r.err.find("error: UNAUTHENTICATED: missing token"), std::string::npos) << r.err;
}

// ---- TLS ----------------------------------------------------------------

// A registry with TLS and a provider with mutual TLS (client certificates
// required), registered in it over TLS; certificates from test_certs.h.
class CliTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto& k = testcerts::pki();
    tern::TlsOptions tls;
    tls.enabled = true;
    tls.cert_file = k.server_cert;
    tls.key_file = k.server_key;
    registry_ = new tern::RegistryServer(registry_options(tls));
    ASSERT_TRUE(registry_->start().is_ok());
    reg_url_ = "tern://127.0.0.1:" + std::to_string(registry_->port());
    tern::ProviderOptions po;
    po.server.listen = "127.0.0.1:0";
    po.server.io_threads = 1;
    po.server.tls.enabled = true;
    po.server.tls.cert_file = k.server_cert;
    po.server.tls.key_file = k.server_key;
    po.server.tls.ca_file = k.ca;
    po.server.tls.require_client_cert = true;
    po.registry = reg_url_;
    po.registry_options.heartbeat_interval = milliseconds(500);
    po.registry_options.tls.enabled = true;
    po.registry_options.tls.ca_file = k.ca;
    po.registry_options.tls.server_name = "localhost";
    provider_ = new tern::Provider(po);
    ASSERT_TRUE(provider_->expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
    ASSERT_TRUE(provider_->start().is_ok());
    addr_ = "127.0.0.1:" + std::to_string(provider_->port());
    svc_ = std::string(tern::ServiceTraits<testsvc::Calculator>::name);
    ASSERT_TRUE(wait_registered(*registry_, svc_));
  }
  static void TearDownTestSuite() {
    provider_->shutdown(milliseconds(0));
    delete provider_;
    registry_->shutdown();
    delete registry_;
  }

  // TLS to the provider: its CA, its name, and the client certificate.
  static std::string provider_tls() {
    const auto& k = testcerts::pki();
    return " --tls-ca " + k.ca + " --tls-server-name localhost --tls-cert " + k.client_cert + " --tls-key " +
           k.client_key;
  }
  static std::string registry_tls() { return " --registry-tls-ca " + testcerts::pki().ca; }

  static inline tern::RegistryServer* registry_ = nullptr;
  static inline tern::Provider* provider_ = nullptr;
  static inline std::string reg_url_, addr_, svc_;
};

TEST_F(CliTlsTest, CallOverTls) {
  auto r = tern("call " + svc_ + ".add " + q("[40,2]") + " --addr " + addr_ + provider_tls());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "42\n");
  // Through the TLS registry: --registry-tls-* for it, --tls-* for the provider.
  r = tern("call " + svc_ + ".greet " + q("[\"tls\"]") + " --registry " + reg_url_ + registry_tls() + provider_tls());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"hello, tls\"\n");
}

TEST_F(CliTlsTest, DescribeOverTls) {
  auto r = tern("describe " + svc_ + " --registry " + reg_url_ + registry_tls() + provider_tls());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service " + svc_ + " (1 provider)\n" + kCalculatorMethods + "providers:\n  " + addr_ +
                       "  weight=100\n");
  r = tern("describe " + svc_ + " --addr " + addr_ + provider_tls());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "service " + svc_ + " at " + addr_ + "\n" + kCalculatorMethods);
}

TEST_F(CliTlsTest, BenchOverTls) {
  auto r = tern("bench " + svc_ + ".add " + q("[1,2]") + " -n 100 -c 2 --registry " + reg_url_ + registry_tls() +
                provider_tls());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("  ok          100\n  errors      0\n"), std::string::npos) << r.out;
}

TEST_F(CliTlsTest, TlsMistakesFailWithTheirStatus) {
  const auto& k = testcerts::pki();
  // No TLS to a TLS provider, or no client certificate: the handshake fails.
  auto r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr " + addr_ + " --timeout 2000");
  EXPECT_EQ(r.exit_code, 14) << r.err;  // UNAVAILABLE
  EXPECT_EQ(r.out, "");
  r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr " + addr_ + " --tls-ca " + k.ca + " --timeout 2000");
  EXPECT_EQ(r.exit_code, 14) << r.err;
  EXPECT_NE(r.err.find("TLS handshake"), std::string::npos) << r.err;
  r = tern("describe " + svc_ + " --addr " + addr_ + " --tls-ca " + k.ca + " --timeout 2000");
  EXPECT_EQ(r.exit_code, 14) << r.err;
  EXPECT_EQ(r.out, "");
  // A name the certificate does not carry.
  r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr " + addr_ + " --tls-ca " + k.ca +
           " --tls-server-name calc.example --tls-cert " + k.client_cert + " --tls-key " + k.client_key);
  EXPECT_EQ(r.exit_code, 14) << r.err;
  EXPECT_NE(r.err.find("hostname mismatch"), std::string::npos) << r.err;
  // The registry needs TLS too: --tls-* alone is for the providers.
  r = tern("call " + svc_ + ".add " + q("[1,2]") + " --registry " + reg_url_ + provider_tls() + " --timeout 2000");
  EXPECT_EQ(r.exit_code, 14) << r.err;
  EXPECT_EQ(r.out, "");
  // A file that is not PEM: INVALID_ARGUMENT naming it, before any connection.
  r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr " + addr_ + " --tls-ca " + k.garbage);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(k.garbage), std::string::npos) << r.err;
  // Usage errors: a certificate without its key; registry TLS without a registry.
  r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr " + addr_ + " --tls-cert " + k.client_cert);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  r = tern("call " + svc_ + ".add " + q("[1,2]") + " --addr " + addr_ + registry_tls());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
}

// `tern --config FILE`: the file's client tls_* keys are the TLS to the providers.
TEST_F(CliTlsTest, ConfigFileClientTls) {
  const auto& k = testcerts::pki();
  std::string path = std::string(TERN_BINARY_DIR) + "/cli_test_tls_config_" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path);
    out << "client:\n  tls_enabled: true\n  tls_ca_file: " << k.ca << "\n  tls_server_name: localhost\n"
        << "  tls_cert_file: " << k.client_cert << "\n  tls_key_file: " << k.client_key << "\n"
        << "references:\n  " << svc_ << ":\n    registry: direct://" << addr_ << "\n";
  }
  auto r = tern("--config " + path + " call " + svc_ + ".add " + q("[5,6]"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "11\n");
  // --tls-* on the command line replace the file's.
  r = tern("--config " + path + " call " + svc_ + ".add " + q("[5,6]") + " --tls-ca " + k.other_ca +
           " --timeout 2000");
  EXPECT_EQ(r.exit_code, 14) << r.err;
  EXPECT_NE(r.err.find("certificate verify failed"), std::string::npos) << r.err;
  std::remove(path.c_str());
}

TEST_F(CliTlsTest, LsAndMonitorTalkTlsToTheRegistry) {
  auto r = tern("ls --registry " + reg_url_ + " --tls-ca " + testcerts::pki().ca + " --tls-server-name localhost");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(svc_ + " (1 provider)\n"), std::string::npos) << r.out;

  testutil::Subprocess monitor({TERN_BINARY_DIR "/bin/tern", "monitor", "--registry", reg_url_, "--tls-ca",
                                testcerts::pki().ca, "--listen", "127.0.0.1:0", "--interval", "200"});
  std::string first = monitor.read_line();
  EXPECT_NE(first.find("[monitor] registry " + reg_url_ + " (TLS), scraping every 200 ms"), std::string::npos)
      << first;
  std::string line = monitor.read_line();
  auto at = line.find("dashboard at http://");
  ASSERT_NE(at, std::string::npos) << line;
  auto hp = tern::parse_host_port(line.substr(at + 20, line.size() - at - 21));
  ASSERT_TRUE(hp) << line;
  nlohmann::json state;
  bool listed = false;
  for (int i = 0; i < 50 && !listed; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    auto got = tern::monitor::http_get(*hp, "/api/state", milliseconds(1000));
    if (!got || got->status != 200) continue;
    state = nlohmann::json::parse(got->body);
    for (auto& service : state["services"]) listed = listed || service["name"] == svc_;
  }
  EXPECT_TRUE(listed) << state.dump(2);
  EXPECT_EQ(state["registry_error"], "") << state.dump(2);
}

}  // namespace
