// `tern://` registry backend; see embedded_registry.h.
#include "registry/embedded/embedded_registry.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "registry/common/reconnect_loop.h"
#include "registry/common/watched_book.h"
#include "registry/embedded/registry_protocol.h"
#include "registry/listener_dispatcher.h"
#include "tern/client.h"
#include "tern/log.h"

namespace tern {
namespace {

using Api = registry::RegistryApi;

class EmbeddedRegistry final : public Registry, public std::enable_shared_from_this<EmbeddedRegistry> {
 public:
  EmbeddedRegistry(Url address, RegistryOptions options, Clock& clock)
      : address_(std::move(address)),
        options_(options),
        clock_(clock),
        providers_([this](const std::string& service, const ListenerDispatcher::Snapshot& list) {
          dispatcher_.push_all(service, list);
        }),
        configs_([this](const std::string& service, const ConfigDocument& document) {
          dispatcher_.push_config_all(service, document);
        }),
        loop_(BackoffPolicy{options.initial_backoff, options.max_backoff},
              [this](const ReconnectLoop::Pass&) { return heartbeat_pass(); }, clock) {
    ClientOptions co;
    co.io_threads = 1;
    // Faster than the default 10 s so a frozen registry is noticed quickly.
    co.channel.heartbeat_interval = options_.heartbeat_interval;
    co.channel.connect_timeout = options_.request_timeout;
    co.channel.tls = options_.tls;
    co.tracing = false;  // registry traffic is not the application's trace
    client_ = std::make_unique<Client>(co);
  }

  Status init() {
    std::string direct = "direct://" + address_.address();
    ReferenceOptions ro;
    ro.timeout = options_.request_timeout;
    ro.cluster = "failfast";
    auto proxy = client_->refer<Api>(direct, ro);
    if (!proxy) return proxy.status();
    api_ = *proxy;
    channel_ = client_->channels().get(address_.host_port());
    seen_connects_ = channel_->stats().connects;
    std::weak_ptr<EmbeddedRegistry> weak = weak_from_this();
    channel_->set_push_handler([weak](const protocol::Frame& f) {
      if (auto self = weak.lock()) self->on_push(f);
    });
    loop_.start(options_.heartbeat_interval);  // init() and subscribe() make the first contact themselves
    return Status();
  }

  ~EmbeddedRegistry() override {
    loop_.stop();
    // Best effort: tell the registry at once rather than waiting for the
    // connection to close (it closes right after anyway).
    client_.reset();
  }

  // Why a request to the registry failed: UNAVAILABLE "registry unreachable:
  // ...", or UNIMPLEMENTED when the address answered as a Tern provider
  // without the registry service (a provider's port given as the registry).
  Status request_error(const Status& s) const {
    if (s.code() == StatusCode::kUnimplemented) {
      return Status(StatusCode::kUnimplemented,
                    address_.address() + " is not a Tern registry (it answered: " + s.message() + ")");
    }
    return Status(StatusCode::kUnavailable, "registry unreachable: " + s.message());
  }

  Status register_provider(const Url& provider) override {
    if (provider.path().empty() || provider.hosts().empty()) {
      return Status(StatusCode::kInvalidArgument, "provider URL needs a host and a service path");
    }
    Changing change(*this);
    {
      std::lock_guard lock(mu_);
      registered_.insert(provider.to_string());
    }
    auto r = api_.call<&Api::register_provider>(provider.to_string());
    if (!r) return request_error(r.status());
    return Status();
  }

  Status unregister_provider(const Url& provider) override {
    Changing change(*this);
    {
      std::lock_guard lock(mu_);
      registered_.erase(provider.to_string());
    }
    auto r = api_.call<&Api::unregister_provider>(provider.to_string());
    if (!r) return request_error(r.status());
    return Status();
  }

  Status register_consumer(const Url& consumer) override {
    if (consumer.path().empty() || consumer.hosts().empty()) {
      return Status(StatusCode::kInvalidArgument, "consumer URL needs a host and a service path");
    }
    Changing change(*this);
    {
      std::lock_guard lock(mu_);
      consumers_.insert(consumer.to_string());
    }
    auto r = api_.call<&Api::register_consumer>(consumer.to_string());
    if (!r) {
      if (r.status().code() == StatusCode::kUnimplemented) consumers_supported_.store(false);
      return consumer_error(r.status());
    }
    return Status();
  }

  Status unregister_consumer(const Url& consumer) override {
    Changing change(*this);
    {
      std::lock_guard lock(mu_);
      consumers_.erase(consumer.to_string());
    }
    // Not connected: the registry dropped it with the connection already, and
    // a reference being destroyed must not wait request_timeout for nothing.
    if (!channel_->connected()) return Status();
    auto r = api_.call<&Api::unregister_consumer>(consumer.to_string());
    if (!r) return consumer_error(r.status());
    return Status();
  }

  Result<std::vector<Url>> list_consumers(const std::string& service) override {
    auto r = api_.call<&Api::list_consumers>(service);
    if (!r) return consumer_error(r.status());
    return to_urls(*r);
  }

  Result<SubscriptionId> subscribe(const std::string& service, RegistryListener listener) override {
    SubscriptionId id = dispatcher_.add(service, std::move(listener));
    auto r = api_.call<&Api::subscribe>(service);
    if (r) {
      update(service, *r, id);
    } else {
      // Unreachable now: the worker subscribes once connected. Push the cached list if any.
      std::lock_guard lock(mu_);
      const ListenerDispatcher::Snapshot* last = providers_.last(service);
      bool cached = last != nullptr;
      if (cached) dispatcher_.push(id, *last);
      if (!resync_) {
        TERN_LOG(kWarn, "registry {} unreachable ({}); subscribing to {} once it is reachable{}", address_.address(),
                 r.status().message(), service, cached ? "; keeping the last provider list" : "");
      }
      resync_ = true;
    }
    loop_.wake();
    return id;
  }

  void unsubscribe(SubscriptionId id) override {
    auto service = dispatcher_.remove(id);
    if (service && !dispatcher_.has_subscribers(*service)) {
      (void)api_.call<&Api::unsubscribe>(*service);
    }
  }

  Result<std::vector<Url>> lookup(const std::string& service) override {
    auto r = api_.call<&Api::lookup>(service);
    if (!r) {
      std::lock_guard lock(mu_);
      if (const ListenerDispatcher::Snapshot* last = providers_.last(service)) return **last;
      return request_error(r.status());
    }
    return to_urls(r->urls);
  }

  Result<std::vector<std::string>> list_services() override {
    auto r = api_.call<&Api::list_services>();
    if (!r) return request_error(r.status());
    return *r;
  }

  // ---- dynamic configuration: kept by the registry process (registry_protocol.h) ----

  Status set_config(const std::string& service, const std::string& text) override {
    if (service.empty()) return Status(StatusCode::kInvalidArgument, "set_config needs a service name");
    auto r = api_.call<&Api::set_config>(service, text);
    if (!r) return config_error(r.status());
    return Status();
  }

  Status remove_config(const std::string& service) override {
    if (service.empty()) return Status(StatusCode::kInvalidArgument, "remove_config needs a service name");
    auto r = api_.call<&Api::remove_config>(service);
    if (!r) return config_error(r.status());
    return Status();
  }

  Result<ConfigDocument> get_config(const std::string& service) override {
    if (service.empty()) return Status(StatusCode::kInvalidArgument, "get_config needs a service name");
    auto r = api_.call<&Api::get_config>(service);
    if (!r) return config_error(r.status());
    return to_document(*r);
  }

  Result<SubscriptionId> watch_config(const std::string& service, ConfigListener listener) override {
    if (service.empty()) return Status(StatusCode::kInvalidArgument, "watch_config needs a service name");
    if (!listener) return Status(StatusCode::kInvalidArgument, "watch_config needs a listener");
    SubscriptionId id = dispatcher_.add_config(service, std::move(listener));
    auto r = api_.call<&Api::watch_config>(service);
    if (r) {
      update_config(service, *r, id);
    } else if (r.status().code() == StatusCode::kUnimplemented || r.status().code() == StatusCode::kInvalidArgument) {
      dispatcher_.remove(id);
      return config_error(r.status());
    } else {
      // Unreachable now: the worker watches once connected. Push the last document if known.
      std::lock_guard lock(mu_);
      if (const ConfigDocument* last = configs_.last(service)) dispatcher_.push_config(id, *last);
      if (!resync_) {
        TERN_LOG(kWarn, "registry {} unreachable ({}); watching the configuration of {} once it is reachable",
                 address_.address(), r.status().message(), service);
      }
      resync_ = true;
    }
    loop_.wake();
    return id;
  }

  void unwatch_config(SubscriptionId id) override {
    auto service = dispatcher_.remove(id);
    if (service && !dispatcher_.has_config_watchers(*service)) {
      {
        std::lock_guard lock(mu_);
        configs_.erase(*service);
      }
      (void)api_.call<&Api::unwatch_config>(*service);
    }
  }

 private:
  Status config_error(const Status& s) const {
    if (s.code() == StatusCode::kUnimplemented) {
      return Status(StatusCode::kUnimplemented, "registry " + address_.address() + " keeps no configuration (" +
                                                    s.message() + "; a tern registry older than dynamic configuration)");
    }
    if (s.code() == StatusCode::kInvalidArgument) return s;
    return request_error(s);
  }

  static ConfigDocument to_document(const registry::ConfigEntry& e) {
    ConfigDocument d;
    if (e.exists) {
      d.text = e.text;
      d.revision = e.revision;
    }
    return d;
  }

  // Records a service's configuration entry unless an equal or newer one is
  // known (a watch_config() answer and a push may arrive in either order);
  // pushes to every watcher when the document changed, and to `only` (a new
  // watch) the latest document in any case. After a registry restart (new
  // epoch) the document it lost arrives as revision 0.
  void update_config(const std::string& service, const registry::ConfigEntry& entry, SubscriptionId only = 0) {
    std::lock_guard lock(mu_);
    const Revision revision{entry.epoch, static_cast<std::int64_t>(entry.revision)};
    if (configs_.offer(service, to_document(entry), revision) == ConfigBook::Change::kPushed) return;  // includes `only`
    if (only != 0) dispatcher_.push_config(only, *configs_.last(service));
  }

  void on_config_push(std::string_view topic, const protocol::Frame& f) {
    auto entry = serialization::MsgpackCodec::decode_value<registry::ConfigEntry>(f.body());
    if (!entry) {
      TERN_LOG(kWarn, "registry configuration push for {} undecodable: {}", topic, entry.status().to_string());
      return;
    }
    update_config(std::string(topic), *entry);
  }
  // One change of our registrations (register/unregister, provider or
  // consumer), from its set change to its request's answer: holds reg_mu_, so
  // resync() cannot re-send a registration that is being removed, and marks
  // the heartbeats under way as not comparable (run()).
  class Changing {
   public:
    explicit Changing(EmbeddedRegistry& r) : r_(r), lock_(r.reg_mu_) {
      std::lock_guard lock(r_.mu_);
      ++r_.changes_;
      r_.changing_ = true;
    }
    ~Changing() {
      std::lock_guard lock(r_.mu_);
      r_.changing_ = false;
    }
    Changing(const Changing&) = delete;
    Changing& operator=(const Changing&) = delete;

   private:
    EmbeddedRegistry& r_;
    std::lock_guard<std::mutex> lock_;
  };

  // A registry that answers UNIMPLEMENTED to the consumer methods predates them.
  Status consumer_error(const Status& s) const {
    if (s.code() == StatusCode::kUnimplemented) {
      return Status(StatusCode::kUnimplemented, "registry " + address_.address() + " keeps no consumers (" +
                                                    s.message() + "; a tern registry older than consumers)");
    }
    return request_error(s);
  }

  static std::vector<Url> to_urls(const std::vector<std::string>& texts) {
    std::vector<Url> out;
    for (auto& t : texts) {
      if (auto u = Url::parse(t)) out.push_back(std::move(*u));
    }
    return out;
  }

  // Records a service's list unless an equal or newer revision is known;
  // pushes to every subscriber when the list changed, and to `only` (a new
  // subscription) the latest list in any case.
  //
  // Empty-list protection: a registry that restarted (new epoch) answers a
  // re-subscription before the providers have registered again, with an
  // empty list. Applying it would leave the consumer with no provider while
  // every provider is alive. Such a list is held back while providers are
  // known, for up to hold_period(); a non-empty list of the new epoch (the
  // providers re-registering) replaces it, and release_held() applies it
  // when the period ends with no provider back.
  void update(const std::string& service, const registry::ProviderList& list, SubscriptionId only = 0) {
    std::lock_guard lock(mu_);
    const Revision revision{list.epoch, static_cast<std::int64_t>(list.revision)};
    const ListenerDispatcher::Snapshot* known = providers_.last(service);
    const std::optional<Revision> known_revision = providers_.revision(service);
    const bool newer = known == nullptr || !known_revision || is_newer(revision, *known_revision);
    if (newer && list.urls.empty() && known_revision && list.epoch != known_revision->epoch && !(*known)->empty()) {
      auto now = clock_.now();
      auto held = held_.find(service);
      const bool first = held == held_.end();
      if (first || held->second.list.epoch != list.epoch) {
        held = held_.insert_or_assign(service, Held{list, now + hold_period()}).first;
      }
      if (now < held->second.until) {
        if (first) {
          TERN_LOG(kInfo, "registry {} restarted: holding back its empty list of {} for up to {} ms "
                   "(providers re-register)", address_.address(), service,
                   std::chrono::duration_cast<std::chrono::milliseconds>(hold_period()).count());
        }
        held->second.list = list;
        if (only != 0) dispatcher_.push(only, *known);
        return;
      }
    }
    if (newer) held_.erase(service);
    auto urls = std::make_shared<const std::vector<Url>>(to_urls(list.urls));
    if (providers_.offer(service, std::move(urls), revision) == ProviderBook::Change::kPushed) return;  // includes `only`
    if (only != 0) dispatcher_.push(only, *providers_.last(service));
  }

  // Long enough for providers reconnecting with the default backoff (up to
  // 5 s) to register again; the cost of holding too long is small (calls to
  // a provider that is really gone fail fast with a refused connection).
  std::chrono::milliseconds hold_period() const {
    return 3 * options_.heartbeat_interval + std::max(options_.max_backoff, std::chrono::milliseconds(5000));
  }

  // Worker: applies the held-back empty lists whose hold period ended.
  void release_held() {
    std::vector<std::pair<std::string, registry::ProviderList>> due;
    {
      std::lock_guard lock(mu_);
      auto now = clock_.now();
      for (auto& [service, held] : held_) {
        if (now >= held.until) due.emplace_back(service, held.list);
      }
    }
    for (auto& [service, list] : due) update(service, list);
  }

  void on_push(const protocol::Frame& f) {
    auto topic = protocol::find_meta(f.meta(), "topic");
    if (!topic.empty() && protocol::find_meta(f.meta(), "event") == registry::kConfigEvent) {
      on_config_push(topic, f);
      return;
    }
    if (topic.empty() || protocol::find_meta(f.meta(), "event") != registry::kPushEvent) return;
    auto list = serialization::MsgpackCodec::decode_value<registry::ProviderList>(f.body());
    if (!list) {
      TERN_LOG(kWarn, "registry push for {} undecodable: {}", topic, list.status().to_string());
      return;
    }
    update(std::string(topic), *list);
  }

  // The loop's step: a heartbeat, and a full resync after every
  // (re)connection or when the registry lost our registrations.
  ReconnectLoop::Step heartbeat_pass() {
    // The heartbeat's count is compared with our sets only when none of our
    // registrations changed while it was under way: a registration in flight
    // is in our set and not yet (or still) on the registry, which is not a
    // lost one.
    std::unique_lock lock(mu_);
    const std::uint64_t changes_before = changes_;
    const bool quiet_before = !changing_;
    lock.unlock();
    release_held();
    auto hb = api_.call<&Api::heartbeat>();
    bool ok = hb.has_value();
    std::uint64_t connects = channel_->stats().connects;
    lock.lock();
    // The registry holds fewer of our registrations than we made: it dropped
    // them (we missed beats while paused, or it restarted) on a connection
    // that survived. Register again.
    // (Consumers count too, unless the registry predates them.)
    std::size_t expected = registered_.size() + (consumers_supported_.load() ? consumers_.size() : 0);
    const bool comparable = quiet_before && !changing_ && changes_ == changes_before;
    bool lost = ok && comparable && static_cast<std::size_t>(*hb) < expected;
    // The first connection was made by init()/subscribe() themselves, which
    // registered and subscribed on it: not a reconnection.
    if (ok && seen_connects_ == 0 && !resync_ && !lost) seen_connects_ = connects;
    if (ok && (connects != seen_connects_ || resync_ || lost)) {
      lock.unlock();
      ok = resync();
      lock.lock();
      if (ok) seen_connects_ = connects;
    }
    if (ok) {
      resync_ = false;
      return {ReconnectLoop::Outcome::kSynced, clock_.now() + options_.heartbeat_interval};
    }
    if (!resync_) TERN_LOG(kWarn, "registry {} unreachable; keeping the last provider lists", address_.address());
    resync_ = true;
    return {ReconnectLoop::Outcome::kFailed};
  }

  bool resync() {
    // Each URL is re-sent under reg_mu_ and only while it is still ours: a
    // re-registration sent after (or overtaking) its unregistration would
    // leave it on the registry after its owner is gone.
    std::vector<std::string> regs;
    {
      std::lock_guard lock(mu_);
      regs.assign(registered_.begin(), registered_.end());
    }
    for (auto& u : regs) {
      std::lock_guard reg(reg_mu_);
      if (!still_ours(registered_, u)) continue;
      if (!api_.call<&Api::register_provider>(u)) return false;
    }
    std::vector<std::string> consumers;
    {
      std::lock_guard lock(mu_);
      consumers.assign(consumers_.begin(), consumers_.end());
    }
    for (auto& u : consumers) {
      std::lock_guard reg(reg_mu_);
      if (!still_ours(consumers_, u)) continue;
      auto r = api_.call<&Api::register_consumer>(u);
      if (!r && r.status().code() == StatusCode::kUnimplemented) consumers_supported_.store(false);
      if (!r && r.status().code() != StatusCode::kUnimplemented) return false;
    }
    for (auto& service : dispatcher_.subscribed_services()) {
      auto r = api_.call<&Api::subscribe>(service);
      if (!r) return false;
      update(service, *r);
    }
    // Configuration watches: re-read (a restarted registry has lost its
    // documents: they arrive as revision 0); pushed only when changed.
    for (auto& service : dispatcher_.watched_configs()) {
      auto r = api_.call<&Api::watch_config>(service);
      if (!r && r.status().code() == StatusCode::kUnimplemented) continue;  // an older registry: nothing to watch
      if (!r) return false;
      update_config(service, *r);
    }
    if (!regs.empty() || !consumers.empty() || !dispatcher_.subscribed_services().empty()) {
      const std::size_t services = dispatcher_.subscribed_services().size();
      TERN_LOG(kInfo, "registry {}: re-registered {} provider{} and {} consumer{}, re-subscribed {} service{}",
               address_.address(), regs.size(), regs.size() == 1 ? "" : "s", consumers.size(),
               consumers.size() == 1 ? "" : "s", services, services == 1 ? "" : "s");
    }
    return true;
  }

  bool still_ours(const std::set<std::string>& set, const std::string& url) {
    std::lock_guard lock(mu_);
    return set.count(url) != 0;
  }

  Url address_;
  RegistryOptions options_;
  // The time of the heartbeats, the retries (loop_) and the held-back empty
  // lists; outlives this object (make_embedded_registry_on_clock()).
  Clock& clock_;
  std::unique_ptr<Client> client_;
  Proxy<Api> api_;
  std::shared_ptr<Channel> channel_;
  ListenerDispatcher dispatcher_;

  // Held by each change of our registrations across its request (Changing)
  // and by resync() across each re-registration, so the registry sees them in
  // our order. Taken before mu_, never while holding it.
  std::mutex reg_mu_;
  std::mutex mu_;
  std::uint64_t changes_ = 0;  // changes of our registrations begun; guarded by mu_
  bool changing_ = false;      // one is under way (they are serialised by reg_mu_); guarded by mu_
  std::set<std::string> registered_;                                                // guarded by mu_
  std::set<std::string> consumers_;                                                 // guarded by mu_
  std::atomic<bool> consumers_supported_{true};  // false once the registry answered UNIMPLEMENTED
  // Last list per service at (epoch, revision), pushed when changed; guarded by mu_.
  ProviderBook providers_;
  // An empty list from a restarted registry, held back until `until` (update()).
  struct Held {
    registry::ProviderList list;
    Clock::time_point until;
  };
  std::map<std::string, Held> held_;  // guarded by mu_
  ConfigBook configs_;  // last document per watched service at (epoch, revision); guarded by mu_
  bool resync_ = false;  // guarded by mu_
  std::uint64_t seen_connects_ = 0;  // the channel's connects at the last sync; loop thread (and init())
  // Heartbeats every heartbeat_interval; after a failure, retries with backoff.
  // Declared last: stopped first (the destructor stops it explicitly).
  ReconnectLoop loop_;
};

}  // namespace

Result<std::shared_ptr<Registry>> make_embedded_registry(const Url& address, const RegistryOptions& options) {
  return make_embedded_registry_on_clock(address, options, Clock::steady());
}

Result<std::shared_ptr<Registry>> make_embedded_registry_on_clock(const Url& address, const RegistryOptions& options,
                                                                  Clock& clock) {
  if (address.hosts().empty() || address.host_port().port == 0) {
    return Status(StatusCode::kInvalidArgument, "tern:// registry address needs host:port");
  }
  auto reg = std::make_shared<EmbeddedRegistry>(address, options, clock);
  Status s = reg->init();
  if (!s.is_ok()) return s;
  return std::shared_ptr<Registry>(std::move(reg));
}

}  // namespace tern
