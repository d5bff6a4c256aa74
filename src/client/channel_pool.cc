// ChannelPool: the consumer's IO threads, its callback pool and one Channel
// per provider endpoint and wire. See tern/channel.h for the contract.
#include <asio/post.hpp>

#include <algorithm>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "rpc/thread_pool.h"
#include "tern/channel.h"
#include "tern/net/io_context_pool.h"
#include "tern/net/tls_context.h"

namespace tern {

ChannelPool::ChannelPool(std::size_t io_threads, ChannelOptions options, const Clock* clock)
    : io_(std::make_unique<net::IoContextPool>(io_threads, "tern-cli-io")), options_(std::move(options)), clock_(clock) {
  auto policy = dispatch_policy(options_.dispatcher);
  bool needs_pool = false;
  if (policy) {
    for (bool b : policy->on_pool) needs_pool = needs_pool || b;
  }
  if (needs_pool) {
    std::size_t n = options_.callback_threads ? options_.callback_threads
                                              : std::max(1u, std::thread::hardware_concurrency());
    pool_ = std::make_unique<rpc::ThreadPool>(n, 1u << 20, "tern-cli-cb");
  }
  if (options_.tls.enabled) {
    auto ctx = net::TlsContext::create(options_.tls, net::TlsContext::Role::kClient);
    if (ctx) {
      tls_ = std::move(*ctx);
    } else {
      status_ = ctx.status();
    }
  }
  io_->start();
}

ChannelPool::~ChannelPool() { shutdown(); }

std::shared_ptr<Channel> ChannelPool::get(const HostPort& endpoint, std::string_view protocol) {
  std::lock_guard lock(mu_);
  const bool grpc = protocol == "grpc";
  auto key = grpc ? "grpc:" + endpoint.to_string() : endpoint.to_string();
  auto it = channels_.find(key);
  if (it != channels_.end()) return it->second;
  ChannelOptions options = options_;
  options.protocol = grpc ? "grpc" : "tern";
  auto ch = std::make_shared<Channel>(io_->next(), endpoint, std::move(options), pool_.get(), tls_, clock_);
  if (shut_down_) ch->shutdown(Status(StatusCode::kCancelled, "consumer shut down"));
  channels_.emplace(key, ch);
  return ch;
}

ChannelPool::Stats ChannelPool::stats() const {
  std::vector<std::shared_ptr<Channel>> channels;
  {
    std::lock_guard lock(mu_);
    for (auto& entry : channels_) channels.push_back(entry.second);
  }
  Stats st;
  st.channels = channels.size();
  for (auto& c : channels) {
    auto cs = c->stats();
    st.open_connections += c->connected() ? 1 : 0;
    st.pending += cs.pending;
    st.timeouts += cs.timeouts;
    st.late_responses += cs.late_responses;
  }
  return st;
}

void ChannelPool::shutdown() {
  std::unordered_map<std::string, std::shared_ptr<Channel>> chans;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    chans = channels_;
  }
  for (auto& [k, ch] : chans) ch->shutdown(Status(StatusCode::kCancelled, "consumer shut down"));
  // Let the loops run the close handlers (which complete pending calls),
  // twice (the second round: what the first one posted), then stop. The
  // promise is shared: a loop that does not answer within 2 s runs the
  // marker later (or the drain below does), after this frame is gone.
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < io_->size(); ++i) {
      auto done = std::make_shared<std::promise<void>>();
      auto f = done->get_future();
      asio::post(io_->at(i), [done] { done->set_value(); });
      f.wait_for(std::chrono::seconds(2));
    }
  }
  io_->stop();
  if (pool_) pool_->stop(true);  // runs the completions queued on it
  // What the close handlers queued last (a stream's end reaching its waiters
  // and filters, a refused pool hand-off falling back to the loop) would be
  // destroyed unrun with the loops: run it here, on this thread, until the
  // loops are empty. The IO threads are joined, so nothing runs beside it.
  io_->drain();
}

}  // namespace tern
