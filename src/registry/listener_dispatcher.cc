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
  state_->subs.emplace(id, Subscription{std::move(service), std::make_shared<RegistryListener>(std::move(listener))});
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
    if (state_->stop || state_->subs.count(id) == 0) return;
    state_->tasks.push_back(Task{id, std::move(providers)});
  }
  state_->cv.notify_one();
}

void ListenerDispatcher::push_all(const std::string& service, Snapshot providers) {
  bool queued = false;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stop) return;
    for (const auto& [id, sub] : state_->subs) {
      if (sub.service != service) continue;
      state_->tasks.push_back(Task{id, providers});
      queued = true;
    }
  }
  if (queued) state_->cv.notify_one();
}

std::vector<std::string> ListenerDispatcher::subscribed_services() const {
  std::vector<std::string> out;
  std::lock_guard lock(state_->mu);
  for (const auto& [id, sub] : state_->subs) {
    if (out.empty() || out.back() != sub.service) out.push_back(sub.service);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool ListenerDispatcher::has_subscribers(const std::string& service) const {
  std::lock_guard lock(state_->mu);
  for (const auto& [id, sub] : state_->subs) {
    if (sub.service == service) return true;
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
    state->running = task.id;
    lock.unlock();
    try {
      (*listener)(service, *task.providers);
    } catch (const std::exception& e) {
      TERN_LOG(kError, "registry listener for {} threw: {}", service, e.what());
    } catch (...) {
      TERN_LOG(kError, "registry listener for {} threw a non-std exception", service);
    }
    listener.reset();  // release captured state outside the lock
    lock.lock();
    state->running = 0;
    state->idle_cv.notify_all();
  }
}

}  // namespace tern
