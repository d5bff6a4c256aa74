// The one listener thread of a Registry object (see listener_dispatcher.h).
#include "registry/listener_dispatcher.h"

#include <algorithm>
#include <exception>

#include "tern/log.h"

namespace tern {

ListenerDispatcher::ListenerDispatcher() : state_(std::make_shared<State>()) {
  thread_ = std::thread([state = state_] { run(state); });
}

ListenerDispatcher::~ListenerDispatcher() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
    state_->tasks.clear();
  }
  state_->cv.notify_all();
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();  // destroyed from a listener: the thread ends when it returns
  } else {
    thread_.join();
  }
}

SubscriptionId ListenerDispatcher::add(std::string service, RegistryListener listener) {
  std::lock_guard lock(state_->mu);
  SubscriptionId id = state_->next_id++;
  state_->subs.emplace(id, Subscription{std::move(service), std::make_shared<RegistryListener>(std::move(listener)), nullptr});
  return id;
}

SubscriptionId ListenerDispatcher::add_config(std::string service, ConfigListener listener) {
  std::lock_guard lock(state_->mu);
  SubscriptionId id = state_->next_id++;
  state_->subs.emplace(id, Subscription{std::move(service), nullptr, std::make_shared<ConfigListener>(std::move(listener))});
  return id;
}

std::optional<std::string> ListenerDispatcher::remove(SubscriptionId id) {
  std::unique_lock lock(state_->mu);
  auto it = state_->subs.find(id);
  if (it == state_->subs.end()) return std::nullopt;
  std::string service = std::move(it->second.service);
  state_->subs.erase(it);
  if (std::this_thread::get_id() != thread_.get_id()) {
    state_->idle_cv.wait(lock, [&] { return state_->running != id; });
  }
  return service;
}

void ListenerDispatcher::push(SubscriptionId id, Snapshot providers) {
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->subs.find(id);
    if (state_->stop || it == state_->subs.end() || !it->second.listener) return;
    state_->tasks.push_back(Task{id, std::move(providers), nullptr});
  }
  state_->cv.notify_one();
}

void ListenerDispatcher::push_all(const std::string& service, Snapshot providers) {
  bool queued = false;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stop) return;
    for (const auto& [id, sub] : state_->subs) {
      if (sub.service != service || !sub.listener) continue;
      state_->tasks.push_back(Task{id, providers, nullptr});
      queued = true;
    }
  }
  if (queued) state_->cv.notify_one();
}

void ListenerDispatcher::push_config(SubscriptionId id, const ConfigDocument& document) {
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->subs.find(id);
    if (state_->stop || it == state_->subs.end() || !it->second.config_listener) return;
    state_->tasks.push_back(Task{id, nullptr, std::make_shared<const ConfigDocument>(document)});
  }
  state_->cv.notify_one();
}

void ListenerDispatcher::push_config_all(const std::string& service, const ConfigDocument& document) {
  bool queued = false;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stop) return;
    auto doc = std::make_shared<const ConfigDocument>(document);
    for (const auto& [id, sub] : state_->subs) {
      if (sub.service != service || !sub.config_listener) continue;
      state_->tasks.push_back(Task{id, nullptr, doc});
      queued = true;
    }
  }
  if (queued) state_->cv.notify_one();
}

std::vector<std::string> ListenerDispatcher::subscribed_services() const { return services_of(false); }
std::vector<std::string> ListenerDispatcher::watched_configs() const { return services_of(true); }
bool ListenerDispatcher::has_subscribers(const std::string& service) const { return has(service, false); }
bool ListenerDispatcher::has_config_watchers(const std::string& service) const { return has(service, true); }

std::vector<std::string> ListenerDispatcher::services_of(bool config) const {
  std::vector<std::string> out;
  std::lock_guard lock(state_->mu);
  for (const auto& entry : state_->subs) {
    const Subscription& sub = entry.second;
    if ((sub.config_listener != nullptr) != config) continue;
    if (out.empty() || out.back() != sub.service) out.push_back(sub.service);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool ListenerDispatcher::has(const std::string& service, bool config) const {
  std::lock_guard lock(state_->mu);
  for (const auto& entry : state_->subs) {
    if (entry.second.service == service && (entry.second.config_listener != nullptr) == config) return true;
  }
  return false;
}

void ListenerDispatcher::run(const std::shared_ptr<State>& state) {
  std::unique_lock lock(state->mu);
  while (true) {
    state->cv.wait(lock, [&] { return state->stop || !state->tasks.empty(); });
    if (state->stop) return;
    Task task = std::move(state->tasks.front());
    state->tasks.pop_front();
    auto it = state->subs.find(task.id);
    if (it == state->subs.end()) continue;  // unsubscribed after the push was queued
    std::string service = it->second.service;
    std::shared_ptr<RegistryListener> listener = it->second.listener;
    std::shared_ptr<ConfigListener> config_listener = it->second.config_listener;
    state->running = task.id;
    lock.unlock();
    try {
      if (task.config && config_listener) {
        (*config_listener)(service, *task.config);
      } else if (task.providers && listener) {
        (*listener)(service, *task.providers);
      }
    } catch (const std::exception& e) {
      TERN_LOG(kError, "registry listener for {} threw: {}", service, e.what());
    } catch (...) {
      TERN_LOG(kError, "registry listener for {} threw a non-std exception", service);
    }
    listener.reset();  // release captured state outside the lock
    config_listener.reset();
    lock.lock();
    state->running = 0;
    state->idle_cv.notify_all();
  }
}

}  // namespace tern
