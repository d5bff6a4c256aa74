// bench/driver/tern_client.cc - Tern load generator, public API only, one
// client IO thread (ClientOptions::io_threads = 1).
//   1 conn x 1 in flight   sync Proxy::call<&Echo::echo>() in a loop
//   1 conn x N in flight   the async core: Reference::invoke() with request
//                          bytes from Proxy::encode(), the next call issued
//                          from the completion (on the client IO thread),
//                          result decoded with Proxy::decode()
//   C conns x 1 in flight  a tern::Client multiplexes everything to one
//                          endpoint over ONE connection, so C distinct
//                          connections are C tern::Channel objects (the
//                          consumer's per-endpoint connection, tern/channel.h)
//                          on the client's single IO loop; requests still come
//                          from Proxy::encode() and results go through
//                          Proxy::decode(). This skips the Reference's
//                          directory + load-balancer pick (one provider here).
#include <thread>
#include <vector>

#include "driver/generator.h"
#include "tern/client.h"
#include "tern/net/io_context_pool.h"  // ChannelPool::io(): the client's loop
#include "common/echo_service.h"

namespace bench {
namespace {

constexpr auto kEcho = &Echo::echo;

class TernGenerator : public Generator {
 public:
  TernGenerator(const Spec& spec, int port, Recorder& rec) : spec_(spec), port_(port), rec_(rec) {
    payload_.assign(spec.size, 'x');
    tern::ClientOptions options;
    options.io_threads = 1;
    client_ = std::make_unique<tern::Client>(options);
  }
  ~TernGenerator() override {
    stop();
    for (auto& ch : channels_) ch->shutdown(tern::Status(tern::StatusCode::kCancelled, "bench over"));
    channels_.clear();
  }

  bool setup() override {
    auto p = client_->refer<Echo>("direct://127.0.0.1:" + std::to_string(port_));
    if (!p) {
      error_ = p.status().to_string();
      return false;
    }
    proxy_ = *p;
    if (!proxy_.reference()->wait_for_providers(std::chrono::seconds(5))) {
      error_ = "no provider";
      return false;
    }
    auto r = proxy_.call<kEcho>(payload_);
    if (!r || r->size() != spec_.size) {
      error_ = "first echo failed: " + (r ? std::string("short") : r.status().to_string());
      return false;
    }
    if (spec_.conns > 1) {
      tern::HostPort hp{"127.0.0.1", static_cast<std::uint16_t>(port_)};
      auto& loop = client_->channels().io().at(0);
      for (int i = 0; i < spec_.conns; ++i)
        channels_.push_back(std::make_shared<tern::Channel>(loop, hp, tern::ChannelOptions{}));
      // One call on each connection (they connect on demand).
      std::atomic<int> left{spec_.conns};
      std::atomic<int> failed{0};
      for (auto& ch : channels_) {
        std::string req;
        (void)proxy_.encode<kEcho>(false, req, payload_);
        ch->call(std::move(req), std::chrono::seconds(10), [&](tern::CallResult&& r) {
          if (!r.status.is_ok()) failed.fetch_add(1);
          left.fetch_sub(1);
        });
      }
      auto deadline = Clock::now() + std::chrono::seconds(15);
      while (left.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (left.load() > 0 || failed.load() > 0) {
        error_ = "connection setup failed (" + std::to_string(failed.load()) + " failed, " +
                 std::to_string(left.load()) + " pending)";
        return false;
      }
    }
    return true;
  }

  void start() override {
    started_ = true;
    if (spec_.conns == 1 && spec_.inflight == 1) {
      thread_ = std::thread([this] {
        inflight_.fetch_add(1);
        while (issuing_.load(std::memory_order_relaxed)) {
          std::uint64_t t0 = now_ns();
          auto r = proxy_.call<kEcho>(payload_);
          if (!r || r->size() != spec_.size) errors_.fetch_add(1);
          rec_.done(now_ns() - t0);
        }
        inflight_.fetch_sub(1);
      });
      return;
    }
    for (int i = 0; i < spec_.conns; ++i)
      for (int k = 0; k < spec_.inflight; ++k) issue(i);
  }

  void stop() override {
    if (!started_) return;
    started_ = false;
    issuing_.store(false);
    if (thread_.joinable()) thread_.join();
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (inflight_.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  std::uint64_t errors() const override { return errors_.load(); }

 private:
  void issue(int conn) {
    std::string req;
    if (!proxy_.encode<kEcho>(false, req, payload_).is_ok()) {
      errors_.fetch_add(1);
      return;
    }
    std::uint64_t t0 = now_ns();
    inflight_.fetch_add(1, std::memory_order_relaxed);
    auto done = [this, conn, t0](tern::CallResult&& r) {
      auto v = proxy_.decode<kEcho>(std::move(r));
      if (!v || v->size() != spec_.size) errors_.fetch_add(1, std::memory_order_relaxed);
      rec_.done(now_ns() - t0);
      if (issuing_.load(std::memory_order_relaxed)) issue(conn);
      inflight_.fetch_sub(1, std::memory_order_relaxed);
    };
    if (channels_.empty()) {
      proxy_.reference()->invoke(tern::MethodTraits<kEcho>::name, std::move(req), std::chrono::milliseconds(0),
                                 std::move(done));
    } else {
      channels_[static_cast<std::size_t>(conn)]->call(std::move(req), std::chrono::seconds(3), std::move(done));
    }
  }

  Spec spec_;
  int port_;
  Recorder& rec_;
  std::string payload_;
  std::unique_ptr<tern::Client> client_;
  tern::Proxy<Echo> proxy_;
  std::vector<std::shared_ptr<tern::Channel>> channels_;
  std::thread thread_;
  bool started_ = false;
  std::atomic<bool> issuing_{true};
  std::atomic<std::int64_t> inflight_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace

std::unique_ptr<Generator> make_tern_generator(const Spec& spec, int port, Recorder& rec) {
  return std::make_unique<TernGenerator>(spec, port, rec);
}

}  // namespace bench
