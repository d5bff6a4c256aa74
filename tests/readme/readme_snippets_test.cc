// Runs the README's call-mode snippets against a real provider.
#include <gtest/gtest.h>

#include "readme_preamble.h"

namespace {
struct CalculatorImpl : Calculator {
  int add(int a, int b) override { return a + b; }
};
}  // namespace

TEST(Readme, SnippetsCompileAndRun) {
  ASSERT_GE(readme_snippet_count(), 1);
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server.expose<Calculator>(std::make_shared<CalculatorImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  tern::ClientOptions co;
  co.io_threads = 1;
  tern::Client client(co);
  auto calc = client.refer<Calculator>("direct://127.0.0.1:" + std::to_string(server.port())).value();
  testing::internal::CaptureStdout();
  for (int i = 0; i < readme_snippet_count(); ++i) run_readme_snippet(i, calc);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("sync: 3"), std::string::npos) << out;
  EXPECT_NE(out.find("future: 10"), std::string::npos) << out;
  EXPECT_NE(out.find("callback: 7"), std::string::npos) << out;
  EXPECT_NE(out.find("oneway: OK"), std::string::npos) << out;
  EXPECT_NE(out.find("coroutine: 11"), std::string::npos) << out;
  server.shutdown(std::chrono::milliseconds(200));
}
