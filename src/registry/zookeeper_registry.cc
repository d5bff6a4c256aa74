// The ZooKeeper registry backend (see zookeeper_registry.h for the data
// layout, the session life cycle and the threads).
//
// Every ZooKeeper call is made on the session thread with the synchronous API
// of the multi-threaded C client. That keeps the handle single-owner (it is
// replaced on session expiry), orders every write after the intent that
// caused it (a register followed by an unregister never leaves a node), and
// keeps ZooKeeper's completion thread free: calling the synchronous API from
// a watcher would deadlock the client.
#ifndef THREADED
#define THREADED  // declares the synchronous API of zookeeper_mt
#endif
#include "registry/zookeeper_registry.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "tern/log.h"

namespace tern {
namespace {

constexpr char kRoot[] = "/tern";
constexpr std::uint16_t kDefaultPort = 2181;
constexpr int kMaxCreateAttempts = 3;

std::string join_hosts(const std::vector<HostPort>& servers) {
  std::string out;
  for (const HostPort& hp : servers) {
    if (!out.empty()) out += ',';
    out += HostPort{hp.host, hp.port == 0 ? kDefaultPort : hp.port}.to_string();
  }
  return out;
}

int session_timeout_ms(const RegistryOptions& options) {
  auto ms = 3 * options.heartbeat_interval.count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 1, std::numeric_limits<int>::max()));
}

// ZooKeeper refuses "", "." and ".." as node names; '/' would nest.
Status check_service(const std::string& service) {
  if (service.empty() || service == "." || service == ".." || service.find('/') != std::string::npos ||
      service.find('\0') != std::string::npos) {
    return Status(StatusCode::kInvalidArgument, "invalid service name for ZooKeeper: \"" + service + "\"");
  }
  return Status::ok();
}

Status check_url(const Url& url, const char* what) {
  if (url.hosts().empty() || url.path().empty()) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(what) + " URL needs a host and a service: " + url.to_string());
  }
  return check_service(url.path());
}

// Maps a ZooKeeper result code onto a Status (gRPC canonical codes).
Status zk_status(int rc, const std::string& what) {
  StatusCode code = StatusCode::kInternal;
  switch (rc) {
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZSESSIONMOVED:
    case ZINVALIDSTATE:
    case ZCLOSING:
      code = StatusCode::kUnavailable;
      break;
    case ZNONODE:
      code = StatusCode::kNotFound;
      break;
    case ZNODEEXISTS:
      code = StatusCode::kAlreadyExists;
      break;
    case ZNOAUTH:
    case ZAUTHFAILED:
      code = StatusCode::kPermissionDenied;
      break;
    case ZBADARGUMENTS:
      code = StatusCode::kInvalidArgument;
      break;
    default:
      break;
  }
  return Status(code, what + ": " + zerror(rc));
}

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

// "/tern/<service>/providers" -> "<service>", else "".
std::string service_of_providers_folder(const std::string& path) {
  static const std::string kPrefix = std::string(kRoot) + "/";
  static const std::string kSuffix = "/providers";
  if (path.size() <= kPrefix.size() + kSuffix.size() || path.compare(0, kPrefix.size(), kPrefix) != 0 ||
      path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return {};
  }
  std::string service = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  return service.find('/') == std::string::npos ? service : std::string();
}

// "/tern/<service>/config" -> "<service>", else "".
std::string service_of_config_path(const std::string& path) {
  static const std::string kPrefix = std::string(kRoot) + "/";
  static const std::string kSuffix = "/config";
  if (path.size() <= kPrefix.size() + kSuffix.size() || path.compare(0, kPrefix.size(), kPrefix) != 0 ||
      path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return {};
  }
  std::string service = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  return service.find('/') == std::string::npos ? service : std::string();
}

// Completion flag a caller waits on with a timeout; shared with the task so
// a caller that gave up leaves nothing dangling.
struct Completion {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

}  // namespace

Result<std::shared_ptr<Registry>> make_zookeeper_registry(const Url& address, const RegistryOptions& options) {
  if (address.hosts().empty()) {
    return Status(StatusCode::kInvalidArgument, "zookeeper registry needs at least one host: " + address.to_string());
  }
  if (options.heartbeat_interval.count() <= 0 || options.request_timeout.count() <= 0) {
    return Status(StatusCode::kInvalidArgument, "heartbeat_interval and request_timeout must be positive");
  }
  return std::shared_ptr<Registry>(std::make_shared<ZookeeperRegistry>(address.hosts(), options));
}

std::string ZookeeperRegistry::providers_folder(const std::string& service) {
  return std::string(kRoot) + "/" + service + "/providers";
}

std::string ZookeeperRegistry::provider_path(const Url& provider) {
  return providers_folder(provider.path()) + "/" + url_encode(provider.to_string());
}

std::string ZookeeperRegistry::config_path(const std::string& service) {
  return std::string(kRoot) + "/" + service + "/config";
}

std::string ZookeeperRegistry::consumer_path(const Url& consumer) {
  return std::string(kRoot) + "/" + consumer.path() + "/consumers/" + url_encode(consumer.to_string());
}

ZookeeperRegistry::ZookeeperRegistry(std::vector<HostPort> servers, RegistryOptions options)
    : hosts_(join_hosts(servers)),
      options_(options),
      session_timeout_ms_(session_timeout_ms(options)),
      providers_([this](const std::string& service, const ListenerDispatcher::Snapshot& list) {
        dispatcher_.push_all(service, list);
      }),
      configs_([this](const std::string& service, const ConfigDocument& document) {
        dispatcher_.push_config_all(service, document);
      }),
      session_(BackoffPolicy{options.initial_backoff, options.max_backoff},
               [this](const ReconnectLoop::Pass& pass) { return session_pass(pass); }) {
  session_.start();
}

ZookeeperRegistry::~ZookeeperRegistry() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  session_.stop();
  close_session();  // the server drops our ephemeral nodes now, not after the timeout
  // dispatcher_ (a member) stops the listener thread after this body.
}

// ---- public side --------------------------------------------------------------

bool ZookeeperRegistry::run_on_session_thread(std::function<void()> fn) {
  auto done = std::make_shared<Completion>();
  {
    std::lock_guard lock(mu_);
    if (stop_) return false;
    Event event;
    event.task = [fn = std::move(fn), done] {
      fn();
      std::lock_guard l(done->mu);
      done->done = true;
      done->cv.notify_all();
    };
    events_.push_back(std::move(event));
  }
  session_.wake();
  std::unique_lock lock(done->mu);
  return done->cv.wait_for(lock, options_.request_timeout, [&] { return done->done; });
}

void ZookeeperRegistry::wait_for_first_connection() {
  std::unique_lock lock(mu_);
  connected_cv_.wait_for(lock, options_.request_timeout, [&] { return ever_connected_ || stop_; });
}

Status ZookeeperRegistry::register_node(std::string path, const Url& url) {
  wait_for_first_connection();
  {
    std::lock_guard lock(mu_);
    wanted_[path] = url;
  }
  auto result = std::make_shared<Status>();
  if (!run_on_session_thread([this, path, result] { *result = sync_node(path); })) {
    return Status(StatusCode::kUnavailable, "ZooKeeper did not answer in time; will register " + url.to_string() +
                                                " when reachable");
  }
  return *result;
}

Status ZookeeperRegistry::unregister_node(std::string path) {
  {
    std::lock_guard lock(mu_);
    wanted_.erase(path);
  }
  auto result = std::make_shared<Status>();
  if (!run_on_session_thread([this, path, result] { *result = sync_node(path); })) {
    return Status(StatusCode::kUnavailable, "ZooKeeper did not answer in time; will remove " + path + " when reachable");
  }
  return *result;
}

Status ZookeeperRegistry::register_provider(const Url& provider) {
  if (Status s = check_url(provider, "provider"); !s) return s;
  return register_node(provider_path(provider), provider);
}

Status ZookeeperRegistry::unregister_provider(const Url& provider) {
  if (Status s = check_url(provider, "provider"); !s) return s;
  return unregister_node(provider_path(provider));
}

Status ZookeeperRegistry::register_consumer(const Url& consumer) {
  if (Status s = check_url(consumer, "consumer"); !s) return s;
  return register_node(consumer_path(consumer), consumer);
}

Status ZookeeperRegistry::unregister_consumer(const Url& consumer) {
  if (Status s = check_url(consumer, "consumer"); !s) return s;
  return unregister_node(consumer_path(consumer));
}

Result<SubscriptionId> ZookeeperRegistry::subscribe(const std::string& service, RegistryListener listener) {
  if (Status s = check_service(service); !s) return s;
  if (!listener) return Status(StatusCode::kInvalidArgument, "empty listener");
  SubscriptionId id = 0;
  {
    // The invariant of providers_ (zookeeper_registry.h) holds.
    std::lock_guard lock(mu_);
    id = dispatcher_.add(service, std::move(listener));
    if (const ListenerDispatcher::Snapshot* last = providers_.last(service)) {
      dispatcher_.push(id, *last);
    } else if (auto c = cache_.find(service); c != cache_.end()) {
      // Known from an earlier read (maybe while ZooKeeper is down now).
      providers_.offer(service, std::make_shared<const std::vector<Url>>(c->second));
    }
  }
  // Read (and watch) now; pushes when the list differs from what was given.
  // Not waited for: a subscription outlives an unreachable ZooKeeper.
  std::lock_guard lock(mu_);
  Event event;
  event.task = [this, service] {
    if (Status s = refresh(service); !s) {
      warn_unreachable(s, service);
      schedule_retry();
    }
  };
  events_.push_back(std::move(event));
  session_.wake();
  return id;
}

void ZookeeperRegistry::unsubscribe(SubscriptionId id) {
  std::optional<std::string> service = dispatcher_.remove(id);  // waits for a running listener
  if (!service) return;
  std::lock_guard lock(mu_);
  if (!dispatcher_.has_subscribers(*service)) providers_.erase(*service);  // keeps the invariant
  // The ZooKeeper watch stays armed until it fires once; its event is then ignored.
}

Result<std::vector<Url>> ZookeeperRegistry::lookup(const std::string& service) {
  if (Status s = check_service(service); !s) return s;
  wait_for_first_connection();
  auto result = std::make_shared<std::optional<Result<std::vector<Url>>>>();
  bool answered = run_on_session_thread([this, service, result] {
    auto list = read_providers(service, /*watch=*/false);
    if (list) {
      std::lock_guard lock(mu_);
      cache_[service] = *list;
    }
    *result = std::move(list);
  });
  if (answered && (*result)->ok()) return **result;
  std::lock_guard lock(mu_);
  if (auto it = cache_.find(service); it != cache_.end()) return it->second;  // registry down: last known list
  if (answered) return (*result)->status();
  return Status(StatusCode::kUnavailable, "ZooKeeper did not answer in time and " + service + " has no cached list");
}

Result<std::vector<Url>> ZookeeperRegistry::list_consumers(const std::string& service) {
  if (Status s = check_service(service); !s) return s;
  wait_for_first_connection();
  auto result = std::make_shared<std::optional<Result<std::vector<Url>>>>();
  bool answered = run_on_session_thread([this, service, result] {
    *result = read_folder(std::string(kRoot) + "/" + service + "/consumers", /*watch=*/false);
  });
  if (!answered) return Status(StatusCode::kUnavailable, "ZooKeeper did not answer in time");
  return std::move(**result);
}

Result<std::vector<std::string>> ZookeeperRegistry::list_services() {
  wait_for_first_connection();
  auto result = std::make_shared<std::optional<Result<std::vector<std::string>>>>();
  bool answered = run_on_session_thread([this, result] {
    if (!zk_connected()) {
      *result = Status(StatusCode::kUnavailable, "not connected to ZooKeeper");
      return;
    }
    String_vector children{};
    int rc = zoo_get_children(zh_, kRoot, 0, &children);
    if (rc == ZNONODE) {
      *result = std::vector<std::string>{};
      return;
    }
    if (rc != ZOK) {
      *result = zk_status(rc, std::string("list ") + kRoot);
      return;
    }
    std::vector<std::string> names(children.data, children.data + children.count);
    deallocate_String_vector(&children);
    std::vector<std::string> services;
    for (const std::string& name : names) {
      Stat stat{};
      rc = zoo_exists(zh_, providers_folder(name).c_str(), 0, &stat);
      if (rc == ZOK && stat.numChildren > 0) {
        services.push_back(name);
      } else if (rc != ZOK && rc != ZNONODE) {
        *result = zk_status(rc, "stat " + providers_folder(name));
        return;
      }
    }
    std::sort(services.begin(), services.end());
    *result = std::move(services);
  });
  if (!answered) return Status(StatusCode::kUnavailable, "ZooKeeper did not answer in time");
  return std::move(**result);
}

// ---- dynamic configuration ----------------------------------------------------

Status ZookeeperRegistry::run_config_write(std::function<Status()> fn) {
  wait_for_first_connection();
  // "Nothing is stored" when we answer UNAVAILABLE: a write still queued
  // when the caller gave up is skipped.
  const auto deadline = SteadyClock::now() + options_.request_timeout;
  auto result = std::make_shared<Status>(StatusCode::kUnavailable, "ZooKeeper did not answer in time");
  bool answered = run_on_session_thread([fn = std::move(fn), result, deadline] {
    if (SteadyClock::now() < deadline) *result = fn();
  });
  if (!answered) return Status(StatusCode::kUnavailable, "ZooKeeper did not answer in time; nothing was stored");
  return *result;
}

Status ZookeeperRegistry::set_config(const std::string& service, const std::string& text) {
  if (Status s = check_service(service); !s) return s;
  if (text.size() > kMaxConfigBytes) {
    return Status(StatusCode::kInvalidArgument, "configuration of " + service + " too large for ZooKeeper (" +
                                                    std::to_string(text.size()) + " bytes, at most " +
                                                    std::to_string(kMaxConfigBytes) + ")");
  }
  return run_config_write([this, service, text] { return write_config(service, &text); });
}

Status ZookeeperRegistry::remove_config(const std::string& service) {
  if (Status s = check_service(service); !s) return s;
  return run_config_write([this, service] { return write_config(service, nullptr); });
}

Result<ConfigDocument> ZookeeperRegistry::get_config(const std::string& service) {
  if (Status s = check_service(service); !s) return s;
  wait_for_first_connection();
  auto result = std::make_shared<std::optional<Result<ConfigDocument>>>();
  bool answered = run_on_session_thread([this, service, result] { *result = read_config(service, /*watch=*/false); });
  if (!answered) return Status(StatusCode::kUnavailable, "ZooKeeper did not answer in time");
  return std::move(**result);
}

Result<SubscriptionId> ZookeeperRegistry::watch_config(const std::string& service, ConfigListener listener) {
  if (Status s = check_service(service); !s) return s;
  if (!listener) return Status(StatusCode::kInvalidArgument, "empty listener");
  SubscriptionId id = 0;
  std::lock_guard lock(mu_);
  // The invariant of configs_ (as providers_, zookeeper_registry.h) holds.
  id = dispatcher_.add_config(service, std::move(listener));
  if (const ConfigDocument* last = configs_.last(service)) dispatcher_.push_config(id, *last);
  // Read (and watch) now; pushes when the document differs from what was given.
  Event event;
  event.task = [this, service] {
    if (Status s = refresh_config(service); !s) {
      warn_unreachable(s, service);
      schedule_retry();
    }
  };
  events_.push_back(std::move(event));
  session_.wake();
  return id;
}

void ZookeeperRegistry::unwatch_config(SubscriptionId id) {
  std::optional<std::string> service = dispatcher_.remove(id);  // waits for a running listener
  if (!service) return;
  std::lock_guard lock(mu_);
  if (!dispatcher_.has_config_watchers(*service)) configs_.erase(*service);
  // The ZooKeeper watch stays armed until it fires once; its event is then ignored.
}

Result<ConfigDocument> ZookeeperRegistry::read_config(const std::string& service, bool watch) {
  if (!zk_connected()) return Status(StatusCode::kUnavailable, "not connected to ZooKeeper");
  const std::string path = config_path(service);
  std::vector<char> buffer(4096);
  for (int attempt = 0; attempt < 2 * kMaxCreateAttempts; ++attempt) {
    Stat stat{};
    int length = static_cast<int>(buffer.size());
    int rc = zoo_get(zh_, path.c_str(), watch ? 1 : 0, buffer.data(), &length, &stat);
    if (rc == ZOK) {
      if (stat.dataLength > length) {  // truncated: read again with room for all of it
        buffer.resize(static_cast<std::size_t>(stat.dataLength));
        continue;
      }
      ConfigDocument doc;
      if (length > 0) doc.text.assign(buffer.data(), static_cast<std::size_t>(length));
      doc.revision = static_cast<std::uint64_t>(stat.mzxid);
      return doc;
    }
    if (rc != ZNONODE) return zk_status(rc, "get " + path);
    if (!watch) return ConfigDocument{};
    // No document: watch for its creation; the event re-reads.
    rc = zoo_exists(zh_, path.c_str(), 1, &stat);
    if (rc == ZNONODE) return ConfigDocument{};
    if (rc != ZOK) return zk_status(rc, "stat " + path);
    // Created meanwhile: get it (and set the data watch) again.
  }
  return Status(StatusCode::kUnavailable, "get " + path + ": changed repeatedly while reading");
}

Status ZookeeperRegistry::write_config(const std::string& service, const std::string* text) {
  if (!zk_connected()) return Status(StatusCode::kUnavailable, "not connected to ZooKeeper; nothing was stored");
  const std::string path = config_path(service);
  if (text == nullptr) {
    int rc = zoo_delete(zh_, path.c_str(), -1);
    if (rc != ZOK && rc != ZNONODE) return zk_status(rc, "delete " + path);
    return Status::ok();
  }
  const int length = static_cast<int>(text->size());
  for (int attempt = 0; attempt < kMaxCreateAttempts; ++attempt) {
    int rc = zoo_set(zh_, path.c_str(), text->data(), length, -1);
    if (rc == ZOK) return Status::ok();
    if (rc != ZNONODE) return zk_status(rc, "set " + path);
    rc = zoo_create(zh_, path.c_str(), text->data(), length, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, nullptr, 0);
    if (rc == ZOK) return Status::ok();
    if (rc == ZNONODE) {  // /tern/<service> is missing
      if (Status s = ensure_parents(parent_of(path)); !s) return s;
      rc = zoo_create(zh_, path.c_str(), text->data(), length, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, nullptr, 0);
      if (rc == ZOK) return Status::ok();
    }
    if (rc != ZNODEEXISTS) return zk_status(rc, "create " + path);
    // Created by another writer meanwhile: set it.
  }
  return Status(StatusCode::kAborted, "set " + path + ": the node keeps being created and deleted");
}

// Re-reads the document of `service` with its watch re-armed; pushes when it
// differs from the one its watchers got, or when they got none yet.
Status ZookeeperRegistry::refresh_config(const std::string& service) {
  auto doc = read_config(service, /*watch=*/true);
  if (!doc) return doc.status();
  std::lock_guard lock(mu_);
  if (dispatcher_.has_config_watchers(service)) configs_.offer(service, std::move(*doc));
  return Status::ok();
}

std::optional<ZookeeperRegistry::SessionInfo> ZookeeperRegistry::session() const {
  std::lock_guard lock(mu_);
  return session_info_;
}

// ---- ZooKeeper's threads ------------------------------------------------------

// Runs on ZooKeeper's completion thread: only queue, never call ZooKeeper here.
void ZookeeperRegistry::on_watch(zhandle_t* /*zh*/, int type, int state, const char* path, void* ctx) {
  auto* wc = static_cast<WatchContext*>(ctx);
  if (wc == nullptr) return;
  ZookeeperRegistry* self = wc->self;
  {
    std::lock_guard lock(self->mu_);
    Event event;
    event.generation = wc->generation;
    event.type = type;
    event.state = state;
    if (path != nullptr) event.path = path;
    self->events_.push_back(std::move(event));
  }
  self->session_.wake();
}

void ZookeeperRegistry::on_zk_log(const char* message) {
  std::string_view m(message);
  while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.remove_suffix(1);
  TERN_LOG(kDebug, "zookeeper: {}", m);  // the client is chatty while a server is down
}

// ---- session thread -------------------------------------------------------------

ReconnectLoop::Step ZookeeperRegistry::session_pass(const ReconnectLoop::Pass& pass) {
  retry_wanted_ = false;
  if (!opened_) {
    opened_ = true;
    open_session();
  }
  std::deque<Event> batch;
  {
    std::lock_guard lock(mu_);
    if (stop_) return {};
    batch.swap(events_);
  }
  for (Event& event : batch) handle(event);
  if (pass.retry) {
    if (zh_ == nullptr) {
      open_session();
    } else if (zk_connected()) {
      full_resync();
    }
  }
  return {retry_wanted_ ? ReconnectLoop::Outcome::kFailed : ReconnectLoop::Outcome::kIdle};
}

void ZookeeperRegistry::handle(Event& event) {
  if (event.task) {
    event.task();
    return;
  }
  if (event.generation != generation_ || zh_ == nullptr) return;  // a closed handle's event

  if (event.type == ZOO_SESSION_EVENT) {
    if (event.state == ZOO_CONNECTED_STATE) {
      const clientid_t* id = zoo_client_id(zh_);
      if (id->client_id != session_id_) created_.clear();  // a new session owns nothing yet
      session_id_ = id->client_id;
      {
        std::lock_guard lock(mu_);
        session_info_ = SessionInfo{id->client_id, std::string(id->passwd, sizeof(id->passwd))};
        ever_connected_ = true;
      }
      connected_cv_.notify_all();
      connected_ = true;
      unreachable_warned_ = false;
      session_.reset_backoff();
      TERN_LOG(kInfo, "zookeeper registry: connected to {} (session 0x{:x}, timeout {} ms)", hosts_,
               session_id_, zoo_recv_timeout(zh_));
      full_resync();
    } else if (event.state == ZOO_EXPIRED_SESSION_STATE) {
      TERN_LOG(kWarn, "zookeeper registry: session 0x{:x} expired; opening a new one and registering again",
               session_id_);
      close_session();
      open_session();
    } else if (event.state == ZOO_AUTH_FAILED_STATE) {
      TERN_LOG(kError, "zookeeper registry: authentication failed on {}; retrying", hosts_);
      close_session();
      schedule_retry();
    } else {  // CONNECTING / ASSOCIATING / READONLY: the client reconnects by itself
      if (connected_.exchange(false)) {
        unreachable_warned_ = true;
        TERN_LOG(kWarn, "registry zookeeper://{} unreachable (lost connection); keeping the last provider lists",
                 hosts_);
      }
    }
    return;
  }
  if (event.type == ZOO_CHANGED_EVENT || event.type == ZOO_CREATED_EVENT || event.type == ZOO_DELETED_EVENT) {
    std::string service = service_of_config_path(event.path);
    if (!service.empty()) {
      if (dispatcher_.has_config_watchers(service)) {
        if (Status s = refresh_config(service); !s) schedule_retry();
      }
      return;
    }
  }
  if (event.type == ZOO_CHILD_EVENT || event.type == ZOO_CREATED_EVENT || event.type == ZOO_DELETED_EVENT) {
    std::string service = service_of_providers_folder(event.path);
    if (!service.empty() && dispatcher_.has_subscribers(service)) {
      if (Status s = refresh(service); !s) schedule_retry();
    }
  }
}

void ZookeeperRegistry::open_session() {
  ++generation_;
  watch_ctx_ = std::make_unique<WatchContext>(WatchContext{this, generation_});
  zh_ = zookeeper_init2(hosts_.c_str(), &ZookeeperRegistry::on_watch, session_timeout_ms_, nullptr, watch_ctx_.get(),
                        0, &ZookeeperRegistry::on_zk_log);
  if (zh_ == nullptr) {
    TERN_LOG(kWarn, "zookeeper registry: cannot create a client for {}: {}", hosts_, std::strerror(errno));
    schedule_retry();
  }
}

void ZookeeperRegistry::close_session() {
  if (zh_ != nullptr) {
    zookeeper_close(zh_);  // joins ZooKeeper's threads: no callback runs after this
    zh_ = nullptr;
  }
  watch_ctx_.reset();
  connected_ = false;
  session_id_ = 0;
  created_.clear();
  std::lock_guard lock(mu_);
  session_info_.reset();
}

// The same words as the other backends (embedded_registry.cc, etcd_registry.cc),
// once per outage: a consumer subscribing while ZooKeeper is down is told so.
void ZookeeperRegistry::warn_unreachable(const Status& why, const std::string& service) {
  if (connected_.load() || unreachable_warned_) return;
  unreachable_warned_ = true;
  bool cached = false;
  {
    std::lock_guard lock(mu_);
    cached = providers_.contains(service);
  }
  TERN_LOG(kWarn, "registry zookeeper://{} unreachable ({}); subscribing to {} once it is reachable{}", hosts_,
           why.message(), service, cached ? "; keeping the last provider list" : "");
}

// The pass that called it answers kFailed: session_ schedules the retry
// (not earlier than one already scheduled) with its backoff.
void ZookeeperRegistry::schedule_retry() { retry_wanted_ = true; }

bool ZookeeperRegistry::zk_connected() const {
  return zh_ != nullptr && zoo_state(zh_) == ZOO_CONNECTED_STATE;
}

// Brings ZooKeeper in line with this object after (re)connecting or a failure:
// wanted nodes exist and belong to our session, unwanted ones we created are
// gone, and every subscribed service is re-read with its watch re-armed.
void ZookeeperRegistry::full_resync() {
  std::set<std::string> paths;
  {
    std::lock_guard lock(mu_);
    for (const auto& [path, url] : wanted_) paths.insert(path);
  }
  for (const std::string& path : created_) paths.insert(path);  // maybe unregistered meanwhile
  bool ok = true;
  for (const std::string& path : paths) {
    if (Status s = sync_node(path); !s) {
      TERN_LOG(kWarn, "zookeeper registry: {}", s.to_string());
      ok = false;
    }
  }
  for (const std::string& service : dispatcher_.subscribed_services()) {
    if (Status s = refresh(service); !s) {
      TERN_LOG(kWarn, "zookeeper registry: re-reading {}: {}", service, s.to_string());
      ok = false;
    }
  }
  for (const std::string& service : dispatcher_.watched_configs()) {
    if (Status s = refresh_config(service); !s) {
      TERN_LOG(kWarn, "zookeeper registry: re-reading the configuration of {}: {}", service, s.to_string());
      ok = false;
    }
  }
  if (!ok) schedule_retry();
}

Status ZookeeperRegistry::sync_node(const std::string& path) {
  std::optional<Url> url;
  {
    std::lock_guard lock(mu_);
    if (auto it = wanted_.find(path); it != wanted_.end()) url = it->second;
  }
  Status s = url ? ensure_node(path, *url) : remove_node(path);
  if (!s && s.code() == StatusCode::kUnavailable && zk_connected()) schedule_retry();  // e.g. a timeout
  return s;
}

Status ZookeeperRegistry::ensure_parents(const std::string& path) {
  // Create "/tern", "/tern/<service>", ... in turn; existing ones are fine.
  for (std::size_t slash = path.find('/', 1); ; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    int rc = zoo_create(zh_, prefix.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, nullptr, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) return zk_status(rc, "create " + prefix);
    if (slash == std::string::npos) return Status::ok();
  }
}

Status ZookeeperRegistry::ensure_node(const std::string& path, const Url& url) {
  if (!zk_connected()) {
    return Status(StatusCode::kUnavailable, "not connected to ZooKeeper; will register " + url.to_string() +
                                                " when connected");
  }
  const std::string data = url.to_string();
  for (int attempt = 0; attempt < kMaxCreateAttempts; ++attempt) {
    int rc = zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_EPHEMERAL, nullptr, 0);
    if (rc == ZOK) {
      created_.insert(path);
      return Status::ok();
    }
    if (rc == ZNONODE) {  // a parent is missing
      if (Status s = ensure_parents(parent_of(path)); !s) return s;
      continue;
    }
    if (rc != ZNODEEXISTS) return zk_status(rc, "create " + path);
    Stat stat{};
    rc = zoo_exists(zh_, path.c_str(), 0, &stat);
    if (rc == ZNONODE) continue;  // vanished meanwhile: create again
    if (rc != ZOK) return zk_status(rc, "stat " + path);
    if (stat.ephemeralOwner == session_id_) {
      created_.insert(path);
      return Status::ok();
    }
    // Left by another session: ours before an expiry the server has not
    // processed yet, or a crashed process's. It would vanish when that
    // session times out, taking our registration with it: replace it.
    TERN_LOG(kInfo, "zookeeper registry: replacing {} owned by session 0x{:x}", path, stat.ephemeralOwner);
    rc = zoo_delete(zh_, path.c_str(), stat.version);
    if (rc != ZOK && rc != ZNONODE && rc != ZBADVERSION) return zk_status(rc, "delete " + path);
  }
  return Status(StatusCode::kAborted, "create " + path + ": the node keeps being re-created by another session");
}

Status ZookeeperRegistry::remove_node(const std::string& path) {
  if (created_.count(path) == 0) return Status::ok();  // never ours in this session
  if (!zk_connected()) {
    return Status(StatusCode::kUnavailable, "not connected to ZooKeeper; will remove " + path + " when connected");
  }
  Stat stat{};
  int rc = zoo_exists(zh_, path.c_str(), 0, &stat);
  if (rc == ZOK && stat.ephemeralOwner == session_id_) {
    rc = zoo_delete(zh_, path.c_str(), stat.version);
    if (rc != ZOK && rc != ZNONODE) return zk_status(rc, "delete " + path);
  } else if (rc != ZOK && rc != ZNONODE) {
    return zk_status(rc, "stat " + path);
  }
  created_.erase(path);  // gone, or replaced by another session that now owns it
  return Status::ok();
}

Result<std::vector<Url>> ZookeeperRegistry::read_providers(const std::string& service, bool watch) {
  return read_folder(providers_folder(service), watch);
}

Result<std::vector<Url>> ZookeeperRegistry::read_folder(const std::string& folder, bool watch) {
  if (!zk_connected()) return Status(StatusCode::kUnavailable, "not connected to ZooKeeper");
  for (int attempt = 0; attempt < kMaxCreateAttempts; ++attempt) {
    String_vector children{};
    int rc = zoo_get_children(zh_, folder.c_str(), watch ? 1 : 0, &children);
    if (rc == ZOK) {
      std::vector<Url> providers;
      providers.reserve(static_cast<std::size_t>(children.count));
      for (std::int32_t i = 0; i < children.count; ++i) {
        auto text = url_decode(children.data[i]);
        auto url = text ? Url::parse(*text) : Result<Url>(text.status());
        if (url) {
          providers.push_back(std::move(*url));
        } else {
          TERN_LOG(kWarn, "zookeeper registry: ignoring node {}/{}: {}", folder, children.data[i],
                   url.status().to_string());
        }
      }
      deallocate_String_vector(&children);
      std::sort(providers.begin(), providers.end(),
                [](const Url& a, const Url& b) { return a.to_string() < b.to_string(); });
      return providers;
    }
    if (rc != ZNONODE) return zk_status(rc, "list " + folder);
    if (!watch) return std::vector<Url>{};
    // No folder yet: watch for its creation instead; the event re-reads.
    Stat stat{};
    rc = zoo_exists(zh_, folder.c_str(), 1, &stat);
    if (rc == ZNONODE) return std::vector<Url>{};
    if (rc != ZOK) return zk_status(rc, "stat " + folder);
    // Created meanwhile: list it (and set the child watch) again.
  }
  return Status(StatusCode::kUnavailable, "list " + folder + ": created and deleted repeatedly");
}

// Re-reads `service` with its watch re-armed; pushes when the list differs
// from the one its subscribers got, or when they got none yet.
Status ZookeeperRegistry::refresh(const std::string& service) {
  auto list = read_providers(service, /*watch=*/true);
  if (!list) return list.status();
  std::lock_guard lock(mu_);
  cache_[service] = *list;
  if (dispatcher_.has_subscribers(service)) {
    providers_.offer(service, std::make_shared<const std::vector<Url>>(std::move(*list)));
  }
  return Status::ok();
}

}  // namespace tern
