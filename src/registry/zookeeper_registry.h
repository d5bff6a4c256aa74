// zookeeper_registry.h - the ZooKeeper backend of the Registry interface
// (tern/registry.h, DESIGN §6), selected by `zookeeper://h1:2181,h2:2181`
// (port defaults to 2181). Built on the ZooKeeper C client (libzookeeper_mt).
//
// Data layout (compatible with the etcd backend's key layout):
//   /tern                                                     persistent
//   /tern/<service>                                           persistent
//   /tern/<service>/providers/<url_encode(url.to_string())>   ephemeral, data = url.to_string()
//   /tern/<service>/consumers/<url_encode(url.to_string())>   ephemeral (register_consumer())
//   /tern/<service>/config                                    persistent, data = the configuration
//                                                             document (set_config(); revision = the
//                                                             node's mzxid)
// Parents are created on demand and never deleted (other processes may use them).
//
// Liveness: one ZooKeeper session per object, session timeout =
// 3 x heartbeat_interval (the server clamps it to [2, 20] x its tickTime).
// Providers of a crashed process vanish when its session times out; destroying
// this object closes the session, which removes its nodes at once.
//
// Life of a session, all handled by this object's session thread:
//  - connected: re-create every wanted ephemeral node (a node left by an
//    older session — ours before expiry, or a crashed process's whose session
//    has not timed out yet — is deleted and created again, so its owner is
//    always our live session), delete nodes we unregistered while
//    disconnected, and re-read every subscribed service with a watch;
//  - disconnected: nothing is pushed, lists and lookups keep the last values;
//    the C client reconnects by itself;
//  - expired: the handle is closed and a new session opened; then as above.
// Watches are one-shot in ZooKeeper: every child event re-reads the list and
// re-arms the watch in the same call; configuration documents likewise with
// a data watch (an exists watch while the node is absent). Operations that fail while connected
// are retried with backoff (registry/common/backoff.h: initial_backoff
// doubling up to max_backoff, with jitter), reset on every connection.
// Subscribers get a service's list when it differs from the last one pushed
// (a ProviderBook, registry/common/watched_book.h); watchers likewise their
// document (a ConfigBook).
//
// Threads: ZooKeeper's two client threads (I/O and completion; our watcher
// only queues events there, it never calls ZooKeeper or a listener), the
// session thread (a ReconnectLoop, registry/common/reconnect_loop.h: owns
// the handle; every ZooKeeper call is made on it, public methods hand it
// work and wait up to request_timeout), and the listener thread
// (ListenerDispatcher). A listener may therefore call any method of
// this object, including lookup() and unsubscribe() of itself.
//
// A registry used right after creation waits (up to request_timeout) for its
// first connection in register_provider(), lookup() and list_services();
// later, while disconnected, they answer at once (UNAVAILABLE / cached list).
//
// Thread safety: every public method may be called from any thread
// concurrently; the destructor must not race with other calls.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "registry/common/reconnect_loop.h"
#include "registry/common/watched_book.h"
#include "registry/listener_dispatcher.h"
#include "tern/registry.h"

struct _zhandle;  // zhandle_t of <zookeeper/zookeeper.h>, kept out of this header

namespace tern {

// Creates the ZooKeeper backend for `address` (scheme zookeeper, one or more
// host[:port]). INVALID_ARGUMENT without a host. Never waits for ZooKeeper.
Result<std::shared_ptr<Registry>> make_zookeeper_registry(const Url& address, const RegistryOptions& options);

class ZookeeperRegistry final : public Registry {
 public:
  // `servers` must not be empty; a port of 0 means 2181. Starts connecting
  // in the background and returns at once.
  ZookeeperRegistry(std::vector<HostPort> servers, RegistryOptions options);
  // Stops the session thread, then closes the session (the server deletes
  // this object's ephemeral nodes at once) and stops the listener thread;
  // pushes still queued are dropped.
  ~ZookeeperRegistry() override;

  ZookeeperRegistry(const ZookeeperRegistry&) = delete;
  ZookeeperRegistry& operator=(const ZookeeperRegistry&) = delete;

  // Registry. register/unregister return UNAVAILABLE when ZooKeeper cannot be
  // reached within request_timeout; the intent is kept and carried out after
  // reconnecting. INVALID_ARGUMENT for a URL without host or service, or a
  // service name ZooKeeper cannot hold ("", ".", "..", or containing '/').
  Status register_provider(const Url& provider) override;
  Status unregister_provider(const Url& provider) override;
  Result<SubscriptionId> subscribe(const std::string& service, RegistryListener listener) override;
  void unsubscribe(SubscriptionId id) override;
  Result<std::vector<Url>> lookup(const std::string& service) override;
  // Services under /tern with at least one provider, sorted. UNAVAILABLE
  // while disconnected.
  Result<std::vector<std::string>> list_services() override;

  // Consumers: ephemeral nodes under /tern/<service>/consumers/, with the
  // providers' statuses and lifetime (re-created after a session expiry).
  Status register_consumer(const Url& consumer) override;
  Status unregister_consumer(const Url& consumer) override;
  Result<std::vector<Url>> list_consumers(const std::string& service) override;

  // Dynamic configuration: the persistent node config_path(service); its
  // revision is the node's mzxid (the zxid of its last change, which grows
  // with every change: ZooKeeper's zxids are totally ordered). Not tied to
  // the session. INVALID_ARGUMENT for a service ZooKeeper cannot hold and
  // for a document over kMaxConfigBytes (ZooKeeper's jute.maxbuffer is 1 MB).
  Status set_config(const std::string& service, const std::string& text) override;
  Status remove_config(const std::string& service) override;
  Result<ConfigDocument> get_config(const std::string& service) override;
  Result<SubscriptionId> watch_config(const std::string& service, ConfigListener listener) override;
  void unwatch_config(SubscriptionId id) override;
  static constexpr std::size_t kMaxConfigBytes = 1000 * 1024;
  static std::string config_path(const std::string& service);

  // Diagnostics and tests. The current session (nullopt before the first
  // connection and right after an expiry); `password` is the raw 16 bytes.
  struct SessionInfo {
    std::int64_t id = 0;
    std::string password;
  };
  std::optional<SessionInfo> session() const;
  // True while the session is connected.
  bool connected() const noexcept { return connected_.load(); }

  // ZooKeeper paths of a provider / consumer node and of a service's provider folder.
  static std::string provider_path(const Url& provider);
  static std::string consumer_path(const Url& consumer);
  static std::string providers_folder(const std::string& service);

 private:
  using SteadyClock = std::chrono::steady_clock;

  // What ZooKeeper's completion thread and the public methods hand to the
  // session thread.
  struct Event {
    std::uint64_t generation = 0;  // session generation of a watch event
    int type = 0;                  // ZOO_*_EVENT; 0 for a task
    int state = 0;
    std::string path;
    std::function<void()> task;    // set for work from public methods
  };
  // The watcher context of one handle: events carry its generation, so
  // events of a closed handle are recognised and dropped.
  struct WatchContext {
    ZookeeperRegistry* self;
    std::uint64_t generation;
  };

  static void on_watch(struct _zhandle* zh, int type, int state, const char* path, void* ctx);
  static void on_zk_log(const char* message);

  // Session thread: one pass of its ReconnectLoop (queued events and work,
  // then the retry when due).
  ReconnectLoop::Step session_pass(const ReconnectLoop::Pass& pass);
  void handle(Event& event);
  void open_session();
  void close_session();
  void full_resync();
  void schedule_retry();
  bool zk_connected() const;
  // Logs "registry zookeeper://<hosts> unreachable (<why>); subscribing to
  // <service> once it is reachable", once until the next connection.
  void warn_unreachable(const Status& why, const std::string& service);
  Status ensure_parents(const std::string& path);
  Status ensure_node(const std::string& path, const Url& url);
  Status remove_node(const std::string& path);
  Status sync_node(const std::string& path);  // ensure or remove, as wanted_ says
  Status refresh(const std::string& service);
  Result<std::vector<Url>> read_providers(const std::string& service, bool watch);
  // The URLs of the nodes under `folder` (sorted; empty when it does not exist). Session thread.
  Result<std::vector<Url>> read_folder(const std::string& folder, bool watch);
  // Configuration documents. Session thread.
  Result<ConfigDocument> read_config(const std::string& service, bool watch);
  Status write_config(const std::string& service, const std::string* text);  // nullptr = remove
  Status refresh_config(const std::string& service);
  // Runs `fn` (producing a Status) on the session thread unless
  // request_timeout passes first: then UNAVAILABLE and `fn` is skipped.
  Status run_config_write(std::function<Status()> fn);

  // Public side.
  Status register_node(std::string path, const Url& url);
  Status unregister_node(std::string path);
  // Runs `fn` on the session thread; false if it did not finish within
  // request_timeout (it may still run later; `fn` must own what it touches).
  bool run_on_session_thread(std::function<void()> fn);
  // Before the first connection only: waits up to request_timeout for it, so
  // that a registry used right after creation answers from ZooKeeper.
  void wait_for_first_connection();

  const std::string hosts_;  // "h1:2181,h2:2181"
  const RegistryOptions options_;
  const int session_timeout_ms_;
  std::atomic<bool> connected_{false};
  bool unreachable_warned_ = false;  // session thread only: the outage was logged
  ListenerDispatcher dispatcher_;

  mutable std::mutex mu_;  // guards the members down to the next blank line
  std::condition_variable connected_cv_;   // ever_connected_
  bool ever_connected_ = false;
  std::deque<Event> events_;
  bool stop_ = false;
  std::map<std::string, Url> wanted_;                      // node path -> URL: our registrations
  // Invariant: every current subscriber of a service has been given (or has
  // queued) providers_.last(service); without an entry, none has been given
  // anything. Entries go when the last subscriber leaves.
  ProviderBook providers_;
  std::map<std::string, std::vector<Url>> cache_;          // service -> last list read
  ConfigBook configs_;  // as providers_, for configuration watchers
  std::optional<SessionInfo> session_info_;

  // Session thread only (and the destructor after joining it).
  struct _zhandle* zh_ = nullptr;
  std::unique_ptr<WatchContext> watch_ctx_;
  std::uint64_t generation_ = 0;
  std::int64_t session_id_ = 0;
  std::set<std::string> created_;  // nodes this session created and has not deleted
  bool retry_wanted_ = false;  // a step failed in this pass: retry with backoff
  bool opened_ = false;        // the first session was opened

  ReconnectLoop session_;  // last: stopped before the members it uses go
};

}  // namespace tern
