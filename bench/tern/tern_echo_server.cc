// bench/tern/tern_echo_server.cc - the Tern echo provider for the loopback
// benchmark: tern::Server through the public API, one IO thread.
//   tern_echo_server --dispatcher direct|all [--io-threads 1] [--workers 0]
// Prints "PORT <n>" and serves until SIGTERM.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "common/bench_common.h"
#include "common/echo_service.h"
#include "tern/server.h"

namespace {
std::atomic<bool> g_stop{false};
void on_term(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  bench::raise_fd_limit();
  tern::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.io_threads = 1;
  options.dispatcher = "direct";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--dispatcher") options.dispatcher = argv[i + 1];
    else if (k == "--io-threads") options.io_threads = std::strtoul(argv[i + 1], nullptr, 10);
    else if (k == "--workers") options.worker_threads = std::strtoul(argv[i + 1], nullptr, 10);
  }
  tern::Server server(options);
  if (auto s = server.expose<Echo>(std::make_shared<bench::EchoImpl>()); !s.is_ok()) {
    std::fprintf(stderr, "expose: %s\n", s.to_string().c_str());
    return 1;
  }
  if (auto s = server.start(); !s.is_ok()) {
    std::fprintf(stderr, "start: %s\n", s.to_string().c_str());
    return 1;
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  std::printf("PORT %d\n", server.port());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // The measurement is over: leave without the graceful drain.
  std::_Exit(0);
}
