// The provider's service table (src/server/service_table.h): registration,
// lookup by string_view without allocating, and the UNIMPLEMENTED answers.
#include "server/service_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

// Counts this process's allocations, so that a test can show a lookup makes
// none. (GCC flags free() of what operator new returned once it inlines
// these replacements; here both sides are malloc/free.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using tern::StatusCode;
using tern::server_impl::ServiceTable;

// Longer than any std::string's inline buffer: building one would allocate.
constexpr std::string_view kService = "com.example.billing.InvoiceService";
constexpr std::string_view kMethod = "create_invoice_for_customer";

tern::MethodHandler tagged(int* seen, int tag) {
  return [seen, tag](tern::ServerCall&) { *seen = tag; };
}

TEST(ServiceTable, AddMethodCreatesTheServiceAndKeepsRegistrationOrder) {
  ServiceTable table;
  int seen = 0;
  tern::ServiceOptions options;
  options.version = "1.0";
  ASSERT_TRUE(table.add_method(kService, "b", tagged(&seen, 1), options).is_ok());
  ASSERT_TRUE(table.add_method(kService, "a", tagged(&seen, 2), options).is_ok());
  EXPECT_EQ(table.size(), 1u);
  const auto* svc = table.find(kService);
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->options.name, kService);
  EXPECT_EQ(svc->options.version, "1.0");
  EXPECT_EQ(svc->method_names, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(svc->methods.size(), 2u);
  EXPECT_TRUE(table.contains(kService));
  EXPECT_FALSE(table.contains("com.example"));
}

TEST(ServiceTable, SecondRegistrationOfAMethodIsAlreadyExistsAndKeepsTheFirst) {
  ServiceTable table;
  int seen = 0;
  ASSERT_TRUE(table.add_method("Calc", "add", tagged(&seen, 1), {}).is_ok());
  tern::Status again = table.add_method("Calc", "add", tagged(&seen, 2), {});
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "method 'Calc.add' is exposed already");
  auto r = table.resolve("Calc", "add", "", "");
  ASSERT_TRUE(r.has_value()) << r.status();
  tern::ServerCall call(nullptr, tern::protocol::Frame{});
  r->method->handler(call);
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(table.find("Calc")->method_names.size(), 1u);
}

TEST(ServiceTable, ResolveFindsTheHandlerByViewsIntoAnotherBuffer) {
  ServiceTable table;
  int seen = 0;
  ASSERT_TRUE(table.add_method(kService, kMethod, tagged(&seen, 7), {}).is_ok());
  ASSERT_TRUE(table.add_method(kService, "other", tagged(&seen, 8), {}).is_ok());
  // Names as a request carries them: views into the middle of the metadata,
  // not NUL-terminated.
  std::string meta = "xx" + std::string(kService) + std::string(kMethod) + "yy";
  std::string_view service = std::string_view(meta).substr(2, kService.size());
  std::string_view method = std::string_view(meta).substr(2 + kService.size(), kMethod.size());
  auto r = table.resolve(service, method, "", "");
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(r->service, table.find(kService));
  EXPECT_EQ(r->method, table.find(kService)->find_method(kMethod));
  tern::ServerCall call(nullptr, tern::protocol::Frame{});
  r->method->handler(call);
  EXPECT_EQ(seen, 7);
}

TEST(ServiceTable, ResolveAllocatesNothing) {
  ServiceTable table;
  int seen = 0;
  for (std::string_view m : {kMethod, std::string_view("another_method_with_a_long_name")}) {
    ASSERT_TRUE(table.add_method(kService, m, tagged(&seen, 1), {}).is_ok());
  }
  ASSERT_TRUE(table.add_method("com.example.billing.OtherService", "x", tagged(&seen, 2), {}).is_ok());
  std::string meta = std::string(kService) + std::string(kMethod);
  std::string_view service = std::string_view(meta).substr(0, kService.size());
  std::string_view method = std::string_view(meta).substr(kService.size());
  long before = g_allocations.load();
  bool found = true;
  for (int i = 0; i < 1000; ++i) {
    auto r = table.resolve(service, method, "", "");
    found = found && r.has_value() && r->method != nullptr;
    found = found && table.find(service) != nullptr;
  }
  long after = g_allocations.load();
  EXPECT_TRUE(found);
  EXPECT_EQ(after - before, 0);
}

TEST(ServiceTable, UnknownServiceIsUnimplementedWithASuggestion) {
  ServiceTable table;
  int seen = 0;
  ASSERT_TRUE(table.add_method("Calculator", "add", tagged(&seen, 1), {}).is_ok());
  auto typo = table.resolve("Calculater", "add", "", "");
  ASSERT_FALSE(typo.has_value());
  EXPECT_EQ(typo.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(typo.status().message(), "unknown service 'Calculater' (did you mean 'Calculator'?)");
  auto far = table.resolve("Weather", "add", "", "");
  EXPECT_EQ(far.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(far.status().message(), "unknown service 'Weather'");
  EXPECT_FALSE(far.status().may_have_executed());
}

TEST(ServiceTable, UnknownMethodIsUnimplementedWithASuggestion) {
  ServiceTable table;
  int seen = 0;
  ASSERT_TRUE(table.add_method("Calculator", "multiply", tagged(&seen, 1), {}).is_ok());
  ASSERT_TRUE(table.add_method("Calculator", "add", tagged(&seen, 2), {}).is_ok());
  auto typo = table.resolve("Calculator", "mulitply", "", "");
  EXPECT_EQ(typo.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(typo.status().message(), "unknown method 'Calculator.mulitply' (did you mean 'multiply'?)");
  auto none = table.resolve("Calculator", "divide", "", "");
  EXPECT_EQ(none.status().message(), "unknown method 'Calculator.divide'");
}

TEST(ServiceTable, VersionAndGroupMustMatchWhenBothSidesNameThem) {
  ServiceTable table;
  int seen = 0;
  tern::ServiceOptions options;
  options.version = "2.0";
  options.group = "blue";
  ASSERT_TRUE(table.add_method("Calc", "add", tagged(&seen, 1), options).is_ok());
  EXPECT_TRUE(table.resolve("Calc", "add", "", "").has_value());        // the consumer names none: any
  EXPECT_TRUE(table.resolve("Calc", "add", "2.0", "blue").has_value());
  auto v = table.resolve("Calc", "add", "1.0", "");
  EXPECT_EQ(v.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(v.status().message(), "service 'Calc' version '1.0' group '' is not exposed here");
  auto g = table.resolve("Calc", "add", "2.0", "green");
  EXPECT_EQ(g.status().message(), "service 'Calc' version '2.0' group 'green' is not exposed here");
  // A service without a version answers every version.
  ServiceTable open;
  ASSERT_TRUE(open.add_method("Calc", "add", tagged(&seen, 1), {}).is_ok());
  EXPECT_TRUE(open.resolve("Calc", "add", "9.9", "any").has_value());
}

TEST(ServiceTable, FindOrAddCreatesAnEmptyServiceOnce) {
  ServiceTable table;
  auto& a = table.find_or_add("Stream");
  a.stream_descriptions["chat"] = nlohmann::json::object();
  auto& b = table.find_or_add("Stream");
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(b.stream_descriptions.size(), 1u);
  EXPECT_TRUE(b.methods.empty());
  EXPECT_EQ(table.names(), (std::vector<std::string_view>{"Stream"}));
}

}  // namespace
