// ListenerDispatcher (src/registry/listener_dispatcher.h): configuration
// watches share the provider listeners' thread and FIFO, and the provider-
// and configuration-side queries keep the two kinds apart.
#include "registry/listener_dispatcher.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wait_until.h"

namespace tern {
namespace {

TEST(ListenerDispatcher, ConfigAndProviderPushesRunInOrderOnOneThread) {
  ListenerDispatcher d;
  std::mutex mu;
  std::vector<std::string> seen;
  std::vector<std::thread::id> threads;
  auto record = [&](std::string what) {
    std::lock_guard lock(mu);
    seen.push_back(std::move(what));
    threads.push_back(std::this_thread::get_id());
  };
  SubscriptionId p = d.add("Svc", [&](const std::string&, const std::vector<Url>& l) { record("p" + std::to_string(l.size())); });
  SubscriptionId c = d.add_config("Svc", [&](const std::string&, const ConfigDocument& doc) { record("c" + doc.text); });
  EXPECT_NE(p, c);
  EXPECT_TRUE(d.has_subscribers("Svc"));
  EXPECT_TRUE(d.has_config_watchers("Svc"));
  EXPECT_EQ(d.subscribed_services(), std::vector<std::string>{"Svc"});
  EXPECT_EQ(d.watched_configs(), std::vector<std::string>{"Svc"});

  d.push_all("Svc", std::make_shared<const std::vector<Url>>());
  d.push_config_all("Svc", ConfigDocument{"1", 1});
  d.push(c, std::make_shared<const std::vector<Url>>());  // wrong kind: dropped
  d.push_config(p, ConfigDocument{"x", 9});              // wrong kind: dropped
  d.push_config(c, ConfigDocument{"2", 2});
  ASSERT_TRUE(testutil::wait_until([&] {
    std::lock_guard lock(mu);
    return seen.size() >= 3;
  }));
  d.remove(c);
  EXPECT_FALSE(d.has_config_watchers("Svc"));
  EXPECT_TRUE(d.has_subscribers("Svc"));
  EXPECT_TRUE(d.watched_configs().empty());
  d.push_config_all("Svc", ConfigDocument{"3", 3});  // no watcher left
  d.push_all("Svc", std::make_shared<const std::vector<Url>>(1, Url::parse("tern://h:1/Svc").value()));
  ASSERT_TRUE(testutil::wait_until([&] {
    std::lock_guard lock(mu);
    return seen.size() >= 4;
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"p0", "c1", "c2", "p1"}));
  for (const auto& t : threads) EXPECT_EQ(t, threads.front());
}

}  // namespace
}  // namespace tern
