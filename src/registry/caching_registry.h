// caching_registry.h - the provider-list file cache of consumers (DESIGN §6:
// "consumers cache the last provider list (memory, optionally a file)"), as
// Dubbo's registry file cache: RegistryOptions::cache_file.
//
// CachingRegistry wraps any backend (create_registry() does it when
// cache_file is set, for every scheme but direct://). It forwards everything
// to the backend and, for consumers:
//  - writes every provider list the backend pushes or returns from lookup()
//    to the cache file (keyed by registry address and service);
//  - when a subscription has had no push from the backend `fallback_delay`
//    after subscribe() (the registry is unreachable: a process that starts
//    during a registry outage), pushes the cached list of that service, if the
//    file has one; the backend's first push replaces it as usual;
//  - lookup() returns the cached list when the backend fails.
// Providers are unaffected (register/unregister go straight to the backend).
// Dynamic configuration (set/remove/get_config) goes straight to the backend
// and is not cached in the file; watch_config() listeners run on this
// object's dispatcher thread, like its provider-list listeners.
//
// The file: UTF-8 text, one line per provider "<registry>\t<service>\t<url>",
// "<registry>\t<service>" for a service known to have none; '#' lines are
// comments. Rewritten whole on each change (written to "<file>.tmp.<pid>",
// then renamed: a crash never leaves half a file). A line that does not parse
// is skipped. One file serves any number of registries of one process; two
// processes must not share a file (the last writer wins). A file that cannot
// be written is logged (once per path) and the cache stays in memory.
//
// Time: the fallback delay is measured on the Clock given to the constructor
// (base/clock.h), the steady clock unless a test injects a fake one
// (tests/registry/caching_registry_clock_test.cc); the fallback thread waits
// on it.
//
// Thread safety: as every Registry. Listeners run on this object's dispatcher
// thread, one at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "registry/listener_dispatcher.h"
#include "tern/registry.h"

namespace tern {

// The provider lists of one cache file, shared by every CachingRegistry of
// the process that names the same path. Thread-safe.
class ProviderCacheFile {
 public:
  // The process-wide object for `path` (loaded from disk on first use; a
  // missing file is an empty cache).
  static std::shared_ptr<ProviderCacheFile> open(const std::string& path);

  // The cached list of `service` at `registry`; nullopt when none is cached.
  std::optional<std::vector<Url>> get(const std::string& registry, const std::string& service) const;
  // Records a list and rewrites the file when it changed.
  void put(const std::string& registry, const std::string& service, const std::vector<Url>& providers);

  const std::string& path() const noexcept { return path_; }

  explicit ProviderCacheFile(std::string path);

 private:
  void load();
  void save_locked();

  const std::string path_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::vector<Url>> lists_;
  bool write_error_logged_ = false;
};

class CachingRegistry final : public Registry {
 public:
  // `registry_address` keys the entries in the file (the backend's URL text).
  // `fallback_delay`: how long after subscribe() a subscription the backend
  // has not pushed to gets the cached list (create_registry() passes
  // RegistryOptions::request_timeout). `clock`: the time of that delay;
  // must outlive this object. Starts the fallback thread.
  CachingRegistry(std::shared_ptr<Registry> backend, std::string registry_address,
                  std::shared_ptr<ProviderCacheFile> file, std::chrono::milliseconds fallback_delay,
                  Clock& clock = Clock::steady());
  ~CachingRegistry() override;
  CachingRegistry(const CachingRegistry&) = delete;
  CachingRegistry& operator=(const CachingRegistry&) = delete;

  Status register_provider(const Url& provider) override { return backend_->register_provider(provider); }
  Status unregister_provider(const Url& provider) override { return backend_->unregister_provider(provider); }
  Result<SubscriptionId> subscribe(const std::string& service, RegistryListener listener) override;
  void unsubscribe(SubscriptionId id) override;
  Result<std::vector<Url>> lookup(const std::string& service) override;
  Result<std::vector<std::string>> list_services() override { return backend_->list_services(); }
  Status register_consumer(const Url& consumer) override { return backend_->register_consumer(consumer); }
  Status unregister_consumer(const Url& consumer) override { return backend_->unregister_consumer(consumer); }
  Result<std::vector<Url>> list_consumers(const std::string& service) override {
    return backend_->list_consumers(service);
  }
  Status set_config(const std::string& service, const std::string& text) override {
    return backend_->set_config(service, text);
  }
  Status remove_config(const std::string& service) override { return backend_->remove_config(service); }
  Result<ConfigDocument> get_config(const std::string& service) override { return backend_->get_config(service); }
  Result<SubscriptionId> watch_config(const std::string& service, ConfigListener listener) override;
  void unwatch_config(SubscriptionId id) override;

 private:
  struct Sub {
    std::string service;
    SubscriptionId backend_id = 0;
    Clock::time_point fallback_at;
    bool live = false;      // the backend has pushed
    bool fallen_back = false;
  };
  void run_timer();

  std::shared_ptr<Registry> backend_;
  const std::string address_;
  const std::shared_ptr<ProviderCacheFile> file_;
  const std::chrono::milliseconds fallback_delay_;
  Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<SubscriptionId, Sub> subs_;  // by our (dispatcher) id
  bool subs_added_ = false;             // since the fallback thread last looked; wakes it
  std::map<SubscriptionId, SubscriptionId> config_watches_;  // our id -> backend's id (0 while being set up)
  bool stop_ = false;
  ListenerDispatcher dispatcher_;
  std::thread timer_;
};

}  // namespace tern
