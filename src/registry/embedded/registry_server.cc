// The embedded registry center: RegistryApi implemented over a Server, with
// connection-owned registrations, heartbeat expiry and pushes.
#include "tern/governance.h"
#include "tern/registry_server.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "base/clock.h"
#include "registry/embedded/registry_server_test_access.h"
#include "registry/embedded/registry_protocol.h"
#include "tern/log.h"
#include "tern/serialization/msgpack_codec.h"
#include "tern/server.h"

namespace tern {

struct RegistryServer::Impl : registry::RegistryApi, std::enable_shared_from_this<RegistryServer::Impl> {
  RegistryServerOptions options;
  // The time of renewals and of the expiry sweep (the constructor's clock).
  Clock* clock = &Clock::steady();
  std::unique_ptr<Server> server;

  struct Registration {
    std::uint64_t connection = 0;
    Clock::time_point renewed;
  };
  mutable std::mutex mu;
  // service -> url -> registration
  std::map<std::string, std::map<std::string, Registration>> providers;
  // service -> consumer url -> registration (never pushed)
  std::map<std::string, std::map<std::string, Registration>> consumers;
  // service -> connection id -> connection
  std::map<std::string, std::map<std::uint64_t, std::weak_ptr<ServerConnection>>> subscribers;
  // Dynamic configuration: service -> document (memory only; entries stay
  // after a remove, exists = false, so their revision keeps growing).
  std::map<std::string, registry::ConfigEntry> configs;
  // Change counter of every document; guarded by mu. It starts at the
  // registry's start time in microseconds, so revisions keep growing across
  // a restart of the registry too (unless the clock went back).
  std::uint64_t config_revision = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::map<std::string, std::map<std::uint64_t, std::weak_ptr<ServerConnection>>> config_watchers;

  const std::uint64_t epoch = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
  std::uint64_t revision = 0;                      // guarded by mu
  std::map<std::string, std::uint64_t> revisions;  // service -> revision of its last change

  std::thread sweeper;
  std::condition_variable sweep_cv;
  bool stopping = false;

  static std::shared_ptr<ServerConnection> caller() {
    auto* ctx = ServerContext::current();
    return ctx ? ctx->connection() : nullptr;
  }

  std::vector<std::string> list_locked(const std::string& service) const {
    std::vector<std::string> out;
    auto it = providers.find(service);
    if (it != providers.end()) {
      for (auto& [url, r] : it->second) out.push_back(url);
    }
    return out;
  }

  registry::ProviderList snapshot_locked(const std::string& service) const {
    registry::ProviderList l;
    l.epoch = epoch;
    auto it = revisions.find(service);
    l.revision = it == revisions.end() ? 0 : it->second;
    l.urls = list_locked(service);
    return l;
  }

  // Pushes the current list of `service` to its subscribers. Called with mu
  // held, so pushes leave in the order of the changes.
  void publish_locked(const std::string& service) {
    // Shutting down: connections close in any order, and the removals that
    // causes are ours, not the providers'. Pushing them would tell consumers
    // still connected that live providers are gone (they keep their lists).
    if (stopping) return;
    revisions[service] = ++revision;
    auto list = snapshot_locked(service);
    if (options.on_change) options.on_change(service, list.urls);
    auto it = subscribers.find(service);
    if (it == subscribers.end()) return;
    protocol::FrameBuilder b(protocol::FrameType::kPush, 0);
    b.header().serialization = serialization::MsgpackCodec::kId;
    b.add_meta(protocol::meta_keys::kService, registry::kServiceName);
    b.add_meta("event", registry::kPushEvent);
    b.add_meta("topic", service);
    b.begin_body();
    serialization::MsgpackCodec::encode_value(b, list);
    std::string frame = b.finish();
    for (auto sit = it->second.begin(); sit != it->second.end();) {
      if (auto c = sit->second.lock(); c && c->is_open()) {
        c->push(frame);
        ++sit;
      } else {
        sit = it->second.erase(sit);
      }
    }
  }

  static void check_config_service(const std::string& service) {
    if (service.empty()) throw RpcError(Status(StatusCode::kInvalidArgument, "empty service name"));
    if (service.size() > 1024) throw RpcError(Status(StatusCode::kInvalidArgument, "service name over 1024 bytes"));
    for (unsigned char c : service) {
      if (c < 0x20 || c == 0x7f) {
        throw RpcError(Status(StatusCode::kInvalidArgument, "service name with a control character"));
      }
    }
  }

  registry::ConfigEntry config_locked(const std::string& service) const {
    auto it = configs.find(service);
    registry::ConfigEntry e = it == configs.end() ? registry::ConfigEntry{} : it->second;
    e.epoch = epoch;
    return e;
  }

  // Records a change of `service`'s document and pushes it to its watchers;
  // mu held, so pushes leave in the order of the changes.
  registry::ConfigEntry change_config_locked(const std::string& service, bool exists, std::string text) {
    auto& e = configs[service];
    e.revision = ++config_revision;
    e.exists = exists;
    e.text = std::move(text);
    auto entry = config_locked(service);
    auto it = config_watchers.find(service);
    if (it == config_watchers.end()) return entry;
    protocol::FrameBuilder b(protocol::FrameType::kPush, 0);
    b.header().serialization = serialization::MsgpackCodec::kId;
    b.add_meta(protocol::meta_keys::kService, registry::kServiceName);
    b.add_meta("event", registry::kConfigEvent);
    b.add_meta("topic", service);
    b.begin_body();
    serialization::MsgpackCodec::encode_value(b, entry);
    std::string frame = b.finish();
    for (auto wit = it->second.begin(); wit != it->second.end();) {
      if (auto c = wit->second.lock(); c && c->is_open()) {
        c->push(frame);
        ++wit;
      } else {
        wit = it->second.erase(wit);
      }
    }
    return entry;
  }

  registry::ConfigEntry set_config(std::string service, std::string text) override {
    check_config_service(service);
    // Checked here too: the registry's own API is reachable without `tern config`.
    if (text.size() > kMaxGovernanceDocument) {
      throw RpcError(Status(StatusCode::kInvalidArgument,
                            "configuration document of " + std::to_string(text.size()) +
                                " bytes is over the limit of " + std::to_string(kMaxGovernanceDocument) + " bytes"));
    }
    std::lock_guard lock(mu);
    return change_config_locked(service, true, std::move(text));
  }

  registry::ConfigEntry remove_config(std::string service) override {
    check_config_service(service);
    std::lock_guard lock(mu);
    auto it = configs.find(service);
    if (it == configs.end() || !it->second.exists) return config_locked(service);  // nothing to remove
    return change_config_locked(service, false, std::string());
  }

  registry::ConfigEntry get_config(std::string service) override {
    check_config_service(service);
    std::lock_guard lock(mu);
    return config_locked(service);
  }

  registry::ConfigEntry watch_config(std::string service) override {
    check_config_service(service);
    auto conn = caller();
    std::lock_guard lock(mu);
    if (conn) config_watchers[service][conn->id()] = conn;
    return config_locked(service);
  }

  bool unwatch_config(std::string service) override {
    auto conn = caller();
    std::lock_guard lock(mu);
    auto it = config_watchers.find(service);
    return conn && it != config_watchers.end() && it->second.erase(conn->id()) > 0;
  }

  bool register_provider(std::string text) override {
    auto url = Url::parse(text);
    if (!url || url->path().empty() || url->hosts().empty()) {
      throw RpcError(Status(StatusCode::kInvalidArgument, "not a provider URL: " + text));
    }
    auto conn = caller();
    std::lock_guard lock(mu);
    auto& regs = providers[url->path()];
    auto canonical = url->to_string();
    bool added = regs.find(canonical) == regs.end();
    regs[canonical] = Registration{conn ? conn->id() : 0, clock->now()};
    if (added) publish_locked(url->path());
    return added;
  }

  bool unregister_provider(std::string text) override {
    auto url = Url::parse(text);
    if (!url) throw RpcError(url.status());
    std::lock_guard lock(mu);
    auto it = providers.find(url->path());
    if (it == providers.end() || it->second.erase(url->to_string()) == 0) return false;
    if (it->second.empty()) providers.erase(it);
    publish_locked(url->path());
    return true;
  }

  bool register_consumer(std::string text) override {
    auto url = Url::parse(text);
    if (!url || url->path().empty() || url->hosts().empty()) {
      throw RpcError(Status(StatusCode::kInvalidArgument, "not a consumer URL: " + text));
    }
    auto conn = caller();
    std::lock_guard lock(mu);
    auto& regs = consumers[url->path()];
    auto canonical = url->to_string();
    bool added = regs.find(canonical) == regs.end();
    regs[canonical] = Registration{conn ? conn->id() : 0, clock->now()};
    return added;
  }

  bool unregister_consumer(std::string text) override {
    auto url = Url::parse(text);
    if (!url) throw RpcError(url.status());
    std::lock_guard lock(mu);
    auto it = consumers.find(url->path());
    if (it == consumers.end() || it->second.erase(url->to_string()) == 0) return false;
    if (it->second.empty()) consumers.erase(it);
    return true;
  }

  std::vector<std::string> list_consumers(std::string service) override {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    if (auto it = consumers.find(service); it != consumers.end()) {
      for (auto& entry : it->second) out.push_back(entry.first);
    }
    return out;
  }

  registry::ProviderList subscribe(std::string service) override {
    auto conn = caller();
    std::lock_guard lock(mu);
    if (conn) subscribers[service][conn->id()] = conn;
    return snapshot_locked(service);
  }

  bool unsubscribe(std::string service) override {
    auto conn = caller();
    std::lock_guard lock(mu);
    auto it = subscribers.find(service);
    return conn && it != subscribers.end() && it->second.erase(conn->id()) > 0;
  }

  registry::ProviderList lookup(std::string service) override {
    std::lock_guard lock(mu);
    return snapshot_locked(service);
  }

  std::vector<std::string> list_services() override {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (auto& [s, regs] : providers) {
      if (!regs.empty()) out.push_back(s);
    }
    return out;
  }

  int heartbeat() override {
    auto conn = caller();
    if (!conn) return 0;
    auto now = clock->now();
    int n = 0;
    std::lock_guard lock(mu);
    for (auto& [s, regs] : providers) {
      for (auto& [u, r] : regs) {
        if (r.connection == conn->id()) {
          r.renewed = now;
          ++n;
        }
      }
    }
    for (auto& service : consumers) {
      for (auto& entry : service.second) {
        if (entry.second.connection == conn->id()) {
          entry.second.renewed = now;
          ++n;
        }
      }
    }
    return n;
  }

  // Removes registrations matching `pred`, publishing each changed service.
  template <typename Pred>
  void remove_where(Pred pred, const char* why) {
    std::lock_guard lock(mu);
    for (auto sit = consumers.begin(); sit != consumers.end();) {
      for (auto it = sit->second.begin(); it != sit->second.end();) {
        if (pred(it->second)) {
          TERN_LOG(kInfo, "registry: removing consumer {} ({})", it->first, why);
          it = sit->second.erase(it);
        } else {
          ++it;
        }
      }
      sit = sit->second.empty() ? consumers.erase(sit) : std::next(sit);
    }
    for (auto sit = providers.begin(); sit != providers.end();) {
      bool changed = false;
      for (auto it = sit->second.begin(); it != sit->second.end();) {
        if (pred(it->second)) {
          TERN_LOG(kInfo, "registry: removing {} ({})", it->first, why);
          it = sit->second.erase(it);
          changed = true;
        } else {
          ++it;
        }
      }
      std::string service = sit->first;
      if (sit->second.empty()) {
        sit = providers.erase(sit);
      } else {
        ++sit;
      }
      if (changed) publish_locked(service);
    }
  }

  void connection_closed(std::uint64_t id) {
    bool shutting_down;
    {
      std::lock_guard lock(mu);
      shutting_down = stopping;
    }
    // While the registry shuts down, its clients close their connections
    // (after the goaway): that says nothing about the providers, so it is not
    // published (consumers keep their lists for the registry's successor).
    if (!shutting_down) {
      remove_where([id](const Registration& r) { return r.connection == id; }, "its connection closed");
    }
    std::lock_guard lock(mu);
    for (auto& [s, subs] : subscribers) subs.erase(id);
    for (auto& entry : config_watchers) entry.second.erase(id);
  }

  // Every heartbeat_interval (on the clock), removes the registrations not
  // renewed for more than 3 intervals.
  void sweep_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      clock->wait_until(sweep_cv, lock, clock->now() + options.heartbeat_interval, [this] { return stopping; });
      if (stopping) break;
      lock.unlock();
      auto limit = clock->now() - 3 * options.heartbeat_interval;
      remove_where([limit](const Registration& r) { return r.renewed < limit; }, "3 heartbeats missed");
      lock.lock();
    }
  }
};

RegistryServer::RegistryServer(RegistryServerOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
}

void RegistryServerTestAccess::set_clock(RegistryServer& server, Clock& clock) { server.impl_->clock = &clock; }

RegistryServer::~RegistryServer() { shutdown(); }

Status RegistryServer::start() {
  ServerOptions so;
  so.listen = impl_->options.listen;
  so.io_threads = impl_->options.io_threads;
  so.worker_threads = 2;
  so.heartbeat_interval = impl_->options.heartbeat_interval;
  so.tls = impl_->options.tls;
  so.tracing = false;  // registry traffic is not the application's trace
  impl_->server = std::make_unique<Server>(so);
  // The Impl is the service; the server (owned by the Impl) holds it
  // without owning it, so there is no reference cycle.
  std::shared_ptr<registry::RegistryApi> api(static_cast<registry::RegistryApi*>(impl_.get()),
                                             [](registry::RegistryApi*) {});
  Status s = impl_->server->expose<registry::RegistryApi>(api);
  if (!s.is_ok()) return s;
  std::weak_ptr<Impl> weak = impl_;
  impl_->server->on_disconnect([weak](std::uint64_t id) {
    if (auto self = weak.lock()) self->connection_closed(id);
  });
  s = impl_->server->start();
  if (!s.is_ok()) return s;
  impl_->sweeper = std::thread([self = impl_.get()] { self->sweep_loop(); });
  return Status();
}

std::uint16_t RegistryServer::port() const noexcept { return impl_->server ? impl_->server->port() : 0; }

void RegistryServer::shutdown() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->sweep_cv.notify_all();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
  if (impl_->server) impl_->server->shutdown(std::chrono::milliseconds(200));
}

void RegistryServer::wait() {
  if (impl_->server) impl_->server->wait();
}

std::vector<std::string> RegistryServer::providers(const std::string& service) const {
  std::lock_guard lock(impl_->mu);
  return impl_->list_locked(service);
}

}  // namespace tern
