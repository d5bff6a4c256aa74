// The direct:// backend and the registry factory table.
#include "registry/direct_registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tern/registry.h"

namespace tern {
namespace {

Url url(std::string_view text) { return Url::parse(text).value(); }

// Waits up to 2 s for the first push.
struct Capture {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<Url>> pushes;
  std::thread::id thread;
  RegistryListener listener() {
    return [this](const std::string&, const std::vector<Url>& providers) {
      std::lock_guard lock(mu);
      pushes.push_back(providers);
      thread = std::this_thread::get_id();
      cv.notify_all();
    };
  }
  bool wait_first() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(2), [&] { return !pushes.empty(); });
  }
};

TEST(DirectRegistryTest, SubscribeDeliversTheFixedListOnce) {
  auto reg = create_registry(url("direct://127.0.0.1:20880,[::1]:20881?serialization=json"));
  ASSERT_TRUE(reg.ok()) << reg.status();
  Capture cap;
  auto id = (*reg)->subscribe("Calculator", cap.listener());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(cap.wait_first());
  std::vector<Url> expected = {url("tern://127.0.0.1:20880/Calculator?serialization=json"),
                               url("tern://[::1]:20881/Calculator?serialization=json")};
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a second push would show up by now
  std::lock_guard lock(cap.mu);
  ASSERT_EQ(cap.pushes.size(), 1u);
  EXPECT_EQ(cap.pushes[0], expected);
  EXPECT_NE(cap.thread, std::this_thread::get_id());  // on the registry's listener thread
}

TEST(DirectRegistryTest, LookupRegisterAndList) {
  auto reg = create_registry(url("direct://h1:1,h2:2"));
  ASSERT_TRUE(reg.ok());
  auto list = (*reg)->lookup("Echo");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<Url>{url("tern://h1:1/Echo"), url("tern://h2:2/Echo")}));
  EXPECT_TRUE((*reg)->register_provider(url("tern://h9:9/Echo")).is_ok());  // accepted, ignored
  EXPECT_EQ((*reg)->lookup("Echo")->size(), 2u);
  EXPECT_TRUE((*reg)->unregister_provider(url("tern://h9:9/Echo")).is_ok());
  EXPECT_EQ((*reg)->register_provider(url("tern://h9:9")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*reg)->list_services().status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ((*reg)->lookup("").status().code(), StatusCode::kInvalidArgument);
}

TEST(DirectRegistryTest, UnsubscribeFromInsideTheListener) {
  auto reg = create_registry(url("direct://h1:1")).value();
  std::mutex mu;
  std::condition_variable cv;
  SubscriptionId id = 0;
  bool ready = false, done = false;
  auto sub = reg->subscribe("S", [&](const std::string&, const std::vector<Url>&) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return ready; });
    reg->unsubscribe(id);  // its own: must not deadlock
    done = true;
    cv.notify_all();
  });
  ASSERT_TRUE(sub.ok());
  {
    std::lock_guard lock(mu);
    id = *sub;
    ready = true;
  }
  cv.notify_all();
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(2), [&] { return done; }));
}

TEST(DirectRegistryTest, MalformedAddresses) {
  EXPECT_EQ(create_registry(url("direct:///x")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(create_registry(url("direct://h1:1,h2")).status().code(), StatusCode::kInvalidArgument);
}

TEST(RegistryFactoryTest, UnknownSchemeListsKnownOnes) {
  auto r = create_registry(url("consul://h:8500"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string msg = r.status().message();
  EXPECT_NE(msg.find("consul"), std::string::npos) << msg;
  for (const char* known : {"direct", "etcd", "zookeeper"}) EXPECT_NE(msg.find(known), std::string::npos) << msg;
}

TEST(RegistryFactoryTest, CustomBackendsAndBuiltinsCoexist) {
  register_builtin_registries();
  register_builtin_registries();  // idempotent
  int made = 0;
  register_registry_backend("fake", [&](const Url& address, const RegistryOptions&) -> Result<std::shared_ptr<Registry>> {
    ++made;
    return create_registry(url("direct://" + address.address()));
  });
  auto r = create_registry(url("fake://h:1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(made, 1);
  EXPECT_EQ((*r)->lookup("S")->front(), url("tern://h:1/S"));
  // Replacing a built-in is allowed and survives register_builtin_registries().
  register_registry_backend("direct", [](const Url&, const RegistryOptions&) -> Result<std::shared_ptr<Registry>> {
    return Status(StatusCode::kUnimplemented, "replaced");
  });
  register_builtin_registries();
  EXPECT_EQ(create_registry(url("direct://h:1")).status().code(), StatusCode::kUnimplemented);
  register_registry_backend("direct", &DirectRegistry::create);
  EXPECT_TRUE(create_registry(url("direct://h:1")).ok());
}

}  // namespace
}  // namespace tern
