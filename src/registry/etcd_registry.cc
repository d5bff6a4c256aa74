// etcd_registry.cc - the etcd v3 Registry backend; design and threads are
// described in etcd_registry.h.
#include "registry/etcd_registry.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "tern/log.h"

namespace tern {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::string_view kRoot = "/tern/";
constexpr std::string_view kProviders = "/providers/";
constexpr std::string_view kConsumers = "/consumers/";
constexpr std::string_view kConfig = "/config";
constexpr std::uint16_t kDefaultEtcdPort = 2379;
// The destructor's lease revoke must not hold shutdown up for long.
constexpr milliseconds kRevokeTimeout{1000};

std::string service_prefix(const std::string& service) {
  return std::string(kRoot) + service + std::string(kProviders);
}

// "/tern/<service>/providers/<id>" -> "<service>"; empty when `key` is not a
// provider key. The id is percent-encoded, so the last "/providers/" is ours.
std::string service_of_key(std::string_view key) {
  if (key.substr(0, kRoot.size()) != kRoot) return {};
  const auto pos = key.rfind(kProviders);
  if (pos == std::string_view::npos || pos <= kRoot.size()) return {};
  return std::string(key.substr(kRoot.size(), pos - kRoot.size()));
}

// "/tern/<service>/config" -> "<service>"; empty for other keys.
std::string service_of_config_key(std::string_view key) {
  if (key.size() <= kRoot.size() + kConfig.size() || key.substr(0, kRoot.size()) != kRoot ||
      key.substr(key.size() - kConfig.size()) != kConfig) {
    return {};
  }
  return std::string(key.substr(kRoot.size(), key.size() - kRoot.size() - kConfig.size()));
}

std::vector<Url> values_of(const std::map<std::string, Url>& providers) {
  std::vector<Url> out;
  out.reserve(providers.size());
  for (const auto& [key, url] : providers) out.push_back(url);
  return out;
}

// Parses the kvs of a range answer into key -> provider; skips (and logs)
// values that are not URLs.
std::map<std::string, Url> parse_kvs(const json& answer) {
  std::map<std::string, Url> out;
  auto it = answer.find("kvs");
  if (it == answer.end() || !it->is_array()) return out;
  for (const auto& kv : *it) {
    auto key = etcd::base64_decode(kv.value("key", ""));
    auto value = etcd::base64_decode(kv.value("value", ""));
    if (!key || !value) continue;
    auto url = Url::parse(*value);
    if (!url) {
      TERN_LOG(kWarn, "etcd registry: ignoring {}: {}", *key, url.status().to_string());
      continue;
    }
    out.emplace(std::move(*key), std::move(*url));
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<Registry>> make_etcd_registry(const Url& address, const RegistryOptions& options) {
  if (address.hosts().empty()) {
    return Status(StatusCode::kInvalidArgument, "etcd registry address needs host[:port]: " + address.to_string());
  }
  std::vector<HostPort> endpoints;
  for (HostPort hp : address.hosts()) {
    if (hp.host.empty()) return Status(StatusCode::kInvalidArgument, "etcd registry address has an empty host");
    if (hp.port == 0) hp.port = kDefaultEtcdPort;
    endpoints.push_back(std::move(hp));
  }
  return std::shared_ptr<Registry>(std::make_shared<EtcdRegistry>(std::move(endpoints), options));
}

std::string EtcdRegistry::provider_key(const Url& provider) {
  return service_prefix(provider.path()) + url_encode(provider.to_string());
}

std::string EtcdRegistry::config_key(const std::string& service) {
  return std::string(kRoot) + service + std::string(kConfig);
}

std::string EtcdRegistry::consumer_key(const Url& consumer) {
  return std::string(kRoot) + consumer.path() + std::string(kConsumers) + url_encode(consumer.to_string());
}

EtcdRegistry::EtcdRegistry(std::vector<HostPort> endpoints, RegistryOptions options)
    : options_(options),
      lease_ttl_s_(std::max<std::int64_t>(1, (3 * options.heartbeat_interval.count() + 999) / 1000)),
      client_(std::move(endpoints), options.request_timeout, &stop_),
      providers_([this](const std::string& service, const ProviderMap& providers) {
        dispatcher_.push_all(service, std::make_shared<const std::vector<Url>>(values_of(providers)));
      }),
      configs_([this](const std::string& service, const ConfigDocument& document) {
        dispatcher_.push_config_all(service, document);
      }),
      session_(BackoffPolicy{options.initial_backoff, options.max_backoff},
               [this](const ReconnectLoop::Pass& pass) { return session_pass(pass); }),
      watch_(BackoffPolicy{options.initial_backoff, options.max_backoff},
             [this](const ReconnectLoop::Pass& pass) { return watch_pass(pass); }) {
  session_.start();
  watch_.start();
}

EtcdRegistry::~EtcdRegistry() {
  {
    std::lock_guard lk(mu_);
    stop_.store(true, std::memory_order_release);
  }
  session_.stop();  // the client aborts their HTTP calls: stop_ is set
  watch_.stop();
  if (revoke_on_destroy_.load() && lease_id_ != 0) {
    auto r = client_.call("lease/revoke", json{{"ID", std::to_string(lease_id_)}},
                          std::min(options_.request_timeout, kRevokeTimeout), /*abortable=*/false);
    if (!r) TERN_LOG(kInfo, "etcd registry: lease revoke failed ({}); keys expire with the lease", r.status().to_string());
  }
}

// ---- registration -----------------------------------------------------------

Status EtcdRegistry::register_provider(const Url& provider) {
  if (provider.path().empty() || provider.host_port().host.empty()) {
    return Status(StatusCode::kInvalidArgument, "provider URL needs a host and a service path: " + provider.to_string());
  }
  return register_key(provider_key(provider), provider);
}

Status EtcdRegistry::unregister_provider(const Url& provider) { return unregister_key(provider_key(provider), provider); }

Status EtcdRegistry::register_consumer(const Url& consumer) {
  if (consumer.path().empty() || consumer.host_port().host.empty()) {
    return Status(StatusCode::kInvalidArgument, "consumer URL needs a host and a service path: " + consumer.to_string());
  }
  return register_key(consumer_key(consumer), consumer);
}

Status EtcdRegistry::unregister_consumer(const Url& consumer) { return unregister_key(consumer_key(consumer), consumer); }

Result<std::vector<Url>> EtcdRegistry::list_consumers(const std::string& service) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "empty service name");
  const std::string prefix = std::string(kRoot) + service + std::string(kConsumers);
  auto r = client_.call("kv/range", json{{"key", etcd::base64_encode(prefix)},
                                         {"range_end", etcd::base64_encode(etcd::prefix_range_end(prefix))}});
  if (!r) return r.status();
  std::vector<Url> out;
  if (auto it = r->find("kvs"); it != r->end() && it->is_array()) {
    for (const auto& kv : *it) {
      auto value = etcd::base64_decode(kv.value("value", ""));
      if (!value) continue;
      if (auto url = Url::parse(*value)) out.push_back(std::move(*url));
    }
  }
  return out;
}

Status EtcdRegistry::register_key(const std::string& key, const Url& provider) {
  {
    std::lock_guard lk(mu_);
    registered_[key] = provider;
    to_delete_.erase(key);
    to_put_.insert(key);
  }
  session_.wake();
  Status st = sync_writes();
  if (!st.is_ok()) {
    return Status(StatusCode::kUnavailable,
                  "etcd unreachable, " + provider.to_string() + " will be registered once it is: " + st.message());
  }
  return Status();
}

Status EtcdRegistry::unregister_key(const std::string& key, const Url& provider) {
  {
    std::lock_guard lk(mu_);
    if (registered_.erase(key) == 0) return Status();
    to_put_.erase(key);
    to_delete_.insert(key);
  }
  session_.wake();
  Status st = sync_writes();
  if (!st.is_ok()) {
    return Status(StatusCode::kUnavailable,
                  "etcd unreachable, " + provider.to_string() + " will be removed once it is: " + st.message());
  }
  return Status();
}

Status EtcdRegistry::ensure_lease(std::unique_lock<std::mutex>& lk) {
  if (lease_id_ != 0 && SteadyClock::now() >= next_keepalive_) {
    const std::int64_t id = lease_id_;
    lk.unlock();
    auto r = client_.call("lease/keepalive", json{{"ID", std::to_string(id)}});
    lk.lock();
    if (!r) return r.status();
    const json& result = r->contains("result") ? (*r)["result"] : *r;
    if (etcd::json_int(result, "TTL") <= 0) {
      // Expired while we could not renew it: its keys are gone.
      TERN_LOG(kWarn, "etcd registry: lease {:x} expired; granting a new one and registering again", id);
      lease_id_ = 0;
    } else {
      next_keepalive_ = SteadyClock::now() + options_.heartbeat_interval;
    }
  }
  if (lease_id_ == 0 && !registered_.empty()) {
    lk.unlock();
    auto r = client_.call("lease/grant", json{{"TTL", std::to_string(lease_ttl_s_)}});
    lk.lock();
    if (!r) return r.status();
    const std::int64_t id = etcd::json_int(*r, "ID");
    if (id == 0) return Status(StatusCode::kUnavailable, "etcd: lease grant answered without an ID");
    lease_id_ = id;
    next_keepalive_ = SteadyClock::now() + options_.heartbeat_interval;
    for (const auto& [key, url] : registered_) to_put_.insert(key);
  }
  return Status();
}

Status EtcdRegistry::sync_writes() {
  std::lock_guard writes(write_mu_);
  std::unique_lock lk(mu_);
  for (int attempt = 0;; ++attempt) {
    if (Status st = ensure_lease(lk); !st.is_ok()) return st;
    while (!to_delete_.empty()) {
      const std::string key = *to_delete_.begin();
      lk.unlock();
      auto r = client_.call("kv/deleterange", json{{"key", etcd::base64_encode(key)}});
      lk.lock();
      if (!r) return r.status();
      to_delete_.erase(key);
    }
    bool lease_lost = false;
    while (!to_put_.empty()) {
      const std::string key = *to_put_.begin();
      auto it = registered_.find(key);
      if (it == registered_.end()) {
        to_put_.erase(key);
        continue;
      }
      const json request{{"key", etcd::base64_encode(key)},
                         {"value", etcd::base64_encode(it->second.to_string())},
                         {"lease", std::to_string(lease_id_)}};
      lk.unlock();
      auto r = client_.call("kv/put", request);
      lk.lock();
      if (r) {
        to_put_.erase(key);
      } else if (r.status().code() == StatusCode::kNotFound && attempt == 0) {
        lease_lost = true;  // "requested lease not found": it expired meanwhile
        break;
      } else {
        return r.status();
      }
    }
    if (!lease_lost) return Status();
    lease_id_ = 0;
  }
}

// ---- subscriptions ----------------------------------------------------------

Result<SubscriptionId> EtcdRegistry::subscribe(const std::string& service, RegistryListener listener) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "subscribe needs a service name");
  if (!listener) return Status(StatusCode::kInvalidArgument, "subscribe needs a listener");
  SubscriptionId id;
  {
    std::lock_guard lk(mu_);
    id = dispatcher_.add(service, std::move(listener));
    auto [it, inserted] = service_reads_.try_emplace(service);
    if (inserted) it->second.read_generation = ++read_generations_;  // never matches a read of an earlier incarnation
    if (const ProviderMap* last = providers_.last(service)) {  // the newcomer gets the current list
      dispatcher_.push(id, std::make_shared<const std::vector<Url>>(values_of(*last)));
    }
  }
  session_.wake();
  watch_.wake();
  return id;
}

void EtcdRegistry::unsubscribe(SubscriptionId id) {
  // Not under mu_: remove() waits for a running listener, which may call us.
  const auto service = dispatcher_.remove(id);
  if (!service) return;
  std::lock_guard lk(mu_);
  if (!dispatcher_.has_subscribers(*service)) {
    service_reads_.erase(*service);
    providers_.erase(*service);
  }
}

Result<EtcdRegistry::ProviderMap> EtcdRegistry::read_service(const std::string& service, std::int64_t* revision) {
  const std::string prefix = service_prefix(service);
  auto r = client_.call("kv/range", json{{"key", etcd::base64_encode(prefix)},
                                         {"range_end", etcd::base64_encode(etcd::prefix_range_end(prefix))}});
  if (!r) return r.status();
  *revision = etcd::json_int((*r)["header"], "revision");
  return parse_kvs(*r);
}

Result<std::vector<Url>> EtcdRegistry::lookup(const std::string& service) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "lookup needs a service name");
  std::int64_t revision = 0;
  auto r = read_service(service, &revision);
  std::lock_guard lk(mu_);
  if (r) {
    auto list = values_of(*r);
    lookup_cache_[service] = list;
    return list;
  }
  if (const ProviderMap* last = providers_.last(service)) return values_of(*last);
  if (auto it = lookup_cache_.find(service); it != lookup_cache_.end()) return it->second;
  return r.status();
}

Result<std::vector<std::string>> EtcdRegistry::list_services() {
  const std::string root(kRoot);
  auto r = client_.call("kv/range", json{{"key", etcd::base64_encode(root)},
                                         {"range_end", etcd::base64_encode(etcd::prefix_range_end(root))},
                                         {"keys_only", true}});
  if (!r) return r.status();
  std::set<std::string> names;
  if (auto it = r->find("kvs"); it != r->end() && it->is_array()) {
    for (const auto& kv : *it) {
      auto key = etcd::base64_decode(kv.value("key", ""));
      if (!key) continue;
      if (std::string service = service_of_key(*key); !service.empty()) names.insert(std::move(service));
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

// ---- dynamic configuration ------------------------------------------------------

Status EtcdRegistry::set_config(const std::string& service, const std::string& text) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "set_config needs a service name");
  // No lease: the document outlives this object and its lease.
  auto r = client_.call("kv/put", json{{"key", etcd::base64_encode(config_key(service))},
                                       {"value", etcd::base64_encode(text)}});
  if (!r) return r.status();
  return Status();
}

Status EtcdRegistry::remove_config(const std::string& service) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "remove_config needs a service name");
  auto r = client_.call("kv/deleterange", json{{"key", etcd::base64_encode(config_key(service))}});
  if (!r) return r.status();
  return Status();
}

Result<ConfigDocument> EtcdRegistry::read_config(const std::string& service, std::int64_t* revision) {
  auto r = client_.call("kv/range", json{{"key", etcd::base64_encode(config_key(service))}});
  if (!r) return r.status();
  *revision = etcd::json_int((*r)["header"], "revision");
  ConfigDocument doc;
  if (auto it = r->find("kvs"); it != r->end() && it->is_array() && !it->empty()) {
    const json& kv = it->front();
    auto value = etcd::base64_decode(kv.value("value", ""));
    if (!value) return Status(StatusCode::kInternal, "etcd: undecodable value of " + config_key(service));
    doc.text = std::move(*value);
    doc.revision = static_cast<std::uint64_t>(etcd::json_int(kv, "mod_revision"));
  }
  return doc;
}

Result<ConfigDocument> EtcdRegistry::get_config(const std::string& service) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "get_config needs a service name");
  std::int64_t revision = 0;
  return read_config(service, &revision);
}

Result<SubscriptionId> EtcdRegistry::watch_config(const std::string& service, ConfigListener listener) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "watch_config needs a service name");
  if (!listener) return Status(StatusCode::kInvalidArgument, "watch_config needs a listener");
  SubscriptionId id;
  {
    std::lock_guard lk(mu_);
    id = dispatcher_.add_config(service, std::move(listener));
    auto [it, inserted] = config_reads_.try_emplace(service);
    if (inserted) it->second.read_generation = ++read_generations_;
    if (const ConfigDocument* last = configs_.last(service)) dispatcher_.push_config(id, *last);  // the newcomer gets the current one
  }
  session_.wake();
  watch_.wake();
  return id;
}

void EtcdRegistry::unwatch_config(SubscriptionId id) {
  const auto service = dispatcher_.remove(id);  // not under mu_: waits for a running listener
  if (!service) return;
  std::lock_guard lk(mu_);
  if (!dispatcher_.has_config_watchers(*service)) {
    config_reads_.erase(*service);
    configs_.erase(*service);
  }
}

bool EtcdRegistry::apply_config_event(ConfigDocument& document, const Event& event) {
  ConfigDocument doc;
  if (!event.is_delete) {
    doc.text = event.value;
    doc.revision = static_cast<std::uint64_t>(event.revision);
  }
  if (SameDocument()(doc, document)) return false;
  document = std::move(doc);
  return true;
}

// ---- session thread -----------------------------------------------------------

ReconnectLoop::Step EtcdRegistry::session_pass(const ReconnectLoop::Pass& pass) {
  // While backing off, owed work waits for the retry; the retry's pass does it.
  if (stop_.load() || pass.backing_off) return {};
  {
    std::lock_guard lk(mu_);
    auto reading = [](const auto& r) { return r.second.reading; };
    const bool reads_owed = std::any_of(service_reads_.begin(), service_reads_.end(), reading) ||
                            std::any_of(config_reads_.begin(), config_reads_.end(), reading);
    const bool writes_owed = !to_put_.empty() || !to_delete_.empty() || (lease_id_ == 0 && !registered_.empty());
    if (!reads_owed && !writes_owed) {
      if (lease_id_ == 0) return {};
      if (SteadyClock::now() < next_keepalive_) return {ReconnectLoop::Outcome::kIdle, next_keepalive_};
    }
  }
  Status st = sync_writes();
  if (st.is_ok()) {
    st = refresh_reads(
        service_reads_, providers_, [this](const std::string& s, std::int64_t* rev) { return read_service(s, rev); },
        &EtcdRegistry::apply_provider_event);
  }
  if (st.is_ok()) {
    st = refresh_reads(
        config_reads_, configs_, [this](const std::string& s, std::int64_t* rev) { return read_config(s, rev); },
        &EtcdRegistry::apply_config_event);
  }
  if (st.code() == StatusCode::kCancelled) return {};
  if (!st.is_ok()) {
    // The same words as the other backends (embedded_registry.cc, zookeeper_registry.cc).
    if (connected_) {
      TERN_LOG(kWarn, "registry etcd unreachable ({}); keeping the last provider lists, retrying with backoff",
               st.message());
    }
    connected_ = false;
    return {ReconnectLoop::Outcome::kFailed};
  }
  if (!connected_) TERN_LOG(kInfo, "etcd registry: connected to etcd again");
  connected_ = true;
  std::lock_guard lk(mu_);
  return {ReconnectLoop::Outcome::kSynced, lease_id_ != 0 ? next_keepalive_ : SteadyClock::time_point::max()};
}

template <class Value, class Equal, class Read, class Apply>
Status EtcdRegistry::refresh_reads(std::map<std::string, KeyRead>& reads, WatchedBook<Value, Equal>& book, Read read,
                                   Apply apply) {
  for (;;) {
    std::string name;
    std::uint64_t generation = 0;
    {
      std::lock_guard lk(mu_);
      auto it = std::find_if(reads.begin(), reads.end(), [](const auto& r) { return r.second.reading; });
      if (it == reads.end()) return Status();
      name = it->first;
      generation = it->second.read_generation;
    }
    std::int64_t revision = 0;
    auto r = read(name, &revision);
    if (!r) return r.status();
    std::lock_guard lk(mu_);
    auto it = reads.find(name);
    if (it == reads.end() || it->second.read_generation != generation) continue;  // unwatched or stale
    Value value = std::move(*r);
    std::int64_t at = revision;  // `value` includes every event up to `at`
    for (const Event& e : it->second.pending) {
      if (e.revision <= at) continue;  // already part of the read
      apply(value, e);
      at = e.revision;
    }
    it->second.pending.clear();
    it->second.reading = false;
    if (watch_from_ == 0) {
      watch_from_ = revision + 1;
      watch_.wake();
    }
    book.offer(name, std::move(value), Revision{epoch_, at});
  }
}

// ---- watch thread ---------------------------------------------------------------

void EtcdRegistry::resync_all_locked() {
  for (auto* reads : {&service_reads_, &config_reads_}) {
    for (auto& [name, read] : *reads) {
      read.reading = true;
      read.read_generation = ++read_generations_;
      read.pending.clear();
    }
  }
  ++epoch_;  // the re-reads replace what the books hold, even at an older etcd revision
  watch_from_ = 0;
  session_.wake();
}

bool EtcdRegistry::apply_provider_event(ProviderMap& providers, const Event& event) {
  if (event.is_delete) return providers.erase(event.key) > 0;
  auto url = Url::parse(event.value);
  if (!url) {
    TERN_LOG(kWarn, "etcd registry: ignoring {}: {}", event.key, url.status().to_string());
    return providers.erase(event.key) > 0;
  }
  auto [it, inserted] = providers.try_emplace(event.key, *url);
  if (inserted) return true;
  if (it->second == *url) return false;
  it->second = std::move(*url);
  return true;
}

template <class Value, class Equal, class Apply>
void EtcdRegistry::on_event_locked(std::map<std::string, KeyRead>& reads, WatchedBook<Value, Equal>& book,
                                   const std::string& name, Event event, Apply apply) {
  auto it = reads.find(name);
  if (it == reads.end()) return;
  if (it->second.reading) {
    it->second.pending.push_back(std::move(event));
    return;
  }
  book.edit(name, Revision{epoch_, event.revision}, [&](Value& value) { return apply(value, event); });
}

bool EtcdRegistry::on_watch_message(const json& msg, std::int64_t from, bool* created, bool* resync) {
  if (stop_.load()) return false;
  if (!msg.is_object() || !msg.contains("result")) {
    TERN_LOG(kWarn, "etcd registry: watch failed: {}", msg.dump());
    return false;
  }
  const json& result = msg["result"];
  std::unique_lock lk(mu_);
  if (const std::int64_t compacted = etcd::json_int(result, "compact_revision"); compacted > 0) {
    TERN_LOG(kInfo, "etcd registry: watch revision {} compacted (now {}); reading every service again", from, compacted);
    resync_all_locked();
    *resync = true;
    return false;
  }
  if (result.value("canceled", false)) {
    TERN_LOG(kWarn, "etcd registry: watch canceled: {}", result.value("cancel_reason", std::string("no reason")));
    return false;
  }
  if (result.value("created", false)) {
    *created = true;
    // A store behind our resume point is not the one we watched (restored or
    // new data): what we hold may be wrong, so read everything again.
    const std::int64_t current = etcd::json_int(result.value("header", json::object()), "revision");
    if (current > 0 && current + 1 < from) {
      TERN_LOG(kWarn, "etcd registry: etcd revision {} is behind ours ({}); reading every service again", current, from - 1);
      resync_all_locked();
      *resync = true;
      return false;
    }
  }
  auto events = result.find("events");
  if (events == result.end() || !events->is_array() || events->empty()) {
    if (!result.value("created", false)) {
      // A progress notification: every change up to its revision has been
      // delivered, so a resume may start after it. This keeps a quiet watch's
      // resume point ahead of etcd's compaction.
      const std::int64_t synced = etcd::json_int(result.value("header", json::object()), "revision");
      watch_from_ = std::max(watch_from_, synced + 1);
    }
    return true;
  }
  for (const json& e : *events) {
    const json& kv = e.value("kv", json::object());
    Event event;
    event.revision = etcd::json_int(kv, "mod_revision");
    event.is_delete = e.value("type", std::string()) == "DELETE";
    auto key = etcd::base64_decode(kv.value("key", ""));
    auto value = etcd::base64_decode(kv.value("value", ""));
    if (!key || !value || event.revision <= 0) continue;
    event.key = std::move(*key);
    event.value = std::move(*value);
    watch_from_ = std::max(watch_from_, event.revision + 1);
    if (const std::string service = service_of_key(event.key); !service.empty()) {
      on_event_locked(service_reads_, providers_, service, std::move(event), &EtcdRegistry::apply_provider_event);
    } else {
      const std::string config = service_of_config_key(event.key);
      on_event_locked(config_reads_, configs_, config, std::move(event), &EtcdRegistry::apply_config_event);
    }
  }
  return true;
}

ReconnectLoop::Step EtcdRegistry::watch_pass(const ReconnectLoop::Pass& pass) {
  if (pass.backing_off) return {};  // the retry's pass restarts the stream
  std::int64_t from = 0;
  {
    std::lock_guard lk(mu_);
    if (stop_.load() || watch_from_ == 0 || (service_reads_.empty() && config_reads_.empty())) return {};
    from = watch_from_;
  }
  const std::string root(kRoot);
  const json request{{"create_request",
                      {{"key", etcd::base64_encode(root)},
                       {"range_end", etcd::base64_encode(etcd::prefix_range_end(root))},
                       {"start_revision", std::to_string(from)},
                       {"progress_notify", true}}}};
  bool created = false;
  bool resync = false;
  Status st = client_.stream("watch", request, [&](const json& msg) { return on_watch_message(msg, from, &created, &resync); });
  if (stop_.load()) return {};
  // After a resync the first re-read sets watch_from_ and wakes this loop.
  if (resync) return {ReconnectLoop::Outcome::kSynced};
  if (created) watch_.reset_backoff();  // the stream was up: restart the backoff sequence
  TERN_LOG(kDebug, "etcd registry: watch ended ({}); resuming from revision {}", st.to_string(), from);
  return {ReconnectLoop::Outcome::kFailed};
}

}  // namespace tern
