// bench/micro/alloc_bench.cc - heap allocations per echo call.
//
// A counting global operator new; an in-process tern::Server (io_threads 1,
// `direct` or `all` dispatcher) and tern::Client (io_threads 1) run N sync
// echo calls (16 B or 64 KiB string) on loopback TCP. Allocations are
// attributed by the allocating thread's name: "tern-srv-io-*" and "tern-biz-*"
// threads are the provider, every other thread (the caller, "tern-cli-io-*")
// the consumer.
// Counters per call: provider_allocs, consumer_allocs (operator new) and
// provider_mallocs, consumer_mallocs (malloc/calloc/realloc called directly,
// not through operator new: msgpack's zone, OpenSSL, ...), and bytes.
//
// Call sites (debug mode): TERN_ALLOC_SITES=1 records a backtrace of every
// counted allocation and prints, per benchmark, the distinct call stacks by
// count (symbolized with addr2line; build with debug info for file:line).
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <vector>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
}

#include "common/echo_service.h"
#include "tern/client.h"
#include "tern/server.h"
#include "tern/trace/tracer.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_provider{0}, g_consumer{0}, g_provider_bytes{0}, g_consumer_bytes{0};
std::atomic<std::uint64_t> g_provider_malloc{0}, g_consumer_malloc{0};
thread_local int t_kind = -1;  // -1 unknown, 0 consumer, 1 provider

// Call-site recording (TERN_ALLOC_SITES): a fixed array filled while counting.
constexpr int kSiteDepth = 14;
constexpr std::size_t kMaxSites = 1 << 16;
struct Site {
  void* pcs[kSiteDepth];
  int depth;
  int kind;     // 0 consumer, 1 provider
  bool malloc;  // malloc/calloc/realloc rather than operator new
};
bool g_record = false;
Site* g_sites = nullptr;
std::atomic<std::size_t> g_nsites{0};
thread_local bool t_in_backtrace = false;

void count(std::size_t n, bool is_malloc) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  if (t_kind < 0) {
    char name[32] = {0};
    pthread_getname_np(pthread_self(), name, sizeof name);
    t_kind = (std::strncmp(name, "tern-srv-io", 11) == 0 || std::strncmp(name, "tern-biz", 8) == 0) ? 1 : 0;
  }
  if (t_kind == 1) {
    (is_malloc ? g_provider_malloc : g_provider).fetch_add(1, std::memory_order_relaxed);
    g_provider_bytes.fetch_add(n, std::memory_order_relaxed);
  } else {
    (is_malloc ? g_consumer_malloc : g_consumer).fetch_add(1, std::memory_order_relaxed);
    g_consumer_bytes.fetch_add(n, std::memory_order_relaxed);
  }
  if (g_record && !t_in_backtrace) {
    std::size_t i = g_nsites.fetch_add(1, std::memory_order_relaxed);
    if (i < kMaxSites) {
      t_in_backtrace = true;
      Site& site = g_sites[i];
      site.depth = backtrace(site.pcs, kSiteDepth);
      site.kind = t_kind;
      site.malloc = is_malloc;
      t_in_backtrace = false;
    }
  }
}

void* checked(void* p) {
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

extern "C" void* malloc(std::size_t n) {
  count(n, true);
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t k, std::size_t n) {
  count(k * n, true);
  return __libc_calloc(k, n);
}
extern "C" void* realloc(void* p, std::size_t n) {
  if (n) count(n, true);
  return __libc_realloc(p, n);
}

void* operator new(std::size_t n) {
  count(n, false);
  return checked(__libc_malloc(n ? n : 1));
}
void* operator new[](std::size_t n) {
  count(n, false);
  return checked(__libc_malloc(n ? n : 1));
}
void* operator new(std::size_t n, std::align_val_t a) {
  count(n, false);
  std::size_t al = static_cast<std::size_t>(a);
  return checked(std::aligned_alloc(al, (n + al - 1) / al * al));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  count(n, false);
  return __libc_malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

// "function at file:line" for a return address (addr2line on the object that
// holds it); cached.
std::string symbolize(void* pc) {
  static std::map<void*, std::string> cache;
  if (auto it = cache.find(pc); it != cache.end()) return it->second;
  Dl_info info{};
  std::string out = "?";
  if (dladdr(pc, &info) && info.dli_fname) {
    auto off = reinterpret_cast<std::uintptr_t>(pc) - reinterpret_cast<std::uintptr_t>(info.dli_fbase) - 1;
    char cmd[1024];
    std::snprintf(cmd, sizeof cmd, "addr2line -f -C -e '%s' 0x%jx 2>/dev/null", info.dli_fname,
                  static_cast<std::uintmax_t>(off));
    if (FILE* f = popen(cmd, "r")) {
      char fn[4096] = {0}, loc[1024] = {0};
      if (std::fgets(fn, sizeof fn, f) && std::fgets(loc, sizeof loc, f)) {
        fn[std::strcspn(fn, "\n")] = 0;
        loc[std::strcspn(loc, "\n")] = 0;
        std::string func = fn;
        if (func.size() > 140) func = func.substr(0, 137) + "...";
        const char* slash = std::strrchr(loc, '/');
        out = func + "  " + (slash ? slash + 1 : loc);
      }
      pclose(f);
    }
  }
  cache.emplace(pc, out);
  return out;
}

// Prints the recorded call stacks by count, heaviest first, per side.
// `calls` is the number of calls counted; when the site array filled up, only
// the first n of `total` allocations were recorded and the figures are scaled.
void print_sites(const char* name, double calls, double total) {
  std::size_t n = std::min(g_nsites.load(), kMaxSites);
  calls *= static_cast<double>(n) / total;
  std::map<std::vector<void*>, std::pair<std::size_t, int>> stacks;  // stack -> (count, kind*2+malloc)
  for (std::size_t i = 0; i < n; ++i) {
    const Site& s = g_sites[i];
    // Skip count() and the allocation function itself.
    std::vector<void*> key(s.pcs + std::min(2, s.depth), s.pcs + s.depth);
    key.push_back(reinterpret_cast<void*>(static_cast<std::uintptr_t>(s.kind)));  // same stack, other side
    auto& e = stacks[key];
    ++e.first;
    e.second = s.kind * 2 + (s.malloc ? 1 : 0);
  }
  std::vector<std::pair<std::vector<void*>, std::pair<std::size_t, int>>> sorted(stacks.begin(), stacks.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) {
    return a.second.second / 2 != b.second.second / 2 ? a.second.second / 2 > b.second.second / 2
                                                       : a.second.first > b.second.first;
  });
  std::fprintf(stderr, "== allocation sites: %s (%zu recorded over the first %.0f calls)\n", name, n, calls);
  for (auto& [stack, e] : sorted) {
    double per_call = static_cast<double>(e.first) / calls;
    if (per_call < 0.01) continue;
    std::fprintf(stderr, "-- %s %s: %.3f per call\n", e.second / 2 ? "provider" : "consumer",
                 e.second % 2 ? "malloc" : "new", per_call);
    for (std::size_t k = 0; k + 1 < stack.size(); ++k) {
      void* pc = stack[k];
      std::string sym = symbolize(pc);
      if (sym.find("benchmark::") != std::string::npos) break;
      std::fprintf(stderr, "     %s\n", sym.c_str());
    }
  }
}

// trace: 0 tracing off on both sides, 1 the default (traceparent propagated,
// nothing recorded), 2 every call recorded (rpcz on, sampler always).
void BM_EchoAllocations(benchmark::State& state, const char* dispatcher, int trace = 1, std::size_t size = 16) {
  std::string label = std::string(dispatcher) + " trace=" + std::to_string(trace) + " size=" + std::to_string(size);
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
  std::string payload(size, 'x');
  for (int i = 0; i < 200; ++i) (void)proxy.call<&Echo::echo>(payload);  // warm: connection, caches
  g_provider = 0;
  g_consumer = 0;
  g_provider_bytes = 0;
  g_consumer_bytes = 0;
  g_provider_malloc = 0;
  g_consumer_malloc = 0;
  if (const char* e = std::getenv("TERN_ALLOC_SITES"); e && *e && *e != '0') {
    void* warm[4];
    (void)backtrace(warm, 4);  // loads the unwinder before counting starts
    if (!g_sites) g_sites = static_cast<Site*>(std::calloc(kMaxSites, sizeof(Site)));
    g_nsites = 0;
    g_record = true;
  }
  g_counting = true;
  std::uint64_t errors = 0;
  for (auto _ : state) {
    auto r = proxy.call<&Echo::echo>(payload);
    if (!r) ++errors;
  }
  g_counting = false;
  g_record = false;
  double n = static_cast<double>(state.iterations());
  if (g_sites && g_nsites.load() > 0) print_sites(label.c_str(), n,
                static_cast<double>(g_provider + g_consumer + g_provider_malloc + g_consumer_malloc));
  state.counters["provider_allocs"] = static_cast<double>(g_provider.load()) / n;
  state.counters["consumer_allocs"] = static_cast<double>(g_consumer.load()) / n;
  state.counters["provider_mallocs"] = static_cast<double>(g_provider_malloc.load()) / n;
  state.counters["consumer_mallocs"] = static_cast<double>(g_consumer_malloc.load()) / n;
  state.counters["provider_bytes"] = static_cast<double>(g_provider_bytes.load()) / n;
  state.counters["consumer_bytes"] = static_cast<double>(g_consumer_bytes.load()) / n;
  if (errors) state.SkipWithError("calls failed");
}
BENCHMARK_CAPTURE(BM_EchoAllocations, direct, "direct")->Iterations(20000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, all, "all")->Iterations(20000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, direct_tracing_off, "direct", 0)->Iterations(20000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, direct_tracing_recorded, "direct", 2)->Iterations(20000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, direct_64k, "direct", 1, 64 * 1024)->Iterations(5000)->UseRealTime();
BENCHMARK_CAPTURE(BM_EchoAllocations, all_64k, "all", 1, 64 * 1024)->Iterations(5000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
