// bench/tern/tern_echo_server.cc - the Tern echo provider for the loopback
// benchmark: tern::Server through the public API, one IO thread.
//   tern_echo_server --dispatcher direct|adaptive|all [--io-threads 1] [--workers 0]
// Prints "PORT <n>" and serves until SIGTERM.
// Besides Echo it serves, on the same port:
//   BenchStream.firehose  a server stream (stream16 / stream64k): the first
//                         message is the size (decimal text); the handler then
//                         writes messages of that many bytes, one write at a
//                         time, until the consumer cancels
//   benchecho.Echo/Echo   the gRPC wire's unary echo (gw1 / gw64), protobuf
//                         parsed and re-serialized as gRPC's typed server does
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
#include "tern/stream.h"
#ifdef TERN_BENCH_PROTO
#include "echo.pb.h"
#endif

namespace {
std::atomic<bool> g_stop{false};
void on_term(int) { g_stop = true; }

// The firehose stream method: raw bytes both ways (no codec on the path).
tern::Task<tern::Status> firehose(std::shared_ptr<tern::RawStream> s) {
  auto first = co_await tern::detail::make_awaiter<std::optional<std::string>>([&](auto cb) {
    s->read([cb = std::move(cb)](std::optional<std::string> m, tern::Status) mutable { cb(std::move(m)); });
  });
  if (!first) co_return tern::Status(tern::StatusCode::kInvalidArgument, "no size");
  std::size_t size = std::strtoul(first->c_str(), nullptr, 10);
  const std::string payload(size, 'x');
  for (;;) {
    // On the IO thread (direct) with credit left, a write completes at once
    // (what co_await on a typed ServerStream does); else wait for it.
    std::string message = payload;
    if (auto now = s->try_write_now(message)) {
      if (!now->is_ok()) co_return *now;
      continue;
    }
    tern::Status w = co_await tern::detail::make_awaiter<tern::Status>(
        [&](auto cb) { s->write(payload, std::move(cb)); });
    if (!w.is_ok()) co_return w;  // the consumer cancelled: the run is over
  }
}
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
  if (auto s = server.add_stream_method("BenchStream", "firehose", tern::StreamKind::kServer, firehose); !s.is_ok()) {
    std::fprintf(stderr, "add_stream_method: %s\n", s.to_string().c_str());
    return 1;
  }
#ifdef TERN_BENCH_PROTO
  auto grpc_echo = [](tern::ServerCall& call) {
    benchecho::EchoMessage m;
    if (!m.ParseFromArray(call.body().data(), static_cast<int>(call.body().size()))) {
      call.respond(tern::Status(tern::StatusCode::kInvalidArgument, "bad EchoMessage"));
      return;
    }
    auto b = call.start_response();
    b.append_body(m.SerializeAsString());
    call.respond(std::move(b));
  };
  if (auto s = server.add_method("benchecho.Echo", "Echo", grpc_echo); !s.is_ok()) {
    std::fprintf(stderr, "add_method: %s\n", s.to_string().c_str());
    return 1;
  }
#endif
  if (auto s = server.start(); !s.is_ok()) {
    std::fprintf(stderr, "start: %s\n", s.to_string().c_str());
    return 1;
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  std::printf("PORT %d\n", server.port());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (options.dispatcher == "adaptive") {
    auto st = server.stats();
    std::fprintf(stderr, "adaptive: %llu promotions, %llu demotions\n",
                 static_cast<unsigned long long>(st.adaptive_promotions),
                 static_cast<unsigned long long>(st.adaptive_demotions));
  }
  // The measurement is over: leave without the graceful drain.
  std::_Exit(0);
}
