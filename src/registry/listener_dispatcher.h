// listener_dispatcher.h - runs a Registry's listeners on one dedicated thread.
//
// Every backend promises (tern/registry.h) that listeners run on a
// backend-owned thread, one at a time per Registry object, and that
// unsubscribe() waits for a running listener. This class is that promise,
// written once: a subscription table plus a FIFO of pushes drained by one
// thread. Backends never call a listener from their I/O or ZooKeeper
// completion threads, so a listener may call back into the registry
// (lookup(), register_provider(), subscribe(), even unsubscribe() of itself).
//
// Ordering: pushes run in the order push()/push_all() were called. A backend
// that decides "what is the latest list" under its own mutex and queues the
// push under that same mutex therefore delivers snapshots in order, and the
// last push a listener sees is the latest list.
//
// Configuration watches (Registry::watch_config) live in the same table and
// run on the same thread, so provider-list and configuration listeners of one
// Registry never run concurrently. Ids are shared by both kinds; the
// provider-side queries (subscribed_services(), has_subscribers()) count
// provider subscriptions only, the config ones configuration watches only.
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tern/registry.h"

namespace tern {

class ListenerDispatcher {
 public:
  using Snapshot = std::shared_ptr<const std::vector<Url>>;

  // Starts the dispatcher thread.
  ListenerDispatcher();
  // Discards pushes not yet run and stops the thread (joins it; when called
  // from a listener, i.e. on the dispatcher thread itself, the thread is
  // detached and exits after that listener returns).
  ~ListenerDispatcher();
  ListenerDispatcher(const ListenerDispatcher&) = delete;
  ListenerDispatcher& operator=(const ListenerDispatcher&) = delete;

  // Adds a subscription to `service`; ids start at 1 and are never reused.
  SubscriptionId add(std::string service, RegistryListener listener);

  // Removes `id` and returns its service (nullopt if unknown). Once it
  // returns, the listener is not running and never runs again, except when
  // called from that very listener: then it returns at once and the listener
  // just finishes its current run.
  std::optional<std::string> remove(SubscriptionId id);

  // Queues one push of `providers` to `id` (dropped if `id` is removed first).
  void push(SubscriptionId id, Snapshot providers);
  // Queues a push to every current subscription of `service`.
  void push_all(const std::string& service, Snapshot providers);

  // Services with at least one subscription (sorted, unique).
  std::vector<std::string> subscribed_services() const;
  bool has_subscribers(const std::string& service) const;

  // Configuration watches: the same, for ConfigListeners. remove() removes
  // either kind.
  SubscriptionId add_config(std::string service, ConfigListener listener);
  void push_config(SubscriptionId id, const ConfigDocument& document);
  void push_config_all(const std::string& service, const ConfigDocument& document);
  std::vector<std::string> watched_configs() const;
  bool has_config_watchers(const std::string& service) const;

 private:
  struct Subscription {
    std::string service;
    std::shared_ptr<RegistryListener> listener;      // provider subscription, or
    std::shared_ptr<ConfigListener> config_listener;  // configuration watch
  };
  struct Task {
    SubscriptionId id;
    Snapshot providers;
    std::shared_ptr<const ConfigDocument> config;  // set for a configuration push
  };
  std::vector<std::string> services_of(bool config) const;
  bool has(const std::string& service, bool config) const;
  // Shared with the thread so a detached thread (see the destructor) still
  // has valid state to finish with.
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;        // new task or stop
    std::condition_variable idle_cv;   // running_ changed
    std::deque<Task> tasks;
    std::map<SubscriptionId, Subscription> subs;
    SubscriptionId next_id = 1;
    SubscriptionId running = 0;        // id whose listener runs now, 0 = none
    bool stop = false;
  };

  static void run(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace tern
