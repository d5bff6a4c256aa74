// bench/driver/stream_clients.cc - the streaming benchmark's consumers
// (stream16 / stream64k): each opens ONE server stream, asks for `size`-byte
// messages and counts every message it receives (Recorder::done(0)) until
// stop(), which ends the stream from the consumer side.
//   raw   a blocking thread reads 256 KiB chunks from raw_stream_server and
//         walks the [4-byte length][payload] framing
//   grpc  gRPC C++ sync ClientReader on EchoStream.Firehose, Read() in a loop
//         (the thread polls the call's own completion queue), TryCancel at stop
//   tern  tern::open_stream on BenchStream.firehose (raw bytes, no codec), a
//         read() chain of callbacks on the client's one IO thread; cancel at stop
#include <grpcpp/grpcpp.h>

#include <thread>

#include "driver/generator.h"
#include "echo.grpc.pb.h"
#include "tern/client.h"
#include "tern/stream.h"

namespace bench {
namespace {

class RawStreamGenerator : public Generator {
 public:
  RawStreamGenerator(const Spec& spec, int port, Recorder& rec) : spec_(spec), port_(port), rec_(rec) {}
  ~RawStreamGenerator() override {
    stop();
    if (fd_ >= 0) close(fd_);
  }

  bool setup() override {
    fd_ = connect_loopback(port_, false);
    if (fd_ < 0) {
      error_ = "connect failed";
      return false;
    }
    auto n = static_cast<std::uint32_t>(spec_.size);
    unsigned char hdr[4] = {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
                            static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
    if (::send(fd_, hdr, 4, MSG_NOSIGNAL) != 4) {
      error_ = "send failed";
      return false;
    }
    return true;
  }

  void start() override {
    thread_ = std::thread([this] {
      std::vector<char> buf(256u << 10);
      std::size_t hdr_have = 0;  // bytes of the current length prefix read
      unsigned char hdr[4];
      std::size_t body_left = 0;  // payload bytes of the current message still to come
      while (running_.load(std::memory_order_relaxed)) {
        ssize_t r = ::recv(fd_, buf.data(), buf.size(), 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        const char* p = buf.data();
        std::size_t n = static_cast<std::size_t>(r);
        while (n > 0) {
          if (body_left == 0 && hdr_have < 4) {
            std::size_t k = std::min<std::size_t>(4 - hdr_have, n);
            std::memcpy(hdr + hdr_have, p, k);
            hdr_have += k;
            p += k;
            n -= k;
            if (hdr_have < 4) break;
            std::size_t len = (std::size_t{hdr[0]} << 24) | (std::size_t{hdr[1]} << 16) |
                              (std::size_t{hdr[2]} << 8) | std::size_t{hdr[3]};
            if (len != spec_.size) errors_.fetch_add(1, std::memory_order_relaxed);
            body_left = len;
            if (body_left == 0) {
              hdr_have = 0;
              rec_.done(0);
            }
            continue;
          }
          std::size_t k = std::min(body_left, n);
          p += k;
          n -= k;
          body_left -= k;
          if (body_left == 0) {
            hdr_have = 0;
            rec_.done(0);
          }
        }
      }
    });
  }

  void stop() override {
    if (!thread_.joinable()) return;
    running_.store(false);
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
  }

  std::uint64_t errors() const override { return errors_.load(); }

 private:
  Spec spec_;
  int port_;
  Recorder& rec_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{true};
  std::atomic<std::uint64_t> errors_{0};
};

class GrpcStreamGenerator : public Generator {
 public:
  GrpcStreamGenerator(const Spec& spec, int port, Recorder& rec) : spec_(spec), port_(port), rec_(rec) {}
  ~GrpcStreamGenerator() override { stop(); }

  bool setup() override {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials(), args);
    if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      error_ = "grpc channel did not connect";
      return false;
    }
    stub_ = benchecho::EchoStream::NewStub(channel_);
    benchecho::StreamRequest req;
    req.set_size(static_cast<std::uint32_t>(spec_.size));
    reader_ = stub_->Firehose(&ctx_, req);
    benchecho::EchoMessage m;
    if (!reader_->Read(&m) || m.payload().size() != spec_.size) {
      error_ = "first streamed message missing";
      return false;
    }
    return true;
  }

  void start() override {
    thread_ = std::thread([this] {
      benchecho::EchoMessage m;
      while (running_.load(std::memory_order_relaxed) && reader_->Read(&m)) {
        if (m.payload().size() != spec_.size) errors_.fetch_add(1, std::memory_order_relaxed);
        rec_.done(0);
      }
    });
  }

  void stop() override {
    if (!thread_.joinable()) return;
    running_.store(false);
    ctx_.TryCancel();
    thread_.join();
    (void)reader_->Finish();
  }

  std::uint64_t errors() const override { return errors_.load(); }

 private:
  Spec spec_;
  int port_;
  Recorder& rec_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<benchecho::EchoStream::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<benchecho::EchoMessage>> reader_;
  std::thread thread_;
  std::atomic<bool> running_{true};
  std::atomic<std::uint64_t> errors_{0};
};

class TernStreamGenerator : public Generator {
 public:
  TernStreamGenerator(const Spec& spec, int port, Recorder& rec) : spec_(spec), port_(port), rec_(rec) {
    tern::ClientOptions options;
    options.io_threads = 1;
    client_ = std::make_unique<tern::Client>(options);
  }
  ~TernStreamGenerator() override {
    stop();
    stream_.reset();
  }

  bool setup() override {
    tern::ReferenceOptions ro;
    ro.timeout = std::chrono::hours(1);  // the stream's deadline: longer than any run
    auto ref = client_->reference("BenchStream", "direct://127.0.0.1:" + std::to_string(port_), ro);
    if (!ref) {
      error_ = ref.status().to_string();
      return false;
    }
    ref_ = *ref;
    if (!ref_->wait_for_providers(std::chrono::seconds(5))) {
      error_ = "no provider";
      return false;
    }
    auto s = tern::open_stream(*ref_, "firehose");
    if (!s) {
      error_ = s.status().to_string();
      return false;
    }
    stream_ = *s;
    std::promise<bool> first;
    stream_->write(std::to_string(spec_.size), [this, &first](tern::Status st) {
      if (!st.is_ok()) return first.set_value(false);
      stream_->writes_done([](tern::Status) {});
      stream_->read([&first, this](std::optional<std::string> m, tern::Status) {
        first.set_value(m && m->size() == spec_.size);
      });
    });
    auto f = first.get_future();
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready || !f.get()) {
      error_ = "first streamed message missing";
      return false;
    }
    return true;
  }

  void start() override {
    started_ = true;
    read_next();
  }

  void stop() override {
    if (!started_) return;
    started_ = false;
    running_.store(false);
    stream_->cancel(tern::Status(tern::StatusCode::kCancelled, "bench over"));
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!ended_.load() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  std::uint64_t errors() const override { return errors_.load(); }

 private:
  void read_next() {
    stream_->read([this](std::optional<std::string> m, tern::Status st) {
      if (!m) {
        if (!st.is_ok() && running_.load()) errors_.fetch_add(1);
        ended_.store(true);
        return;
      }
      if (m->size() != spec_.size) errors_.fetch_add(1, std::memory_order_relaxed);
      rec_.done(0);
      // Messages already received are taken at once (the completion runs on
      // the IO thread), as co_await on a typed ClientStream does.
      while (running_.load(std::memory_order_relaxed)) {
        auto more = stream_->try_read_now();
        if (!more) break;
        if (more->size() != spec_.size) errors_.fetch_add(1, std::memory_order_relaxed);
        rec_.done(0);
      }
      if (running_.load(std::memory_order_relaxed)) read_next();
      else ended_.store(true);
    });
  }

  Spec spec_;
  int port_;
  Recorder& rec_;
  std::unique_ptr<tern::Client> client_;
  std::shared_ptr<tern::Reference> ref_;
  std::shared_ptr<tern::RawStream> stream_;
  bool started_ = false;
  std::atomic<bool> running_{true}, ended_{false};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace

std::unique_ptr<Generator> make_raw_stream_generator(const Spec& spec, int port, Recorder& rec) {
  return std::make_unique<RawStreamGenerator>(spec, port, rec);
}
std::unique_ptr<Generator> make_grpc_stream_generator(const Spec& spec, int port, Recorder& rec) {
  return std::make_unique<GrpcStreamGenerator>(spec, port, rec);
}
std::unique_ptr<Generator> make_tern_stream_generator(const Spec& spec, int port, Recorder& rec) {
  return std::make_unique<TernStreamGenerator>(spec, port, rec);
}

}  // namespace bench
