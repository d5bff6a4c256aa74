// bench/tern/tls_latency.cc - what TLS costs a call: sync echo calls, 1 in
// flight, over plain TCP and over TLS (TLS 1.3, ECDSA P-256 certificate made
// with the openssl CLI), against an in-process provider (one IO thread,
// `direct` dispatch) on loopback. Rounds interleave plain and TLS.
//   tern_tls_latency [--rounds 3] [--duration-ms 1500] [--size 16]
// Prints one line per mode: calls/s, p50 and p99 in microseconds (medians
// over the rounds).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <stdlib.h>

#include "common/echo_service.h"
#include "tern/client.h"
#include "tern/server.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  double qps = 0, p50 = 0, p99 = 0;
};

Sample run(const tern::Server& server, const tern::TlsOptions& tls, std::size_t size, std::chrono::milliseconds duration) {
  tern::ClientOptions co;
  co.io_threads = 1;
  co.channel.tls = tls;
  auto client = tern::Client::create(co);
  if (!client) {
    std::fprintf(stderr, "client: %s\n", client.status().to_string().c_str());
    std::exit(1);
  }
  auto echo = (*client)->refer<Echo>("direct://127.0.0.1:" + std::to_string(server.port())).value();
  std::string payload(size, 'x');
  for (int i = 0; i < 200; ++i) echo.call<&Echo::echo>(payload).value();  // connect + warm up
  std::vector<double> lat;
  lat.reserve(1 << 20);
  auto start = Clock::now();
  auto end = start + duration;
  for (auto t = start; t < end;) {
    auto r = echo.call<&Echo::echo>(payload);
    auto now = Clock::now();
    if (!r || r->size() != size) {
      std::fprintf(stderr, "call failed: %s\n", r ? "short" : r.status().to_string().c_str());
      std::exit(1);
    }
    lat.push_back(std::chrono::duration<double, std::micro>(now - t).count());
    t = now;
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat.begin(), lat.end());
  Sample s;
  s.qps = static_cast<double>(lat.size()) / secs;
  s.p50 = lat[lat.size() / 2];
  s.p99 = lat[lat.size() * 99 / 100];
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  std::chrono::milliseconds duration(1500);
  std::size_t size = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (k == "--duration-ms") duration = std::chrono::milliseconds(std::atoi(argv[i + 1]));
    else if (k == "--size") size = std::strtoul(argv[i + 1], nullptr, 10);
  }
  char tmpl[] = "/tmp/tern-tls-bench-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  std::ofstream(dir / "ext") << "subjectAltName=IP:127.0.0.1\n";
  std::string d = dir.string();
  std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  std::string cmd = "cd " + d + " && openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 2 -subj /CN=ca" +
                    " && openssl req" + ec + "-keyout s.key -out s.csr -subj /CN=s" +
                    " && openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext"
                    " -out s.pem >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "openssl failed\n");
    return 1;
  }
  auto make_server = [&](bool tls) {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.dispatcher = "direct";
    if (tls) {
      so.tls.enabled = true;
      so.tls.cert_file = d + "/s.pem";
      so.tls.key_file = d + "/s.key";
    }
    auto s = std::make_unique<tern::Server>(so);
    if (!s->expose<Echo>(std::make_shared<bench::EchoImpl>()).is_ok() || !s->start().is_ok()) std::exit(1);
    return s;
  };
  auto plain_server = make_server(false);
  auto tls_server = make_server(true);
  tern::TlsOptions client_tls;
  client_tls.enabled = true;
  client_tls.ca_file = d + "/ca.pem";
  client_tls.server_name = "127.0.0.1";

  std::vector<double> qps[2], p50[2], p99[2];
  for (int r = 0; r < rounds; ++r) {
    for (int mode = 0; mode < 2; ++mode) {
      Sample s = mode == 0 ? run(*plain_server, tern::TlsOptions{}, size, duration)
                           : run(*tls_server, client_tls, size, duration);
      qps[mode].push_back(s.qps);
      p50[mode].push_back(s.p50);
      p99[mode].push_back(s.p99);
    }
  }
  const char* names[2] = {"plain", "tls"};
  std::printf("%zu B, 1 in flight, sync, %d rounds x %lld ms\n", size, rounds,
              static_cast<long long>(duration.count()));
  for (int mode = 0; mode < 2; ++mode) {
    std::printf("%-5s  calls/s %8.0f  p50 us %7.1f  p99 us %7.1f\n", names[mode], median(qps[mode]),
                median(p50[mode]), median(p99[mode]));
  }
  plain_server->shutdown(std::chrono::milliseconds(0));
  tls_server->shutdown(std::chrono::milliseconds(0));
  std::filesystem::remove_all(dir);
  return 0;
}
