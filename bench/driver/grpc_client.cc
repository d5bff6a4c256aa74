// bench/driver/grpc_client.cc - gRPC C++ async (CompletionQueue) load
// generator: `conns` channels (each its own TCP connection: local subchannel
// pool), `inflight` unary calls outstanding per channel, re-issued from the
// completion on one CQ thread (the peer of Tern's io_threads = 1).
#include <grpcpp/grpcpp.h>

#include <thread>
#include <vector>

#include "driver/generator.h"
#include "echo.grpc.pb.h"

namespace bench {
namespace {

class GrpcGenerator : public Generator {
 public:
  GrpcGenerator(const Spec& spec, int port, Recorder& rec) : spec_(spec), port_(port), rec_(rec) {
    payload_.assign(spec.size, 'x');
  }
  ~GrpcGenerator() override { stop(); }

  bool setup() override {
    std::string target = "127.0.0.1:" + std::to_string(port_);
    for (int i = 0; i < spec_.conns; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("bench.channel_index", i);  // distinct args: never share a subchannel
      args.SetMaxReceiveMessageSize(64 << 20);
      args.SetMaxSendMessageSize(64 << 20);
      auto ch = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
      stubs_.push_back(benchecho::Echo::NewStub(ch));
      channels_.push_back(std::move(ch));
    }
    auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
    for (auto& ch : channels_) {
      if (!ch->WaitForConnected(deadline)) {
        error_ = "grpc channel did not connect";
        return false;
      }
    }
    benchecho::EchoMessage req, resp;
    req.set_payload(payload_);
    for (auto& stub : stubs_) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      grpc::Status s = stub->Echo(&ctx, req, &resp);
      if (!s.ok() || resp.payload().size() != spec_.size) {
        error_ = "first grpc echo failed: " + s.error_message();
        return false;
      }
    }
    return true;
  }

  void start() override {
    started_ = true;
    thread_ = std::thread([this] { poll(); });
    for (int i = 0; i < spec_.conns; ++i)
      for (int k = 0; k < spec_.inflight; ++k) issue(i);
  }

  void stop() override {
    if (!started_) return;
    started_ = false;
    issuing_.store(false);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (inflight_.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cq_.Shutdown();
    thread_.join();
  }

  std::uint64_t errors() const override { return errors_.load(); }

 private:
  struct Call {
    grpc::ClientContext ctx;
    benchecho::EchoMessage request, response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<benchecho::EchoMessage>> reader;
    std::uint64_t t0;
    int conn;
  };

  void issue(int conn) {
    auto* c = new Call;
    c->conn = conn;
    c->request.set_payload(payload_);
    c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    c->t0 = now_ns();
    inflight_.fetch_add(1);
    c->reader = stubs_[static_cast<std::size_t>(conn)]->PrepareAsyncEcho(&c->ctx, c->request, &cq_);
    c->reader->StartCall();
    c->reader->Finish(&c->response, &c->status, c);
  }

  void poll() {
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
      auto* c = static_cast<Call*>(tag);
      if (!ok || !c->status.ok() || c->response.payload().size() != spec_.size) errors_.fetch_add(1);
      rec_.done(now_ns() - c->t0);
      int conn = c->conn;
      delete c;
      if (issuing_.load(std::memory_order_relaxed)) issue(conn);
      inflight_.fetch_sub(1);
    }
  }

  Spec spec_;
  int port_;
  Recorder& rec_;
  std::string payload_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<benchecho::Echo::Stub>> stubs_;
  grpc::CompletionQueue cq_;
  std::thread thread_;
  bool started_ = false;
  std::atomic<bool> issuing_{true};
  std::atomic<std::int64_t> inflight_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace

std::unique_ptr<Generator> make_grpc_generator(const Spec& spec, int port, Recorder& rec) {
  return std::make_unique<GrpcGenerator>(spec, port, rec);
}

}  // namespace bench
