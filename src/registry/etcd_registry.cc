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

bool same_document(const ConfigDocument& a, const ConfigDocument& b) {
  return a.revision == b.revision && a.text == b.text;
}

// Doubling delay between reconnect attempts.
class Backoff {
 public:
  explicit Backoff(const RegistryOptions& o) : initial_(o.initial_backoff), max_(o.max_backoff), next_(initial_) {}
  milliseconds next() {
    const milliseconds d = next_;
    next_ = std::min(max_, next_ * 2);
    return d;
  }
  void reset() { next_ = initial_; }

 private:
  milliseconds initial_, max_, next_;
};

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
      client_(std::move(endpoints), options.request_timeout, &stop_) {
  session_thread_ = std::thread([this] { session_loop(); });
  watch_thread_ = std::thread([this] { watch_loop(); });
}

EtcdRegistry::~EtcdRegistry() {
  {
    std::lock_guard lk(mu_);
    stop_.store(true, std::memory_order_release);
  }
  session_cv_.notify_all();
  watch_cv_.notify_all();
  session_thread_.join();
  watch_thread_.join();
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
  session_cv_.notify_one();
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
  session_cv_.notify_one();
  Status st = sync_writes();
  if (!st.is_ok()) {
    return Status(StatusCode::kUnavailable,
                  "etcd unreachable, " + provider.to_string() + " will be removed once it is: " + st.message());
  }
  return Status();
}

Status EtcdRegistry::ensure_lease(std::unique_lock<std::mutex>& lk) {
  if (lease_id_ != 0 && Clock::now() >= next_keepalive_) {
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
      next_keepalive_ = Clock::now() + options_.heartbeat_interval;
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
    next_keepalive_ = Clock::now() + options_.heartbeat_interval;
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
    auto [it, inserted] = services_.try_emplace(service);
    if (inserted) it->second.read_generation = ++read_generations_;  // never matches a read of an earlier incarnation
    if (it->second.pushed) dispatcher_.push(id, it->second.pushed);  // the newcomer gets the current list
  }
  session_cv_.notify_one();
  watch_cv_.notify_one();
  return id;
}

void EtcdRegistry::unsubscribe(SubscriptionId id) {
  // Not under mu_: remove() waits for a running listener, which may call us.
  const auto service = dispatcher_.remove(id);
  if (!service) return;
  std::lock_guard lk(mu_);
  if (!dispatcher_.has_subscribers(*service)) services_.erase(*service);
}

Result<std::map<std::string, Url>> EtcdRegistry::read_service(const std::string& service, std::int64_t* revision) {
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
  if (auto it = services_.find(service); it != services_.end() && it->second.loaded) {
    return values_of(it->second.providers);
  }
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
    auto [it, inserted] = configs_.try_emplace(service);
    if (inserted) it->second.read_generation = ++read_generations_;
    if (it->second.pushed) dispatcher_.push_config(id, it->second.last_pushed);  // the newcomer gets the current one
  }
  session_cv_.notify_one();
  watch_cv_.notify_one();
  return id;
}

void EtcdRegistry::unwatch_config(SubscriptionId id) {
  const auto service = dispatcher_.remove(id);  // not under mu_: waits for a running listener
  if (!service) return;
  std::lock_guard lk(mu_);
  if (!dispatcher_.has_config_watchers(*service)) configs_.erase(*service);
}

Status EtcdRegistry::refresh_config_reads() {
  for (;;) {
    std::string service;
    std::uint64_t generation = 0;
    {
      std::lock_guard lk(mu_);
      auto it = std::find_if(configs_.begin(), configs_.end(), [](const auto& c) { return c.second.reading; });
      if (it == configs_.end()) return Status();
      service = it->first;
      generation = it->second.read_generation;
    }
    std::int64_t revision = 0;
    auto r = read_config(service, &revision);
    if (!r) return r.status();
    std::lock_guard lk(mu_);
    auto it = configs_.find(service);
    if (it == configs_.end() || it->second.read_generation != generation) continue;  // unwatched or stale
    ConfigState& state = it->second;
    state.document = std::move(*r);
    state.revision = revision;
    for (const Event& e : state.pending) apply_config_event(state, e);
    state.pending.clear();
    state.reading = false;
    state.loaded = true;
    if (watch_from_ == 0) {
      watch_from_ = revision + 1;
      watch_cv_.notify_one();
    }
    push_config_if_changed_locked(service, state);
  }
}

bool EtcdRegistry::apply_config_event(ConfigState& state, const Event& event) {
  if (event.revision <= state.revision) return false;  // already part of the state
  state.revision = event.revision;
  ConfigDocument doc;
  if (!event.is_delete) {
    doc.text = event.value;
    doc.revision = static_cast<std::uint64_t>(event.revision);
  }
  if (same_document(doc, state.document)) return false;
  state.document = std::move(doc);
  return true;
}

void EtcdRegistry::push_config_if_changed_locked(const std::string& service, ConfigState& state) {
  if (state.pushed && same_document(state.last_pushed, state.document)) return;
  state.pushed = true;
  state.last_pushed = state.document;
  dispatcher_.push_config_all(service, state.document);
}

// ---- session thread -----------------------------------------------------------

void EtcdRegistry::session_loop() {
  Backoff backoff(options_);
  Clock::time_point retry_at = Clock::time_point::min();
  bool connected = true;
  std::unique_lock lk(mu_);
  while (!stop_.load()) {
    const bool reads_owed =
        std::any_of(services_.begin(), services_.end(), [](const auto& s) { return s.second.reading; }) ||
        std::any_of(configs_.begin(), configs_.end(), [](const auto& c) { return c.second.reading; });
    const bool writes_owed = !to_put_.empty() || !to_delete_.empty() || (lease_id_ == 0 && !registered_.empty());
    Clock::time_point due = Clock::time_point::max();
    if (reads_owed || writes_owed) due = Clock::now();
    else if (lease_id_ != 0) due = next_keepalive_;
    due = std::max(due, retry_at);
    if (Clock::now() < due) {
      if (due == Clock::time_point::max()) session_cv_.wait(lk);
      else session_cv_.wait_until(lk, due);
      continue;
    }
    lk.unlock();
    Status st = sync_writes();
    if (st.is_ok()) st = refresh_reads();
    if (st.is_ok()) st = refresh_config_reads();
    lk.lock();
    if (st.is_ok()) {
      if (!connected) TERN_LOG(kInfo, "etcd registry: connected to etcd again");
      connected = true;
      backoff.reset();
      retry_at = Clock::time_point::min();
    } else if (st.code() != StatusCode::kCancelled) {
      // The same words as the other backends (embedded_registry.cc, zookeeper_registry.cc).
      if (connected) {
        TERN_LOG(kWarn, "registry etcd unreachable ({}); keeping the last provider lists, retrying with backoff",
                 st.message());
      }
      connected = false;
      retry_at = Clock::now() + backoff.next();
    }
  }
}

Status EtcdRegistry::refresh_reads() {
  for (;;) {
    std::string service;
    std::uint64_t generation = 0;
    {
      std::lock_guard lk(mu_);
      auto it = std::find_if(services_.begin(), services_.end(), [](const auto& s) { return s.second.reading; });
      if (it == services_.end()) return Status();
      service = it->first;
      generation = it->second.read_generation;
    }
    std::int64_t revision = 0;
    auto r = read_service(service, &revision);
    if (!r) return r.status();
    std::lock_guard lk(mu_);
    auto it = services_.find(service);
    if (it == services_.end() || it->second.read_generation != generation) continue;  // unsubscribed or stale
    ServiceState& state = it->second;
    state.providers = std::move(*r);
    state.revision = revision;
    for (const Event& e : state.pending) apply_event(state, e);
    state.pending.clear();
    state.reading = false;
    state.loaded = true;
    if (watch_from_ == 0) {
      watch_from_ = revision + 1;
      watch_cv_.notify_one();
    }
    push_if_changed_locked(service, state);
  }
}

// ---- watch thread ---------------------------------------------------------------

void EtcdRegistry::resync_all_locked() {
  for (auto& [name, state] : services_) {
    state.reading = true;
    state.read_generation = ++read_generations_;
    state.pending.clear();
  }
  for (auto& [name, state] : configs_) {
    state.reading = true;
    state.read_generation = ++read_generations_;
    state.pending.clear();
  }
  watch_from_ = 0;
  session_cv_.notify_one();
}

bool EtcdRegistry::apply_event(ServiceState& state, const Event& event) {
  if (event.revision <= state.revision) return false;  // already part of the state
  state.revision = event.revision;
  if (event.is_delete) return state.providers.erase(event.key) > 0;
  auto url = Url::parse(event.value);
  if (!url) {
    TERN_LOG(kWarn, "etcd registry: ignoring {}: {}", event.key, url.status().to_string());
    return state.providers.erase(event.key) > 0;
  }
  auto [it, inserted] = state.providers.try_emplace(event.key, *url);
  if (inserted) return true;
  if (it->second == *url) return false;
  it->second = std::move(*url);
  return true;
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
    const std::string provider_service = service_of_key(event.key);
    if (provider_service.empty()) {
      auto cit = configs_.find(service_of_config_key(event.key));
      if (cit == configs_.end()) continue;
      ConfigState& config = cit->second;
      if (config.reading) {
        config.pending.push_back(std::move(event));
      } else if (apply_config_event(config, event)) {
        push_config_if_changed_locked(cit->first, config);
      }
      continue;
    }
    auto it = services_.find(provider_service);
    if (it == services_.end()) continue;
    ServiceState& state = it->second;
    if (state.reading) {
      state.pending.push_back(std::move(event));
    } else if (apply_event(state, event)) {
      push_if_changed_locked(it->first, state);
    }
  }
  return true;
}

void EtcdRegistry::watch_loop() {
  Backoff backoff(options_);
  const std::string root(kRoot);
  for (;;) {
    std::int64_t from = 0;
    {
      std::unique_lock lk(mu_);
      watch_cv_.wait(lk, [&] { return stop_.load() || (watch_from_ > 0 && (!services_.empty() || !configs_.empty())); });
      if (stop_.load()) return;
      from = watch_from_;
    }
    const json request{{"create_request",
                        {{"key", etcd::base64_encode(root)},
                         {"range_end", etcd::base64_encode(etcd::prefix_range_end(root))},
                         {"start_revision", std::to_string(from)},
                         {"progress_notify", true}}}};
    bool created = false;
    bool resync = false;
    Status st = client_.stream("watch", request, [&](const json& msg) { return on_watch_message(msg, from, &created, &resync); });
    if (stop_.load()) return;
    if (resync) {
      backoff.reset();
      continue;  // waits for the first re-read to set watch_from_
    }
    if (created) backoff.reset();
    TERN_LOG(kDebug, "etcd registry: watch ended ({}); resuming from revision {}", st.to_string(), from);
    sleep_for(watch_cv_, backoff.next());
  }
}

void EtcdRegistry::sleep_for(std::condition_variable& cv, milliseconds delay) {
  std::unique_lock lk(mu_);
  cv.wait_for(lk, delay, [&] { return stop_.load(); });
}

// ---- pushes ----------------------------------------------------------------------

void EtcdRegistry::push_if_changed_locked(const std::string& service, ServiceState& state) {
  auto snapshot = std::make_shared<const std::vector<Url>>(values_of(state.providers));
  if (state.pushed && *state.pushed == *snapshot) return;
  state.pushed = snapshot;
  dispatcher_.push_all(service, std::move(snapshot));
}

}  // namespace tern
