// Client: the consumer runtime (channels + registries) and reference creation.
#include "tern/client.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "proxy/client_core.h"
#include "tern/log.h"
#include "tern/net/io_context_pool.h"
#include "tern/provider.h"

namespace tern {

namespace {

// The threads that finish the shutdown of Clients destroyed on their own IO
// threads (~Client below). They run detached, counted here, and the
// process's exit waits for them (up to kExitWait): a program that returns
// from main() right after does not destroy what a shutdown still uses (the
// logger, OpenSSL, the registries' factory tables) under it. The wait is an
// atexit hook registered at the first hand-off, so it runs before the
// destructors of the statics built until then (atexit order). It does not
// wait on a Tern IO thread or a shutdown thread (exit() there would wait for
// itself), nor in a child forked meanwhile. The table is never destroyed, so
// a Client destroyed during static destruction still finds it.
class ShutdownThreads {
 public:
  static constexpr auto kExitWait = std::chrono::seconds(10);

  static ShutdownThreads& get() {
    static auto* threads = new ShutdownThreads();  // immortal (see above)
    return *threads;
  }

  void run(std::shared_ptr<ClientCore> core) {
    {
      std::lock_guard lock(mu_);
      if (!hooked_) {
        hooked_ = true;
        std::atexit(&ShutdownThreads::at_exit);
      }
      ++running_;
    }
    std::thread([this, core = std::move(core)]() mutable {
      t_shutdown_thread = true;
      core->channels.shutdown();
      core.reset();  // the Client's last owner, usually
      std::lock_guard lock(mu_);
      --running_;
      cv_.notify_all();
    }).detach();
  }

 private:
  ShutdownThreads() = default;
  static void at_exit() { get().wait_all(); }
  void wait_all() {
    if (t_shutdown_thread || net::IoContextPool::in_io_thread() || ::getpid() != pid_) return;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kExitWait, [&] { return running_ == 0; });
  }

  static thread_local bool t_shutdown_thread;
  const pid_t pid_ = ::getpid();
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;     // guarded by mu_
  bool hooked_ = false;  // guarded by mu_
};
thread_local bool ShutdownThreads::t_shutdown_thread = false;

}  // namespace

Client::Client(ClientOptions options) : core_(std::make_shared<ClientCore>(std::move(options))) {}

Result<std::unique_ptr<Client>> Client::create(ClientOptions options) {
  auto client = std::make_unique<Client>(std::move(options));
  if (Status s = client->status(); !s.is_ok()) return s;
  return client;
}

Status Client::status() const { return core_->channels.status(); }

Client::~Client() {
  core_->close_stream_ops();  // streams outliving the Client fail at once from here on
  if (core_->channels.io().owns_current_thread()) {
    // Destroyed inside one of its own completions, on one of its IO threads,
    // which cannot join itself: the shutdown runs on a thread of its own once
    // this completion has returned, and this destructor returns at once. The
    // process's exit waits for that thread (ShutdownThreads).
    ShutdownThreads::get().run(std::move(core_));
    return;
  }
  core_->channels.shutdown();
}

ChannelPool& Client::channels() noexcept { return core_->channels; }

Result<std::shared_ptr<Registry>> Client::registry(std::string_view url_text) {
  if (Status s = status(); !s.is_ok()) return s;
  std::lock_guard lock(core_->mu);
  auto key = std::string(url_text);
  auto it = core_->registries.find(key);
  if (it != core_->registries.end()) return it->second;
  auto url = Url::parse(url_text);
  if (!url) return url.status();
  auto reg = create_registry_any(*url, core_->options.registry);
  if (!reg) return reg.status();
  core_->registries.emplace(key, *reg);
  return *reg;
}

Result<std::shared_ptr<Reference>> Client::reference(const std::string& service, std::string_view registry_url,
                                                     ReferenceOptions options) {
  if (Status s = status(); !s.is_ok()) return s;
  auto core = std::make_shared<ReferenceCore>();
  core->client = core_;
  core->service = service;
  core->options = std::move(options);
  if (!serialization::serialization_id(core->options.serialization, &core->serialization_id)) {
    return Status(StatusCode::kInvalidArgument, "unknown serialization '" + core->options.serialization + "'");
  }
  if (Status s = ReferenceCore::validate(core->options); !s.is_ok()) return s;
  auto compression = protocol::parse_compression(core->options.compression);
  if (!compression) return compression.status();
  core->compression = *compression;
  auto base = std::make_shared<CallPolicy>();
  base->timeout = core->options.timeout;
  base->retries = core->options.retries;
  base->load_balance = core->options.load_balance;
  cluster::LoadBalancerOptions lbo;
  lbo.seed = core->options.seed;
  lbo.warmup = core->options.warmup;
  auto lb = cluster::create_load_balancer(core->options.load_balance, lbo);
  if (!lb) return lb.status();
  base->lb = std::move(*lb);
  base->routes = core->options.routes;
  cluster::RouterOptions ro;
  ro.seed = core->options.seed;
  auto routers = cluster::RouterChain::create(core->options.routes, ro);
  if (!routers) return routers.status();
  base->routers = std::make_shared<const cluster::RouterChain>(std::move(*routers));
  core->base_policy = base;
  {
    auto empty = std::make_shared<Directory>();
    empty->policy = core->base_policy;
    core->directory = std::move(empty);  // never null from here on
  }
  // The consumer as routers see it (read on every call, so set before
  // the directory can serve one).
  Url consumer_url = make_consumer_url(service, core_->options.application, core->options);
  core->consumer_application = consumer_url.param("application");
  core->consumer_host = consumer_url.host_port().host;
  auto reg = registry(registry_url);
  if (!reg) return reg.status();
  core->registry = *reg;
  if (core->options.contract_check != "off") {
    core->contract = decode_contracts(core->options.expected_contract);
    core->contract_strict = core->options.contract_check == "strict";
  }
  // Seed the directory synchronously so the first call need not wait for a
  // push; every later push (a full snapshot) replaces it. The same for the
  // service's configuration document (docs/governance.md), so the first call
  // already follows it; a registry without dynamic configuration answers
  // UNIMPLEMENTED and the reference keeps its own options.
  if (auto initial = core->registry->lookup(service); initial.has_value()) core->on_providers(*initial);
  if (auto document = core->registry->get_config(service); document.has_value()) core->on_config(*document);
  if (core->contract_strict) {
    std::lock_guard lock(core->mu);
    if (!core->contract_excluded.empty()) {
      return Status(StatusCode::kFailedPrecondition, "contract mismatch for service '" + service + "' (contract_check=strict): " + core->contract_excluded);
    }
  }
  std::weak_ptr<ReferenceCore> weak = core;
  auto sub = core->registry->subscribe(service, [weak](const std::string&, const std::vector<Url>& urls) {
    if (auto c = weak.lock()) c->on_providers(urls);
  });
  if (!sub) return sub.status();
  core->subscription = *sub;
  auto watch = core->registry->watch_config(service, [weak](const std::string&, const ConfigDocument& document) {
    if (auto c = weak.lock()) c->on_config(document);
  });
  if (watch) {
    core->config_watch = *watch;
  } else if (watch.status().code() != StatusCode::kUnimplemented) {
    TERN_LOG(kWarn, "cannot watch the configuration of {} ({}); the reference keeps its own options", service,
             watch.status().to_string());
  }
  core->consumer = std::make_unique<ConsumerRegistration>(core->registry, std::move(consumer_url));
  return std::shared_ptr<Reference>(new Reference(std::move(core)));
}

}  // namespace tern
