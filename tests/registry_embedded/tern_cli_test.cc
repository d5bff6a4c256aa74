// The `tern` command-line tool against the embedded registry: `tern registry`
// prints its port and every change, `tern ls` lists services and providers,
// and bad input ends with a non-zero exit code and a clear message.
#include <gtest/gtest.h>

#include <signal.h>

#include <string>

#include "registry_test_util.h"
#include "test_certs.h"
#include "test_services.h"
#include "tern/provider.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using regtest::binary;
using regtest::InProcessProvider;
using regtest::run_command;
using testutil::wait_until;

namespace {

const std::string kCalc(tern::ServiceTraits<testsvc::Calculator>::name);

// `tern registry --listen 127.0.0.1:0`; reads "[registry] listening on port N".
struct RegistryProcess {
  RegistryProcess() : proc({binary("tern"), "registry", "--listen", "127.0.0.1:0", "--heartbeat-interval", "300"}) {
    for (int i = 0; i < 20 && port == 0; ++i) {
      std::string line = proc.read_line(10s);
      first_lines += line + "\n";
      auto pos = line.find("listening on port ");
      if (pos != std::string::npos) port = std::stoi(line.substr(pos + 18));
      if (line.empty()) break;
    }
  }
  std::string url() const { return "tern://127.0.0.1:" + std::to_string(port); }
  regtest::Child proc;
  int port = 0;
  std::string first_lines;
};

TEST(TernCli, RegistryPrintsItsPortAndLsListsServicesAndProviders) {
  RegistryProcess registry;
  ASSERT_GT(registry.port, 0) << "output: " << registry.first_lines;

  // Empty registry: one line that says so, success.
  auto empty = run_command({binary("tern"), "ls", "--registry", registry.url()});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(empty.out, "no services registered at " + registry.url() + "\n");
  EXPECT_EQ(empty.err, "");

  InProcessProvider p1(registry.url(), regtest::weight(100));
  InProcessProvider p2(registry.url(), regtest::weight(250));
  ASSERT_TRUE(p1.status.is_ok() && p2.status.is_ok());

  // The registry process reports the change on stdout (its on_change).
  std::string seen;
  bool both = false;
  for (int i = 0; i < 40 && !both; ++i) {
    std::string line = registry.proc.read_line(5s);
    if (line.empty()) break;
    seen += line + "\n";
    both = line.find(kCalc + ": 2 providers") != std::string::npos;
  }
  EXPECT_TRUE(both) << "registry output:\n" << seen;

  auto ls = run_command({binary("tern"), "ls", "--registry", registry.url()});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find(kCalc + " (2 providers)\n"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("  " + p1.url() + "\n"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("  " + p2.url() + "\n"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("weight=250"), std::string::npos) << ls.out;

  // One service by name; an unknown one lists zero providers.
  auto one = run_command({binary("tern"), "ls", "--registry", registry.url(), kCalc});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find(kCalc + " (2 providers)"), std::string::npos) << one.out;
  auto none = run_command({binary("tern"), "ls", "--registry", registry.url(), "Nobody"});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "Nobody (0 providers)\n");

  // After a graceful stop, ls shows one provider.
  p1.provider->shutdown(100ms);
  std::string out;
  EXPECT_TRUE(wait_until(
      [&] {
        out = run_command({binary("tern"), "ls", "--registry", registry.url()}).out;
        return out.find(kCalc + " (1 provider)") != std::string::npos;
      },
      5s, 50ms))
      << out;

  // SIGTERM stops the registry cleanly.
  registry.proc.signal(SIGTERM);
  std::string last;
  for (int i = 0; i < 40; ++i) {
    std::string line = registry.proc.read_line(5s);
    if (line.empty()) break;
    last = line;
  }
  EXPECT_EQ(last, "[registry] stopped");
  EXPECT_EQ(registry.proc.wait(), 0);
}

TEST(TernCli, UnknownSchemeFailsWithAClearMessage) {
  auto r = run_command({binary("tern"), "ls", "--registry", "foo://127.0.0.1:1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown registry scheme"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"foo\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tern"), std::string::npos) << "the known schemes should be listed: " << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(TernCli, MalformedAndUnreachableRegistriesFail) {
  auto bad = run_command({binary("tern"), "ls", "--registry", "not a url"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("error:"), std::string::npos) << bad.err;

  // Nothing listens on this port (a registry that was just stopped).
  int port = 0;
  {
    RegistryProcess gone;
    port = gone.port;
  }
  ASSERT_GT(port, 0);
  auto down = run_command({binary("tern"), "ls", "--registry", "tern://127.0.0.1:" + std::to_string(port)}, 20s);
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.err.find("UNAVAILABLE"), std::string::npos) << down.err;
}

TEST(TernCli, RegistryOverMutualTls) {
  const auto& k = testcerts::pki();
  regtest::Child proc({binary("tern"), "registry", "--listen", "127.0.0.1:0", "--heartbeat-interval", "300",
                       "--tls-cert", k.server_cert, "--tls-key", k.server_key, "--tls-ca", k.ca, "--tls-client-auth"});
  std::string first = proc.read_line(10s);
  auto pos = first.find("listening on port ");
  ASSERT_NE(pos, std::string::npos) << first;
  int port = std::stoi(first.substr(pos + 18));
  EXPECT_NE(first.find("(TLS, client certificates required)"), std::string::npos) << first;
  std::string url = "tern://127.0.0.1:" + std::to_string(port);

  tern::TlsOptions client_tls;
  client_tls.enabled = true;
  client_tls.ca_file = k.ca;
  client_tls.server_name = "localhost";
  client_tls.cert_file = k.client_cert;
  client_tls.key_file = k.client_key;
  tern::ProviderOptions po;
  po.server.listen = "127.0.0.1:0";
  po.server.io_threads = 1;
  po.registry = url;
  po.registry_options.heartbeat_interval = 300ms;
  po.registry_options.tls = client_tls;
  tern::Provider provider(po);
  ASSERT_TRUE(provider.expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
  ASSERT_TRUE(provider.start().is_ok());

  std::string out;
  EXPECT_TRUE(wait_until(
      [&] {
        out = run_command({binary("tern"), "ls", "--registry", url, "--tls-ca", k.ca, "--tls-server-name", "localhost",
                           "--tls-cert", k.client_cert, "--tls-key", k.client_key})
                  .out;
        return out.find(kCalc + " (1 provider)") != std::string::npos;
      },
      5s, 50ms))
      << out;

  // No client certificate, or no TLS at all: refused.
  auto no_cert = run_command({binary("tern"), "ls", "--registry", url, "--tls-ca", k.ca}, 20s);
  EXPECT_EQ(no_cert.exit_code, 14) << no_cert.err;  // UNAVAILABLE
  EXPECT_NE(no_cert.err.find("TLS handshake"), std::string::npos) << no_cert.err;
  auto plain = run_command({binary("tern"), "ls", "--registry", url}, 20s);
  EXPECT_EQ(plain.exit_code, 14) << plain.err;
  EXPECT_EQ(plain.out, "");
  provider.shutdown(0ms);

  // A bad certificate file: INVALID_ARGUMENT (exit code 3) naming it.
  auto bad = run_command({binary("tern"), "registry", "--listen", "127.0.0.1:0", "--tls-cert", k.garbage, "--tls-key",
                          k.server_key});
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  EXPECT_NE(bad.err.find(k.garbage), std::string::npos) << bad.err;
  // --tls-client-auth without --tls-ca is a usage error.
  auto usage = run_command({binary("tern"), "registry", "--tls-cert", k.server_cert, "--tls-key", k.server_key,
                            "--tls-client-auth"});
  EXPECT_NE(usage.exit_code, 0);
}

TEST(TernCli, MissingSubcommandIsAUsageError) {
  auto r = run_command({binary("tern")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.err.empty() && r.out.empty());
}

}  // namespace
