// tern_overload_bench - a provider at 3x its capacity, with and without the
// per-method limits of tern/overload.h (docs/reliability.md, "Overload").
//
// The provider runs `--workers` business threads (default 2) and a handler
// that sleeps `--handler-ms` (default 5 ms): about 400 calls/s. `--callers`
// closed-loop consumer threads (default 24) call it for `--seconds` (default
// 5) per configuration; a refused caller waits 1 ms before its next call.
// Printed per configuration: answered calls/s, latency of accepted calls
// (p50/p99), refused calls/s and the latency of a refusal (p50/p99), other
// errors. The first second of each run is warm-up (not counted), so the
// adaptive limit has come down from its initial 40.
//
//   build/default/bench/tern_overload_bench [--seconds 5] [--callers 24] [--workers 2] [--handler-ms 5]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tern/client.h"
#include "tern/log.h"
#include "tern/server.h"

namespace overload {
struct Work {
  virtual ~Work() = default;
  virtual int run(int ms) = 0;
};
struct WorkImpl : Work {
  int run(int ms) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }
};
}  // namespace overload
TERN_SERVICE_NAMED(overload::Work, "bench.Work", run)

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  int seconds = 5;
  int callers = 24;
  int workers = 2;
  int handler_ms = 5;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void run(const char* label, const tern::MethodLimit& limit, const Args& a) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = static_cast<std::size_t>(a.workers);
  tern::Server server(so);
  tern::ServiceOptions svc;
  svc.limit = limit;
  if (!server.expose<overload::Work>(std::make_shared<overload::WorkImpl>(), svc).is_ok() ||
      !server.start().is_ok()) {
    std::fprintf(stderr, "cannot start the provider\n");
    std::exit(1);
  }
  tern::ClientOptions co;
  co.io_threads = 1;
  tern::Client client(co);
  tern::ReferenceOptions ro;
  ro.cluster = "failfast";
  ro.timeout = std::chrono::milliseconds(5000);
  auto work = client.refer<overload::Work>("direct://127.0.0.1:" + std::to_string(server.port()), ro).value();

  std::atomic<bool> stop{false};
  const auto measure_from = Clock::now() + std::chrono::seconds(1);
  std::mutex mu;
  std::vector<double> accepted_ms, refused_ms;
  long other = 0;
  std::vector<std::thread> callers;
  for (int c = 0; c < a.callers; ++c) {
    callers.emplace_back([&] {
      std::vector<double> acc, ref;
      long oth = 0;
      while (!stop.load()) {
        auto t0 = Clock::now();
        auto r = work.call<&overload::Work::run>(a.handler_ms);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        bool counted = t0 >= measure_from;
        if (r.has_value()) {
          if (counted) acc.push_back(ms);
        } else if (r.status().code() == tern::StatusCode::kResourceExhausted) {
          if (counted) ref.push_back(ms);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } else if (counted) {
          ++oth;
        }
      }
      std::lock_guard lock(mu);
      accepted_ms.insert(accepted_ms.end(), acc.begin(), acc.end());
      refused_ms.insert(refused_ms.end(), ref.begin(), ref.end());
      other += oth;
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1 + a.seconds));
  stop = true;
  for (auto& t : callers) t.join();
  auto state = server.limit_state("bench.Work", "run");
  const double secs = a.seconds;
  std::printf("| %s | %.0f | %.1f | %.1f | %.0f | %.2f | %.2f | %ld | %s |\n", label,
              static_cast<double>(accepted_ms.size()) / secs, percentile(accepted_ms, 0.5),
              percentile(accepted_ms, 0.99), static_cast<double>(refused_ms.size()) / secs,
              percentile(refused_ms, 0.5), percentile(refused_ms, 0.99), other,
              state ? std::to_string(state->concurrency_limit).c_str() : "-");
  std::fflush(stdout);
  server.shutdown(std::chrono::milliseconds(500));
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    int v = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) a.seconds = v;
    else if (!std::strcmp(argv[i], "--callers")) a.callers = v;
    else if (!std::strcmp(argv[i], "--workers")) a.workers = v;
    else if (!std::strcmp(argv[i], "--handler-ms")) a.handler_ms = v;
  }
  tern::set_log_level(tern::LogLevel::kError);
  std::printf("provider: %d business threads, a %d ms handler (capacity about %d calls/s); %d closed-loop callers; "
              "%d s measured per row after 1 s of warm-up\n\n",
              a.workers, a.handler_ms, a.workers * 1000 / std::max(1, a.handler_ms), a.callers, a.seconds);
  std::printf("| limits | answered calls/s | accepted p50 ms | accepted p99 ms | refused calls/s | refusal p50 ms "
              "| refusal p99 ms | other errors | concurrency limit at the end |\n|---|---|---|---|---|---|---|---|---|\n");
  run("none (queue only)", {}, a);
  run("adaptive", {.adaptive = true}, a);
  run("max_concurrency 4", {.max_concurrency = 4}, a);
  return 0;
}
