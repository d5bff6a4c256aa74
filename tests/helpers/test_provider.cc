// A provider process for tests that need to kill, freeze or stop a real process:
//   tern_test_provider [--listen host:port] [--registry URL] [--weight N] [--heartbeat MS]
//                      [--grace MS] [--server-heartbeat MS] [--max-write-queue BYTES]
//                      [--io-threads N] [--workers N] [--backoff MS] [--raise-nofile 1] [--admin 1]
//                      [--announce 1]
// Serves testsvc::Calculator and a server stream Ticker.ticks: it reads a
// count n and writes 0, 1, ... (n of them, or without end for 0), one every
// `period` ms (attachment "period", default 2), then finishes OK.
// Prints "PORT <n>" on stdout once listening, then serves until SIGTERM/SIGINT
// or until stdin closes; either stops gracefully (Provider::shutdown(grace):
// unregister, GOAWAY, drain, close), prints "STOPPED" and exits 0.
//   --heartbeat MS         registry renewal interval (RegistryOptions)
//   --server-heartbeat MS  idle time before the server pings a consumer connection
//   --grace MS             drain period of the graceful stop (default 1000)
//   --max-write-queue B    ServerOptions::max_write_queue_bytes
//   --backoff MS           registry reconnect backoff (initial; the maximum is 10x)
//   --raise-nofile 1       raise RLIMIT_NOFILE to its hard limit (many connections)
//   --admin 1              metrics and an admin endpoint on 127.0.0.1:0, announced in the URL
//   --announce 1           print "SLEEP <ms>" as a sleep_ms call enters its handler (a test
//                          then kills the process with a call known to be in it)
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "test_services.h"
#include "tern/monitor/admin_server.h"
#include "tern/provider.h"
#include "tern/stream.h"

namespace {

// testsvc::CalculatorImpl, announcing each sleep_ms on stdout (--announce 1).
struct AnnouncingCalculator : testsvc::CalculatorImpl {
  std::string sleep_ms(int ms) override {
    std::printf("SLEEP %d\n", ms);  // one call: whole lines even from concurrent handlers
    std::fflush(stdout);
    return testsvc::CalculatorImpl::sleep_ms(ms);
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals in every thread (the provider's threads inherit
  // the mask); the main thread takes them with sigwait.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  tern::ProviderOptions opts;
  opts.server.listen = "127.0.0.1:0";
  opts.server.io_threads = 1;
  int weight = 100;
  int grace_ms = 1000;
  bool admin = false;
  bool announce = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--listen") opts.server.listen = v;
    else if (k == "--registry") opts.registry = v;
    else if (k == "--admin") admin = v == "1";
    else if (k == "--announce") announce = v == "1";
    else if (k == "--weight") weight = std::stoi(v);
    else if (k == "--heartbeat") opts.registry_options.heartbeat_interval = std::chrono::milliseconds(std::stoi(v));
    else if (k == "--grace") grace_ms = std::stoi(v);
    else if (k == "--server-heartbeat") opts.server.heartbeat_interval = std::chrono::milliseconds(std::stoi(v));
    else if (k == "--max-write-queue") opts.server.max_write_queue_bytes = std::stoull(v);
    else if (k == "--io-threads") opts.server.io_threads = std::stoul(v);
    else if (k == "--workers") opts.server.worker_threads = std::stoul(v);
    else if (k == "--backoff") {
      opts.registry_options.initial_backoff = std::chrono::milliseconds(std::stoi(v));
      opts.registry_options.max_backoff = 10 * opts.registry_options.initial_backoff;
    }
    else if (k == "--raise-nofile" && v == "1") {
      rlimit rl{};
      if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
      }
    }
  }
  std::shared_ptr<tern::monitor::AdminServer> admin_server;
  if (admin) {
    auto a = tern::monitor::enable_admin(opts, "127.0.0.1:0");
    if (!a) {
      std::cerr << "admin failed: " << a.status() << "\n";
      return 1;
    }
    admin_server = *a;
  }
  tern::Provider provider(opts);
  tern::ServiceOptions so;
  so.weight = weight;
  if (admin_server) tern::monitor::announce_admin(so, *admin_server);
  std::shared_ptr<testsvc::Calculator> calculator;
  if (announce) {
    calculator = std::make_shared<AnnouncingCalculator>();
  } else {
    calculator = std::make_shared<testsvc::CalculatorImpl>();
  }
  (void)provider.expose<testsvc::Calculator>(calculator, so);
  (void)provider.server().add_blocking_stream_method<int, int>(
      "Ticker", "ticks", tern::StreamKind::kServer, [](tern::ServerStream<int, int>& s) -> tern::Status {
        auto n = s.read_sync();
        if (!n) return s.status();
        std::string_view p = s.attachment("period");
        int period = p.empty() ? 2 : std::stoi(std::string(p));
        for (int i = 0; *n == 0 || i < *n; ++i) {
          if (tern::Status w = s.write_sync(i); !w.is_ok()) return w;
          if (period > 0) std::this_thread::sleep_for(std::chrono::milliseconds(period));
        }
        return tern::Status();
      });
  if (auto s = provider.start(); !s.is_ok()) {
    std::cerr << "start failed: " << s << "\n";
    return 1;
  }
  std::cout << "PORT " << provider.port() << std::endl;
  // stdin closing (the parent died or closed the pipe) stops us like SIGTERM.
  std::thread([] {
    char buf[64];
    while (std::fgets(buf, sizeof buf, stdin) != nullptr) {
    }
    kill(getpid(), SIGTERM);
  }).detach();
  int sig = 0;
  sigwait(&stop, &sig);
  provider.shutdown(std::chrono::milliseconds(grace_ms));
  std::cout << "STOPPED" << std::endl;
  std::fflush(stdout);
  _exit(0);  // the stdin thread may still be blocked in fgets
}
