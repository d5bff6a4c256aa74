// bench/micro/micro_core.cc - Google Benchmark micro-benchmarks of the pieces
// every call goes through: frame encode/decode (tern/protocol), MessagePack
// argument encode/decode (tern/serialization), load-balancer pick
// (tern/cluster) over fake invokers.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "tern/cluster/load_balancer.h"
#include "tern/protocol/decoder.h"
#include "tern/protocol/frame.h"
#include "tern/serialization/msgpack_codec.h"

namespace {

using tern::protocol::FrameBuilder;
using tern::protocol::FrameDecoder;
using tern::protocol::FrameType;
using tern::serialization::MsgpackCodec;

std::string make_request(std::uint64_t id, const std::string& payload) {
  FrameBuilder b(FrameType::kRequest, id);
  b.add_meta("service", "Echo");
  b.add_meta("method", "echo");
  b.begin_body();
  MsgpackCodec::encode_args(b, payload);
  return b.finish();
}

// A whole request frame: header + service/method metadata + msgpack body.
void BM_FrameEncodeRequest(benchmark::State& state) {
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  std::uint64_t id = 0;
  for (auto _ : state) {
    std::string f = make_request(++id, payload);
    benchmark::DoNotOptimize(f.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_FrameEncodeRequest)->Arg(16)->Arg(1024)->Arg(64 * 1024);

void BM_FrameEncodeHeaderOnly(benchmark::State& state) {
  tern::protocol::FrameHeader h;
  h.request_id = 42;
  h.body_len = 16;
  char out[tern::protocol::kHeaderSize];
  for (auto _ : state) {
    ++h.request_id;
    tern::protocol::encode_header(h, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_FrameEncodeHeaderOnly);

// Decoding `batch` frames delivered in one read (the per-read loop of a
// connection), reported per frame.
void BM_FrameDecode(benchmark::State& state) {
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  int batch = static_cast<int>(state.range(1));
  std::string stream;
  for (int i = 0; i < batch; ++i) stream += make_request(static_cast<std::uint64_t>(i + 1), payload);
  FrameDecoder dec;
  std::size_t frames = 0;
  for (auto _ : state) {
    auto s = dec.feed(stream, [&](tern::protocol::Frame&& f) {
      benchmark::DoNotOptimize(f.payload.data());
      ++frames;
    });
    if (!s.is_ok()) state.SkipWithError("decode failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_FrameDecode)->Args({16, 1})->Args({16, 64})->Args({1024, 16})->Args({64 * 1024, 1});

void BM_MsgpackEncodeArgs(benchmark::State& state) {
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  std::string out;
  out.reserve(payload.size() + 64);
  struct W {
    std::string* s;
    void write(const char* d, std::size_t n) { s->append(d, n); }
  } w{&out};
  for (auto _ : state) {
    out.clear();
    MsgpackCodec::encode_args(w, payload);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_MsgpackEncodeArgs)->Arg(16)->Arg(1024);

void BM_MsgpackEncodeArgsMixed(benchmark::State& state) {
  std::string out;
  struct W {
    std::string* s;
    void write(const char* d, std::size_t n) { s->append(d, n); }
  } w{&out};
  std::vector<int> v{1, 2, 3, 4, 5, 6, 7, 8};
  for (auto _ : state) {
    out.clear();
    MsgpackCodec::encode_args(w, 42, 3.5, std::string("hello"), v);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_MsgpackEncodeArgsMixed);

void BM_MsgpackDecodeArgs(benchmark::State& state) {
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  std::string bytes;
  struct W {
    std::string* s;
    void write(const char* d, std::size_t n) { s->append(d, n); }
  } w{&bytes};
  MsgpackCodec::encode_args(w, payload);
  for (auto _ : state) {
    auto r = MsgpackCodec::decode_args<std::string>(bytes);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_MsgpackDecodeArgs)->Arg(16)->Arg(1024);

void BM_MsgpackDecodeArgsMixed(benchmark::State& state) {
  std::string bytes;
  struct W {
    std::string* s;
    void write(const char* d, std::size_t n) { s->append(d, n); }
  } w{&bytes};
  MsgpackCodec::encode_args(w, 42, 3.5, std::string("hello"), std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
  for (auto _ : state) {
    auto r = MsgpackCodec::decode_args<int, double, std::string, std::vector<int>>(bytes);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_MsgpackDecodeArgsMixed);

void BM_MsgpackDecodeValue(benchmark::State& state) {
  std::string bytes;
  struct W {
    std::string* s;
    void write(const char* d, std::size_t n) { s->append(d, n); }
  } w{&bytes};
  MsgpackCodec::encode_value(w, std::string(16, 'x'));
  for (auto _ : state) {
    auto r = MsgpackCodec::decode_value<std::string>(bytes);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_MsgpackDecodeValue);

// ---- load balancers ---------------------------------------------------------

class FakeInvoker : public tern::cluster::Invoker {
 public:
  FakeInvoker(int i, int weight)
      : url_("tern", {tern::HostPort{"10.0.0." + std::to_string(i), 20880}}, "Echo"),
        id_("10.0.0." + std::to_string(i) + ":20880"),
        weight_(weight) {
    stats_.ewma_latency_us.store(100 + i * 7);
    stats_.active.store(i % 3);
  }
  const tern::Url& url() const override { return url_; }
  const std::string& id() const override { return id_; }
  int weight() const override { return weight_; }
  std::chrono::steady_clock::time_point discovered_at() const override {
    return std::chrono::steady_clock::now() - std::chrono::hours(1);
  }
  tern::cluster::InvokerStats& stats() override { return stats_; }

 private:
  tern::Url url_;
  std::string id_;
  int weight_;
  tern::cluster::InvokerStats stats_;
};

void BM_LoadBalancerPick(benchmark::State& state, const char* name) {
  int n = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<FakeInvoker>> owned;
  std::vector<tern::cluster::Invoker*> list;
  for (int i = 0; i < n; ++i) {
    owned.push_back(std::make_unique<FakeInvoker>(i, 100 + 100 * (i % 3)));
    list.push_back(owned.back().get());
  }
  tern::cluster::LoadBalancerOptions opts;
  opts.seed = 42;
  opts.warmup = std::chrono::milliseconds(0);
  auto lb = tern::cluster::create_load_balancer(name, opts);
  if (!lb) {
    state.SkipWithError("create_load_balancer failed");
    return;
  }
  tern::cluster::Invocation inv{"Echo", "echo", {}};
  std::span<tern::cluster::Invoker* const> span(list);
  for (auto _ : state) {
    auto* pick = (*lb)->select(span, inv);
    benchmark::DoNotOptimize(pick);
  }
}
BENCHMARK_CAPTURE(BM_LoadBalancerPick, random, "random")->Arg(1)->Arg(10)->Arg(100);
BENCHMARK_CAPTURE(BM_LoadBalancerPick, weighted_round_robin, "weighted_round_robin")->Arg(1)->Arg(10)->Arg(100);
BENCHMARK_CAPTURE(BM_LoadBalancerPick, p2c_ewma, "p2c_ewma")->Arg(1)->Arg(10)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
