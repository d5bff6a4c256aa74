// bench/grpc/grpc_echo_server.cc - gRPC C++ unary echo service on the async
// (CompletionQueue) API, served by ONE completion-queue thread (the peer of
// Tern's io_threads = 1). Prints "PORT <n>" and serves until SIGTERM.
// Also serves EchoStream.Firehose (server streaming): `size`-byte messages,
// one Write outstanding at a time (the async API's rule), until the client
// cancels.
// gRPC also runs a few internal threads (timer manager, executor) we cannot
// turn off; their CPU is counted with the server's.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "common/bench_common.h"
#include "echo.grpc.pb.h"

namespace {

std::atomic<bool> g_stop{false};
void on_term(int) { g_stop = true; }

// A completion-queue tag.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void proceed(bool ok) = 0;
};

class CallData : public Tag {
 public:
  CallData(benchecho::Echo::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), responder_(&ctx_) {
    service_->RequestEcho(&ctx_, &request_, &responder_, cq_, cq_, this);
  }
  void proceed(bool ok) override {
    if (state_ == kProcess) {
      new CallData(service_, cq_);  // keep a request posted
      if (!ok) {
        delete this;
        return;
      }
      state_ = kFinish;
      responder_.Finish(request_, grpc::Status::OK, this);  // echo
    } else {
      delete this;
    }
  }

 private:
  benchecho::Echo::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  benchecho::EchoMessage request_;
  grpc::ServerAsyncResponseWriter<benchecho::EchoMessage> responder_;
  enum { kProcess, kFinish } state_ = kProcess;
};

class StreamCallData : public Tag {
 public:
  StreamCallData(benchecho::EchoStream::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), writer_(&ctx_) {
    service_->RequestFirehose(&ctx_, &request_, &writer_, cq_, cq_, this);
  }
  void proceed(bool ok) override {
    if (!started_) {
      started_ = true;
      new StreamCallData(service_, cq_);
      if (!ok) {
        delete this;
        return;
      }
      message_.set_payload(std::string(request_.size(), 'x'));
    } else if (!ok) {  // the client went away (it cancels at the end of the run)
      delete this;
      return;
    }
    writer_.Write(message_, this);
  }

 private:
  benchecho::EchoStream::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  benchecho::StreamRequest request_;
  benchecho::EchoMessage message_;
  grpc::ServerAsyncWriter<benchecho::EchoMessage> writer_;
  bool started_ = false;
};

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  bench::raise_fd_limit();
  benchecho::Echo::AsyncService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(&service);
  benchecho::EchoStream::AsyncService stream_service;
  builder.RegisterService(&stream_service);
  auto cq = builder.AddCompletionQueue();
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "grpc server failed to start\n");
    return 1;
  }
  // Several requests posted at once so many connections can start calls
  // without waiting for a re-post (as gRPC's own qps benchmark server does).
  for (int i = 0; i < 256; ++i) new CallData(&service, cq.get());
  new StreamCallData(&stream_service, cq.get());
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  std::printf("PORT %d\n", port);
  std::fflush(stdout);
  std::thread stopper([&] {
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // The measurement is over when we are told to stop: leave at once.
    std::_Exit(0);
  });
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) {
    static_cast<Tag*>(tag)->proceed(ok);
  }
  stopper.join();
  return 0;
}
