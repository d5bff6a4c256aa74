// etcd_registry.h - the etcd v3 backend of the Registry interface
// (tern/registry.h, DESIGN §6), selected by `etcd://host:2379[,host2:2379]`.
//
// Data layout: one key per provider,
//   /tern/<service>/providers/<url_encode(provider.to_string())>  =  provider.to_string()
// and one per consumer (tern/registry.h), on the same lease,
//   /tern/<service>/consumers/<url_encode(consumer.to_string())>  =  consumer.to_string()
// and one per service for its dynamic configuration document, bound to NO
// lease (it outlives the writer; set_config()):
//   /tern/<service>/config  =  the document (opaque text); revision = the key's mod_revision
// Registrations are bound to one lease per EtcdRegistry object with TTL = 3 x heartbeat_interval
// (whole seconds, rounded up; etcd may raise it to its minimum), renewed every
// heartbeat_interval. A crashed provider's keys vanish when its lease expires;
// a lease lost while etcd was unreachable is replaced by a new one and every
// key is put again.
//
// Discovery: subscribing to a service reads its prefix (a range read at some
// revision R) and relies on ONE watch stream per EtcdRegistry over the whole
// /tern/ prefix, which resumes from the last revision it saw + 1 after any
// reconnect, so no change is lost across etcd restarts. Events are filtered
// to the subscribed services (a consumer therefore receives the change
// traffic of all services, which is small for a registry). Each service's
// state remembers the revision it is current at and ignores older events;
// events arriving while a read is in flight are buffered and replayed on top
// of it. When the resume revision has been compacted away (or etcd comes back
// with an older revision, i.e. new data), every subscribed service is read
// again and the watch continues from there (the watch asks for progress
// notifications, so a quiet watch's resume point still advances and rarely
// falls behind compaction). Lists survive disconnects: no
// empty push is made because etcd is down. Configuration watches
// (watch_config()) ride on the same read + watch-stream machinery: one
// KeyRead per watched key of either kind, and the same code for both
// (refresh_reads(), on_event_locked()), over two WatchedBooks
// (registry/common/watched_book.h) that hold each key's value and revision
// (epoch = the resync count, number = etcd's revision).
//
// Threads (all owned; the destructor stops them within ~100 ms):
//  - session thread (a ReconnectLoop, registry/common/reconnect_loop.h):
//    lease grant/keep-alive, puts and deletes that failed earlier, and the
//    range reads of newly subscribed or resynced keys; retries with the
//    loop's backoff (initial_backoff doubling to max_backoff, jittered).
//  - watch thread (a second ReconnectLoop): runs the watch stream (libcurl,
//    aborted through the stop flag while idle) and applies events; restarts
//    it with backoff.
//  - the ListenerDispatcher's thread (listener_dispatcher.h): the only
//    thread that calls listeners. A service's list is pushed when it differs
//    from the last list pushed for it (the first list always is); a new
//    subscriber of an already known service gets the current list at once.
// register_provider() / unregister_provider() also talk to etcd on the
// caller's thread so that they can report UNAVAILABLE; all writes (lease and
// keys) are serialized by one mutex, so the last intent always wins.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "registry/common/reconnect_loop.h"
#include "registry/common/watched_book.h"
#include "registry/etcd_client.h"
#include "registry/listener_dispatcher.h"
#include "tern/registry.h"

namespace tern {

// Creates the etcd backend for `address` (scheme etcd, one or more
// host[:port], port defaulting to 2379). INVALID_ARGUMENT without a host.
// Never waits for etcd: an unreachable etcd gives a registry that retries.
Result<std::shared_ptr<Registry>> make_etcd_registry(const Url& address, const RegistryOptions& options);

class EtcdRegistry final : public Registry {
 public:
  // `endpoints` must not be empty.
  EtcdRegistry(std::vector<HostPort> endpoints, RegistryOptions options);
  // Stops the threads, then revokes the lease (best effort, at most ~1 s), so
  // this object's providers disappear at once.
  ~EtcdRegistry() override;

  EtcdRegistry(const EtcdRegistry&) = delete;
  EtcdRegistry& operator=(const EtcdRegistry&) = delete;

  Status register_provider(const Url& provider) override;
  Status unregister_provider(const Url& provider) override;
  Result<SubscriptionId> subscribe(const std::string& service, RegistryListener listener) override;
  void unsubscribe(SubscriptionId id) override;
  Result<std::vector<Url>> lookup(const std::string& service) override;
  Result<std::vector<std::string>> list_services() override;
  Status register_consumer(const Url& consumer) override;
  Status unregister_consumer(const Url& consumer) override;
  Result<std::vector<Url>> list_consumers(const std::string& service) override;
  Status set_config(const std::string& service, const std::string& text) override;
  Status remove_config(const std::string& service) override;
  Result<ConfigDocument> get_config(const std::string& service) override;
  Result<SubscriptionId> watch_config(const std::string& service, ConfigListener listener) override;
  void unwatch_config(SubscriptionId id) override;

  // The key a service's configuration document is stored under.
  static std::string config_key(const std::string& service);

  // Test seam: with `false`, destruction neither revokes the lease nor
  // deletes keys, as if the process had crashed; the keys then disappear
  // when the lease expires (3 heartbeats). Thread-safe.
  void set_revoke_on_destroy(bool revoke) { revoke_on_destroy_.store(revoke); }

  // The key a provider is stored under.
  static std::string provider_key(const Url& provider);
  // The key a consumer is stored under.
  static std::string consumer_key(const Url& consumer);

 private:
  using SteadyClock = std::chrono::steady_clock;

  // One change seen on the watch stream.
  struct Event {
    std::int64_t revision = 0;
    bool is_delete = false;
    std::string key;
    std::string value;
  };
  // The read state of one watched key (a subscribed service's provider
  // prefix, or a watched configuration document); its value lives in a book.
  struct KeyRead {
    bool reading = true;  // a (re-)read is wanted; events are buffered in `pending`
    std::uint64_t read_generation = 0;  // changes (registry-wide unique) when a read in flight becomes stale
    std::vector<Event> pending;
  };
  using ProviderMap = std::map<std::string, Url>;  // etcd key -> provider, in key order

  // Reads every key of `reads` that wants a read with `read`, applies the
  // events buffered meanwhile with `apply` and offers the result to `book`.
  // Session thread only; takes mu_.
  template <class Value, class Equal, class Read, class Apply>
  Status refresh_reads(std::map<std::string, KeyRead>& reads, WatchedBook<Value, Equal>& book, Read read, Apply apply);
  // Buffers `event` for `name` while it is being read, else applies it to
  // its value in `book` (pushed if changed). mu_ held.
  template <class Value, class Equal, class Apply>
  void on_event_locked(std::map<std::string, KeyRead>& reads, WatchedBook<Value, Equal>& book, const std::string& name,
                       Event event, Apply apply);
  // One event applied to a value; true when it changed it.
  static bool apply_provider_event(ProviderMap& providers, const Event& event);
  static bool apply_config_event(ConfigDocument& document, const Event& event);
  // Range-reads the document of `service`; sets `*revision` to the read's revision.
  Result<ConfigDocument> read_config(const std::string& service, std::int64_t* revision);

  // Puts / deletes `key` (= `url`) on the lease; `what` names it in errors.
  Status register_key(const std::string& key, const Url& url);
  Status unregister_key(const std::string& key, const Url& url);

  // The passes of session_ and watch_.
  ReconnectLoop::Step session_pass(const ReconnectLoop::Pass& pass);
  ReconnectLoop::Step watch_pass(const ReconnectLoop::Pass& pass);

  // Performs the due lease work and the outstanding puts and deletes. Any
  // thread; serialized by write_mu_. OK when nothing is left to do.
  Status sync_writes();
  // Lease part of sync_writes(); `lk` holds mu_ on entry and exit.
  Status ensure_lease(std::unique_lock<std::mutex>& lk);
  // Handles one message of the watch stream; false ends the stream.
  bool on_watch_message(const nlohmann::json& msg, std::int64_t from, bool* created, bool* resync);
  // Marks every watched key for a re-read (in a new epoch) and the watch for
  // a restart at the revision of the first re-read. mu_ held.
  void resync_all_locked();
  // Range-reads the providers of `service`; sets `*revision` to the read's revision.
  Result<ProviderMap> read_service(const std::string& service, std::int64_t* revision);

  const RegistryOptions options_;
  const std::int64_t lease_ttl_s_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> revoke_on_destroy_{true};
  etcd::Client client_;

  std::mutex write_mu_;  // serializes lease changes, puts and deletes (held across HTTP calls)

  std::mutex mu_;  // guards everything below but the loops
  // Registrations: the wanted keys and the HTTP work still owed to etcd.
  std::map<std::string, Url> registered_;
  std::set<std::string> to_put_;
  std::set<std::string> to_delete_;
  std::int64_t lease_id_ = 0;  // 0 = none
  SteadyClock::time_point next_keepalive_{};
  // Subscribed services and watched documents (the subscriptions themselves
  // live in dispatcher_): their reads, and their values as last pushed.
  std::map<std::string, KeyRead> service_reads_;
  std::map<std::string, KeyRead> config_reads_;
  WatchedBook<ProviderMap> providers_;
  ConfigBook configs_;
  std::uint64_t epoch_ = 0;  // resyncs so far: the epoch of the books' revisions
  std::uint64_t read_generations_ = 0;  // source of KeyRead::read_generation
  std::map<std::string, std::vector<Url>> lookup_cache_;  // last lookup() answers
  std::int64_t watch_from_ = 0;  // next revision the watch needs; 0 = wait for a read

  ListenerDispatcher dispatcher_;  // lock order: mu_ before the dispatcher's own mutex
  bool connected_ = true;  // session_'s passes only: the last one reached etcd
  // Declared last: stopped (explicitly, by the destructor) before the rest goes.
  ReconnectLoop session_;
  ReconnectLoop watch_;
};

}  // namespace tern
