// bench/driver/tern_grpc_client.cc - a Tern consumer as the gRPC wire's load
// generator (gw1 / gw64, system tern-to-grpc): a tern::Client with one IO
// thread and a `grpc://` reference to the gRPC C++ echo server
// (docs/grpc.md, "Consumer: calling gRPC servers"), protobuf serialization.
// Every call builds its request with Reference::new_request() plus the
// serialized benchecho::EchoMessage, sends it with Reference::invoke(), and
// parses the reply; the next call is issued from the completion (on the
// client IO thread), `inflight` calls outstanding - as the gRPC C++ async
// generator (grpc_client.cc) does on its completion queue.
#include <thread>

#include "driver/generator.h"
#include "echo.pb.h"
#include "tern/client.h"
#include "tern/reference.h"

namespace bench {
namespace {

class TernGrpcGenerator : public Generator {
 public:
  TernGrpcGenerator(const Spec& spec, int port, Recorder& rec) : spec_(spec), port_(port), rec_(rec) {
    payload_.assign(spec.size, 'x');
    tern::ClientOptions options;
    options.io_threads = 1;
    client_ = std::make_unique<tern::Client>(options);
  }
  ~TernGrpcGenerator() override { stop(); }

  bool setup() override {
    tern::ReferenceOptions ro;
    ro.serialization = "protobuf";
    ro.timeout = std::chrono::milliseconds(5000);
    auto ref = client_->reference("benchecho.Echo", "grpc://127.0.0.1:" + std::to_string(port_), ro);
    if (!ref) {
      error_ = ref.status().to_string();
      return false;
    }
    ref_ = *ref;
    if (!ref_->wait_for_providers(std::chrono::seconds(5))) {
      error_ = "no provider";
      return false;
    }
    std::promise<bool> first;
    send([&first, this](tern::CallResult&& r) { first.set_value(check(r)); });
    auto f = first.get_future();
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready || !f.get()) {
      error_ = "first echo over grpc:// failed";
      return false;
    }
    return true;
  }

  void start() override {
    started_ = true;
    for (int k = 0; k < spec_.inflight; ++k) issue();
  }

  void stop() override {
    if (!started_) return;
    started_ = false;
    issuing_.store(false);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (inflight_.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  std::uint64_t errors() const override { return errors_.load(); }

 private:
  bool check(const tern::CallResult& r) const {
    if (!r.status.is_ok()) return false;
    benchecho::EchoMessage m;
    return m.ParseFromArray(r.body().data(), static_cast<int>(r.body().size())) && m.payload().size() == spec_.size;
  }

  void send(tern::CallCompletion done) {
    benchecho::EchoMessage m;
    m.set_payload(payload_);
    auto b = ref_->new_request("Echo", false);
    b.begin_body();
    b.append_body(m.SerializeAsString());
    ref_->invoke("Echo", b.finish(), std::chrono::milliseconds(0), std::move(done));
  }

  void issue() {
    std::uint64_t t0 = now_ns();
    inflight_.fetch_add(1, std::memory_order_relaxed);
    send([this, t0](tern::CallResult&& r) {
      if (!check(r)) errors_.fetch_add(1, std::memory_order_relaxed);
      rec_.done(now_ns() - t0);
      if (issuing_.load(std::memory_order_relaxed)) issue();
      inflight_.fetch_sub(1, std::memory_order_relaxed);
    });
  }

  Spec spec_;
  int port_;
  Recorder& rec_;
  std::string payload_;
  std::unique_ptr<tern::Client> client_;
  std::shared_ptr<tern::Reference> ref_;
  bool started_ = false;
  std::atomic<bool> issuing_{true};
  std::atomic<std::int64_t> inflight_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace

std::unique_ptr<Generator> make_tern_grpc_generator(const Spec& spec, int port, Recorder& rec) {
  return std::make_unique<TernGrpcGenerator>(spec, port, rec);
}

}  // namespace bench
