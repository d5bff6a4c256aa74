// watched_book.h - what a registry backend last told its listeners, per
// watched key (a service's provider list, a service's configuration
// document), and the rule that decides when to tell them again: a value is
// pushed when it differs from the last one pushed for its key (the first one
// always is), and a value older than the one recorded is dropped.
//
// Used by the embedded, ZooKeeper and etcd backends for both provider lists
// (ProviderBook, or a book of etcd's key -> provider maps) and configuration
// documents (ConfigBook). Each backend keeps how it learns values (pushes,
// watch events, reads); the book keeps the last value, its revision and the
// push-if-changed rule in one place.
//
// Revisions: a Revision is (epoch, number). A store that restarts or is
// replaced may start numbering again, so a different epoch always counts as
// newer; within one epoch a larger number is newer. Offers without a
// revision are snapshots the caller knows to be current (ZooKeeper reads on
// its session thread, in order): they are always applied and leave the
// recorded revision alone.
//
// Thread safety: none. The owner guards the book with its own mutex and
// holds it across offer()/edit(), so `push` runs inline, under that mutex,
// in the order the values were recorded. `push` must therefore only queue
// (ListenerDispatcher::push_all does), never call a listener or the book.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "registry/listener_dispatcher.h"
#include "tern/registry.h"

namespace tern {

struct Revision {
  std::uint64_t epoch = 0;
  std::int64_t number = 0;
};

// True when `candidate` replaces `known`: another epoch, or a larger number.
constexpr bool is_newer(const Revision& candidate, const Revision& known) {
  return candidate.epoch != known.epoch || candidate.number > known.number;
}

template <class Value, class Equal = std::equal_to<Value>>
class WatchedBook {
 public:
  // Called inline by offer()/edit() with the new value of `key`.
  using Push = std::function<void(const std::string& key, const Value& value)>;
  enum class Change {
    kStale,      // older than (or as old as) the recorded revision: dropped
    kUnchanged,  // recorded (revision advanced), equal to the last push: not pushed
    kPushed,     // recorded and pushed
  };

  explicit WatchedBook(Push push, Equal equal = Equal()) : push_(std::move(push)), equal_(std::move(equal)) {}

  // Records `value` as the value of `key` at `revision` (nullopt: a current
  // snapshot, see above) and pushes it when it differs from the last push.
  Change offer(const std::string& key, Value value, std::optional<Revision> revision = std::nullopt) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      it = entries_.emplace(key, Entry{std::move(value), revision.value_or(Revision{}), revision.has_value()}).first;
      push_(it->first, it->second.value);
      return Change::kPushed;
    }
    Entry& entry = it->second;
    if (revision) {
      if (entry.versioned && !is_newer(*revision, entry.revision)) return Change::kStale;
      entry.revision = *revision;
      entry.versioned = true;
    }
    if (equal_(entry.value, value)) return Change::kUnchanged;
    entry.value = std::move(value);
    push_(it->first, entry.value);
    return Change::kPushed;
  }

  // Applies one change at `revision` to the recorded value of `key` in
  // place: `apply(Value&)` returns whether it changed the value (it must not
  // change it otherwise). kStale, and `apply` is not called, when `key` has
  // no value yet or `revision` is not newer.
  template <class Apply>
  Change edit(const std::string& key, Revision revision, Apply&& apply) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return Change::kStale;
    Entry& entry = it->second;
    if (entry.versioned && !is_newer(revision, entry.revision)) return Change::kStale;
    entry.revision = revision;
    entry.versioned = true;
    if (!apply(entry.value)) return Change::kUnchanged;
    push_(it->first, entry.value);
    return Change::kPushed;
  }

  // The last value pushed for `key`; nullptr when none. Valid until the next
  // call that changes the book.
  const Value* last(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second.value;
  }
  // The recorded revision of `key`; nullopt when it has no value or only
  // unversioned snapshots.
  std::optional<Revision> revision(const std::string& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.versioned) return std::nullopt;
    return it->second.revision;
  }
  bool contains(const std::string& key) const { return entries_.count(key) != 0; }
  // Forgets `key` (its last listener left): its next value is pushed whatever it is.
  bool erase(const std::string& key) { return entries_.erase(key) != 0; }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    Value value;
    Revision revision;
    bool versioned = false;
  };
  Push push_;
  Equal equal_;
  std::map<std::string, Entry> entries_;
};

// Provider lists as ListenerDispatcher pushes them, compared by content.
struct SameProviders {
  bool operator()(const ListenerDispatcher::Snapshot& a, const ListenerDispatcher::Snapshot& b) const {
    return a == b || (a && b && *a == *b);
  }
};
using ProviderBook = WatchedBook<ListenerDispatcher::Snapshot, SameProviders>;

// Configuration documents: the same text at the same revision.
struct SameDocument {
  bool operator()(const ConfigDocument& a, const ConfigDocument& b) const {
    return a.revision == b.revision && a.text == b.text;
  }
};
using ConfigBook = WatchedBook<ConfigDocument, SameDocument>;

}  // namespace tern
