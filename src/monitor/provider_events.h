// src/monitor/provider_events.h - the monitor center's event log: what
// changed in the registry's provider lists and in their admin endpoints
// between two ticks. Internal to tern_monitor (MonitorCenter owns one).
//
// Kinds:
//   joined   a provider URL appeared in its service's list
//   left     a provider URL disappeared while its process still answered
//            (a graceful unregister, or a drain before shutdown)
//   expired  a provider URL disappeared and its admin endpoint no longer
//            answers: the process died (SIGKILL, crash) and the registry
//            dropped it (connection closed, heartbeats or session expired)
//   down     a registered provider's admin endpoint stopped answering
//   up       ... and answers again
// A provider without an admin endpoint can only join or leave, unless it
// left together with one that expired at the same address (another service
// of the same process).
//
// Thread safety: none; MonitorCenter calls it under its own lock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tern::monitor {

struct ProviderEvent {
  std::int64_t t = 0;    // unix ms
  std::string kind;      // joined | left | expired | down | up
  std::string service;
  std::string address;   // host:port of the provider
  std::string url;       // the provider URL
  std::string detail;    // why (the scrape error for down/expired)
};

class ProviderEventLog {
 public:
  explicit ProviderEventLog(std::size_t capacity = 200) : capacity_(capacity) {}

  // One provider as a tick saw it.
  struct Seen {
    std::string service;
    std::string url;
    std::string address;
    bool has_admin = false;
    bool up = false;          // its admin endpoint answered this tick
    std::string error;        // the scrape error when !up
  };
  // `gone_unreachable(url)` tells, for a provider that disappeared, whether
  // its admin endpoint is unreachable now (then the event is "expired").
  // The first call only records the state (no "joined" flood at start-up).
  template <typename Probe>
  void update(std::int64_t t, const std::vector<Seen>& now, Probe gone_unreachable) {
    std::map<std::string, Seen> current;
    for (auto& s : now) current.emplace(s.service + "\n" + s.url, s);
    if (primed_) {
      for (auto& [key, s] : current) {
        auto old = last_.find(key);
        if (old == last_.end()) {
          add({t, "joined", s.service, s.address, s.url, ""});
        } else if (s.has_admin && old->second.up != s.up) {
          add({t, s.up ? "up" : "down", s.service, s.address, s.url, s.up ? "" : s.error});
        }
      }
      // A provider without an admin endpoint that left with one that
      // expired at the same address went with the same process.
      std::map<std::string, std::string> dead;  // address -> why
      for (auto& [key, s] : last_) {
        std::string why;
        if (!current.count(key) && s.has_admin && gone_unreachable(s, &why)) dead.emplace(s.address, why);
      }
      for (auto& [key, s] : last_) {
        if (current.count(key)) continue;
        auto d = dead.find(s.address);
        add({t, d != dead.end() ? "expired" : "left", s.service, s.address, s.url,
             d != dead.end() ? d->second : std::string()});
      }
    }
    primed_ = true;
    last_ = std::move(current);
  }

  // Oldest first, at most `capacity` events.
  const std::deque<ProviderEvent>& events() const noexcept { return events_; }

 private:
  void add(ProviderEvent e) {
    events_.push_back(std::move(e));
    while (events_.size() > capacity_) events_.pop_front();
  }
  std::size_t capacity_;
  bool primed_ = false;
  std::map<std::string, Seen> last_;
  std::deque<ProviderEvent> events_;
};

}  // namespace tern::monitor
