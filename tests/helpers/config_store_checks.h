// The dynamic-configuration storage contract of tern/registry.h
// (set/remove/get/watch/unwatch_config), checked the same way against every
// registry backend (tests/registry_embedded, registry_zookeeper,
// registry_etcd). Header-only; waits are bounded polls (wait_until.h), never
// fixed sleeps. Uses GoogleTest assertions: call from a TEST body.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tern/registry.h"
#include "wait_until.h"

namespace cfgtest {

// Records every document a watch_config() listener receives, in order.
class ConfigLog {
 public:
  using Doc = std::pair<std::string, std::uint64_t>;  // text, revision

  tern::ConfigListener listener() {
    return [this](const std::string&, const tern::ConfigDocument& d) {
      std::lock_guard lock(mu_);
      docs_.emplace_back(d.text, d.revision);
    };
  }
  std::vector<Doc> docs() const {
    std::lock_guard lock(mu_);
    return docs_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return docs_.size();
  }
  // Waits until the latest document is `expected`.
  bool wait_for(const Doc& expected, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return testutil::wait_until(
        [&] {
          std::lock_guard lock(mu_);
          return !docs_.empty() && docs_.back() == expected;
        },
        timeout, std::chrono::milliseconds(2));
  }

 private:
  mutable std::mutex mu_;
  std::vector<Doc> docs_;
};

inline std::string print(const std::vector<ConfigLog::Doc>& docs) {
  std::string out;
  for (const auto& [text, revision] : docs) out += "[\"" + text + "\" @" + std::to_string(revision) + "] ";
  return out;
}

// Every call with an empty service name is INVALID_ARGUMENT.
inline void check_empty_service_rejected(tern::Registry& registry) {
  EXPECT_EQ(registry.set_config("", "x").code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.remove_config("").code(), tern::StatusCode::kInvalidArgument);
  auto get = registry.get_config("");
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.status().code(), tern::StatusCode::kInvalidArgument);
  auto watch = registry.watch_config("", [](const std::string&, const tern::ConfigDocument&) {});
  ASSERT_FALSE(watch.has_value());
  EXPECT_EQ(watch.status().code(), tern::StatusCode::kInvalidArgument);
}

// The whole contract on `service` (which must have no document yet), with
// Registry objects made by `make` (each a new connection/session):
// set -> get; revisions grow; a watcher sees the current document first
// (revision 0 when none) and then every change in order, revision 0 after a
// remove; the document outlives the writer's Registry and is seen by another
// one; unwatch stops the pushes.
inline void check_round_trip(const std::function<std::shared_ptr<tern::Registry>()>& make, const std::string& service) {
  auto writer = make();
  auto watcher = make();
  ASSERT_TRUE(writer && watcher);

  auto none = writer->get_config(service);
  ASSERT_TRUE(none.has_value()) << none.status().to_string();
  EXPECT_EQ(none->revision, 0u);
  EXPECT_EQ(none->text, "");

  ConfigLog log;
  auto watch = watcher->watch_config(service, log.listener());
  ASSERT_TRUE(watch.has_value()) << watch.status().to_string();
  ASSERT_TRUE(log.wait_for({"", 0})) << "first push: " << print(log.docs());

  // Text with a newline, a NUL-free UTF-8 payload and rule-like syntax: stored opaque.
  const std::string text1 = "route: method = get => version = 2.0\nweight 127.0.0.1:20880 = 0\n";
  ASSERT_TRUE(writer->set_config(service, text1).is_ok());
  auto got1 = writer->get_config(service);
  ASSERT_TRUE(got1.has_value()) << got1.status().to_string();
  EXPECT_EQ(got1->text, text1);
  EXPECT_GT(got1->revision, 0u);
  ASSERT_TRUE(log.wait_for({text1, got1->revision})) << print(log.docs());

  const std::string text2 = "timeout = 250ms\n";
  ASSERT_TRUE(writer->set_config(service, text2).is_ok());
  auto got2 = writer->get_config(service);
  ASSERT_TRUE(got2.has_value()) << got2.status().to_string();
  EXPECT_EQ(got2->text, text2);
  EXPECT_GT(got2->revision, got1->revision);
  ASSERT_TRUE(log.wait_for({text2, got2->revision})) << print(log.docs());

  ASSERT_TRUE(writer->remove_config(service).is_ok());
  auto removed = writer->get_config(service);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->revision, 0u);
  EXPECT_EQ(removed->text, "");
  ASSERT_TRUE(log.wait_for({"", 0})) << print(log.docs());
  EXPECT_TRUE(writer->remove_config(service).is_ok()) << "removing no document is OK";

  const std::string text3 = "retries = 1\n";
  ASSERT_TRUE(writer->set_config(service, text3).is_ok());
  auto got3 = writer->get_config(service);
  ASSERT_TRUE(got3.has_value());
  EXPECT_GT(got3->revision, got2->revision);
  ASSERT_TRUE(log.wait_for({text3, got3->revision})) << print(log.docs());

  // Exactly each change, in order, nothing twice.
  const std::vector<ConfigLog::Doc> expected{
      {"", 0}, {text1, got1->revision}, {text2, got2->revision}, {"", 0}, {text3, got3->revision}};
  EXPECT_EQ(log.docs(), expected) << print(log.docs());

  // Persistence: not tied to the writer's session or connection.
  writer.reset();
  auto reader = make();
  ASSERT_TRUE(reader);
  auto persisted = reader->get_config(service);
  ASSERT_TRUE(persisted.has_value()) << persisted.status().to_string();
  EXPECT_EQ(persisted->text, text3);
  EXPECT_EQ(persisted->revision, got3->revision);

  // unwatch stops the pushes. A second watch on the same Registry object
  // shares its listener thread: when it has seen the next change, a push to
  // the first one would have run already.
  watcher->unwatch_config(*watch);
  const std::size_t before = log.count();
  ConfigLog log2;
  auto watch2 = watcher->watch_config(service, log2.listener());
  ASSERT_TRUE(watch2.has_value());
  ASSERT_TRUE(log2.wait_for({text3, got3->revision})) << print(log2.docs());
  const std::string text4 = "disabled 127.0.0.1:20881\n";
  ASSERT_TRUE(reader->set_config(service, text4).is_ok());
  auto got4 = reader->get_config(service);
  ASSERT_TRUE(got4.has_value());
  ASSERT_TRUE(log2.wait_for({text4, got4->revision})) << print(log2.docs());
  EXPECT_EQ(log.count(), before) << "pushed after unwatch_config: " << print(log.docs());
  watcher->unwatch_config(*watch2);

  // Leave nothing behind for other tests on a shared backend.
  EXPECT_TRUE(reader->remove_config(service).is_ok());
}

}  // namespace cfgtest
