// A provider process for tests that need to kill or freeze a real process:
//   tern_test_provider [--listen host:port] [--registry URL] [--weight N] [--heartbeat MS]
// Prints "PORT <n>" on stdout once listening, then serves until killed or stdin closes.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "test_services.h"
#include "tern/provider.h"

int main(int argc, char** argv) {
  tern::ProviderOptions opts;
  opts.server.listen = "127.0.0.1:0";
  opts.server.io_threads = 1;
  int weight = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--listen") opts.server.listen = argv[i + 1];
    else if (k == "--registry") opts.registry = argv[i + 1];
    else if (k == "--weight") weight = std::stoi(argv[i + 1]);
    else if (k == "--heartbeat") opts.registry_options.heartbeat_interval = std::chrono::milliseconds(std::stoi(argv[i + 1]));
  }
  tern::Provider provider(opts);
  tern::ServiceOptions so;
  so.weight = weight;
  (void)provider.expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>(), so);
  if (auto s = provider.start(); !s.is_ok()) {
    std::cerr << "start failed: " << s << "\n";
    return 1;
  }
  std::cout << "PORT " << provider.port() << std::endl;
  // Serve until stdin closes (the parent died or closed the pipe).
  char buf[64];
  while (std::fgets(buf, sizeof buf, stdin) != nullptr) {
  }
  provider.shutdown(std::chrono::milliseconds(1000));
  return 0;
}
