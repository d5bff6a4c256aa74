// bench/micro/alloc_bench.cc - heap allocations per echo call.
//
// A counting global operator new; an in-process tern::Server (io_threads 1,
// `direct` or `all` dispatcher) and tern::Client (io_threads 1) run N sync
// echo calls (16 B string) on loopback TCP. Allocations are attributed by the
// allocating thread's name: "tern-srv-io-*" and "tern-biz-*" threads are the
// provider, every other thread (the caller, "tern-cli-io-*") the consumer.
// Counters: provider_allocs, consumer_allocs per call (and bytes).
#include <benchmark/benchmark.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/echo_service.h"
#include "tern/client.h"
#include "tern/server.h"
#include "tern/trace/tracer.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_provider{0}, g_consumer{0}, g_provider_bytes{0}, g_consumer_bytes{0};
thread_local int t_kind = -1;  // -1 unknown, 0 consumer, 1 provider

void count(std::size_t n) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  if (t_kind < 0) {
    char name[32] = {0};
    pthread_getname_np(pthread_self(), name, sizeof name);
    t_kind = (std::strncmp(name, "tern-srv-io", 11) == 0 || std::strncmp(name, "tern-biz", 8) == 0) ? 1 : 0;
  }
  if (t_kind == 1) {
    g_provider.fetch_add(1, std::memory_order_relaxed);
    g_provider_bytes.fetch_add(n, std::memory_order_relaxed);
  } else {
    g_consumer.fetch_add(1, std::memory_order_relaxed);
    g_consumer_bytes.fetch_add(n, std::memory_order_relaxed);
  }
}

}  // namespace

void* operator new(std::size_t n) {
  count(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  count(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  count(n);
  std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  count(n);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

// trace: 0 tracing off on both sides, 1 the default (traceparent propagated,
// nothing recorded), 2 every call recorded (rpcz on, sampler always).
void BM_EchoAllocations(benchmark::State& state, const char* dispatcher, int trace = 1) {
  tern::trace::TracerOptions to;
  to.rpcz = trace == 2;
  auto tracer = std::make_shared<tern::trace::Tracer>(to);
  tern::ServerOptions so;
  so.tracing = trace != 0;
  so.tracer = tracer;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.dispatcher = dispatcher;
  tern::Server server(so);
  (void)server.expose<Echo>(std::make_shared<bench::EchoImpl>());
  if (!server.start().is_ok()) {
    state.SkipWithError("server start failed");
    return;
  }
  tern::ClientOptions co;
  co.io_threads = 1;
  co.tracing = trace != 0;
  co.tracer = tracer;
  tern::Client client(co);
  auto proxy = client.refer<Echo>("direct://127.0.0.1:" + std::to_string(server.port())).value();
  std::string payload(16, 'x');
  for (int i = 0; i < 200; ++i) (void)proxy.call<&Echo::echo>(payload);  // warm: connection, caches
  g_provider = 0;
  g_consumer = 0;
  g_provider_bytes = 0;
  g_consumer_bytes = 0;
  g_counting = true;
  std::uint64_t errors = 0;
  for (auto _ : state) {
    auto r = proxy.call<&Echo::echo>(payload);
    if (!r) ++errors;
  }
  g_counting = false;
  double n = static_cast<double>(state.iterations());
  state.counters["provider_allocs"] = static_cast<double>(g_provider.load()) / n;
  state.counters["consumer_allocs"] = static_cast<double>(g_consumer.load()) / n;
  state.counters["provider_bytes"] = static_cast<double>(g_provider_bytes.load()) / n;
  state.counters["consumer_bytes"] = static_cast<double>(g_consumer_bytes.load()) / n;
  if (errors) state.SkipWithError("calls failed");
}
BENCHMARK_CAPTURE(BM_EchoAllocations, direct, "direct")->Iterations(20000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, all, "all")->Iterations(20000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, direct_tracing_off, "direct", 0)->Iterations(20000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, direct_tracing_recorded, "direct", 2)->Iterations(20000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
