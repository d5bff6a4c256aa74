// The provider-list file cache (caching_registry.h).
#include "registry/caching_registry.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "tern/log.h"

namespace tern {

// ---- ProviderCacheFile ----

std::shared_ptr<ProviderCacheFile> ProviderCacheFile::open(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<ProviderCacheFile>> files;
  std::lock_guard lock(mu);
  auto& slot = files[path];
  if (auto existing = slot.lock()) return existing;
  auto file = std::make_shared<ProviderCacheFile>(path);
  slot = file;
  return file;
}

ProviderCacheFile::ProviderCacheFile(std::string path) : path_(std::move(path)) { load(); }

void ProviderCacheFile::load() {
  std::ifstream in(path_);
  if (!in) return;  // no file yet: an empty cache
  std::string line;
  std::size_t skipped = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto tab1 = line.find('\t');
    if (tab1 == std::string::npos || tab1 == 0) {
      ++skipped;
      continue;
    }
    auto tab2 = line.find('\t', tab1 + 1);
    std::string registry = line.substr(0, tab1);
    std::string service = line.substr(tab1 + 1, tab2 == std::string::npos ? std::string::npos : tab2 - tab1 - 1);
    if (service.empty()) {
      ++skipped;
      continue;
    }
    auto& list = lists_[{registry, service}];
    if (tab2 == std::string::npos) continue;  // a service with no providers
    auto url = Url::parse(std::string_view(line).substr(tab2 + 1));
    if (!url) {
      ++skipped;
      continue;
    }
    list.push_back(std::move(*url));
  }
  if (skipped != 0) TERN_LOG(kWarn, "provider cache {}: skipped {} malformed line(s)", path_, skipped);
}

std::optional<std::vector<Url>> ProviderCacheFile::get(const std::string& registry, const std::string& service) const {
  std::lock_guard lock(mu_);
  auto it = lists_.find({registry, service});
  if (it == lists_.end()) return std::nullopt;
  return it->second;
}

void ProviderCacheFile::put(const std::string& registry, const std::string& service, const std::vector<Url>& providers) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = lists_.try_emplace({registry, service});
  if (!inserted && it->second == providers) return;
  it->second = providers;
  save_locked();
}

void ProviderCacheFile::save_locked() {
  std::ostringstream text;
  text << "# tern provider cache (RegistryOptions::cache_file): <registry>\\t<service>\\t<provider url>\n";
  for (const auto& [key, list] : lists_) {
    if (list.empty()) text << key.first << '\t' << key.second << '\n';
    for (const Url& u : list) text << key.first << '\t' << key.second << '\t' << u.to_string() << '\n';
  }
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  bool ok = false;
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (out) {
      out << text.str();
      out.flush();
      ok = static_cast<bool>(out);
    }
  }
  if (ok) ok = std::rename(tmp.c_str(), path_.c_str()) == 0;
  if (!ok) {
    std::remove(tmp.c_str());
    if (!write_error_logged_) {
      write_error_logged_ = true;
      TERN_LOG(kWarn, "provider cache {}: cannot write the file; the cache stays in memory", path_);
    }
  }
}

// ---- CachingRegistry ----

CachingRegistry::CachingRegistry(std::shared_ptr<Registry> backend, std::string registry_address,
                                 std::shared_ptr<ProviderCacheFile> file, std::chrono::milliseconds fallback_delay,
                                 Clock& clock)
    : backend_(std::move(backend)),
      address_(std::move(registry_address)),
      file_(std::move(file)),
      fallback_delay_(fallback_delay),
      clock_(clock),
      timer_([this] { run_timer(); }) {}

CachingRegistry::~CachingRegistry() {
  std::map<SubscriptionId, Sub> subs;
  std::map<SubscriptionId, SubscriptionId> watches;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    subs.swap(subs_);
    watches.swap(config_watches_);
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  // The backend's listeners use this object: stop them before it goes.
  for (const auto& [id, sub] : subs) backend_->unsubscribe(sub.backend_id);
  for (const auto& [id, backend_id] : watches) {
    if (backend_id != 0) backend_->unwatch_config(backend_id);
  }
  backend_.reset();
}

Result<SubscriptionId> CachingRegistry::subscribe(const std::string& service, RegistryListener listener) {
  const SubscriptionId id = dispatcher_.add(service, std::move(listener));
  {
    std::lock_guard lock(mu_);
    Sub sub;
    sub.service = service;
    sub.fallback_at = clock_.now() + fallback_delay_;
    subs_.emplace(id, std::move(sub));
    subs_added_ = true;
  }
  cv_.notify_all();
  auto backend_id = backend_->subscribe(service, [this, id](const std::string& svc, const std::vector<Url>& providers) {
    file_->put(address_, svc, providers);
    // Decided and queued under mu_, as the timer's fallback push: the last
    // push the listener sees is the backend's.
    std::lock_guard lock(mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    it->second.live = true;
    dispatcher_.push(id, std::make_shared<const std::vector<Url>>(providers));
  });
  if (!backend_id) {
    {
      std::lock_guard lock(mu_);
      subs_.erase(id);
    }
    dispatcher_.remove(id);
    return backend_id.status();
  }
  std::lock_guard lock(mu_);
  auto it = subs_.find(id);
  if (it != subs_.end()) it->second.backend_id = *backend_id;
  return id;
}

void CachingRegistry::unsubscribe(SubscriptionId id) {
  SubscriptionId backend_id = 0;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    backend_id = it->second.backend_id;
    subs_.erase(it);
  }
  if (backend_id != 0) backend_->unsubscribe(backend_id);
  dispatcher_.remove(id);
}

Result<std::vector<Url>> CachingRegistry::lookup(const std::string& service) {
  auto r = backend_->lookup(service);
  if (r) {
    file_->put(address_, service, *r);
    return r;
  }
  if (auto cached = file_->get(address_, service)) return std::move(*cached);
  return r;
}

Result<SubscriptionId> CachingRegistry::watch_config(const std::string& service, ConfigListener listener) {
  const SubscriptionId id = dispatcher_.add_config(service, std::move(listener));
  {
    std::lock_guard lock(mu_);
    config_watches_.emplace(id, 0);
  }
  auto backend_id = backend_->watch_config(service, [this, id](const std::string&, const ConfigDocument& document) {
    std::lock_guard lock(mu_);
    if (config_watches_.count(id) == 0) return;
    dispatcher_.push_config(id, document);
  });
  if (!backend_id) {
    {
      std::lock_guard lock(mu_);
      config_watches_.erase(id);
    }
    dispatcher_.remove(id);  // never pushed to (the backend refused)
    return backend_id.status();
  }
  {
    std::lock_guard lock(mu_);
    auto it = config_watches_.find(id);
    if (it != config_watches_.end()) {
      it->second = *backend_id;
      return id;
    }
  }
  // unwatch_config(id) ran meanwhile (another thread guessed the id): undo.
  backend_->unwatch_config(*backend_id);
  return id;
}

void CachingRegistry::unwatch_config(SubscriptionId id) {
  SubscriptionId backend_id = 0;
  {
    std::lock_guard lock(mu_);
    auto it = config_watches_.find(id);
    if (it == config_watches_.end()) return;
    backend_id = it->second;
    config_watches_.erase(it);
  }
  if (backend_id != 0) backend_->unwatch_config(backend_id);
  dispatcher_.remove(id);
}

void CachingRegistry::run_timer() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    subs_added_ = false;  // the pass below sees them
    auto next = Clock::time_point::max();
    const auto now = clock_.now();
    for (auto& [id, sub] : subs_) {
      if (sub.live || sub.fallen_back) continue;
      if (sub.fallback_at <= now) {
        sub.fallen_back = true;
        if (auto cached = file_->get(address_, sub.service)) {
          TERN_LOG(kWarn, "registry {}: no answer for {} after {} ms; using its last known providers ({}) from {}",
                   address_, sub.service, fallback_delay_.count(), cached->size(), file_->path());
          dispatcher_.push(id, std::make_shared<const std::vector<Url>>(std::move(*cached)));
        }
      } else if (sub.fallback_at < next) {
        next = sub.fallback_at;
      }
    }
    // Until the first fallback is due (max(): none pending), a new
    // subscription or the destructor.
    clock_.wait_until(cv_, lock, next, [this] { return stop_ || subs_added_; });
  }
}

}  // namespace tern
