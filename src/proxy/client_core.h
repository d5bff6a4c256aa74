// src/proxy/client_core.h - shared state behind Client and Reference (internal).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tern/channel.h"
#include "tern/client.h"
#include "tern/cluster/invoker.h"
#include "tern/cluster/load_balancer.h"
#include "tern/reference.h"

namespace tern {

struct ClientCore {
  explicit ClientCore(ClientOptions o) : options(std::move(o)), channels(options.io_threads, options.channel) {}
  ClientOptions options;
  ChannelPool channels;
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Registry>> registries;  // by URL text
};

// One provider endpoint of one reference: the cluster's view of a channel.
class EndpointInvoker final : public cluster::Invoker {
 public:
  EndpointInvoker(Url url, std::shared_ptr<Channel> channel);
  const Url& url() const override { return url_; }
  const std::string& id() const override { return id_; }
  int weight() const override { return weight_; }
  std::chrono::steady_clock::time_point discovered_at() const override { return discovered_; }
  cluster::InvokerStats& stats() override { return stats_; }
  bool available() const override;
  const std::shared_ptr<Channel>& channel() const noexcept { return channel_; }

 private:
  Url url_;
  std::string id_;
  int weight_ = 100;
  std::shared_ptr<Channel> channel_;
  std::chrono::steady_clock::time_point discovered_;
  cluster::InvokerStats stats_;
};

// The live provider list: an immutable snapshot swapped on every registry push.
struct Directory {
  std::vector<std::shared_ptr<EndpointInvoker>> owners;
  std::vector<cluster::Invoker*> ptrs;  // same order, for the load balancer
};

struct CallAttempt;

struct ReferenceCore : std::enable_shared_from_this<ReferenceCore> {
  std::shared_ptr<ClientCore> client;
  std::string service;
  ReferenceOptions options;
  std::uint8_t serialization_id = 3;
  std::shared_ptr<Registry> registry;
  SubscriptionId subscription = 0;
  std::unique_ptr<cluster::LoadBalancer> lb;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::shared_ptr<const Directory> directory;  // guarded by mu

  void on_providers(const std::vector<Url>& urls);
  std::shared_ptr<const Directory> snapshot() const;
  static void start_attempt(std::unique_ptr<CallAttempt> attempt, Status last_error);
  static void finish(std::unique_ptr<CallAttempt> attempt, CallResult&& result);
};

}  // namespace tern
