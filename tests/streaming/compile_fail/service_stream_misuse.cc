// Misuses of TERN_SERVICE stream methods that must not compile, each with a
// static_assert saying why (tests/CMakeLists.txt builds one target per
// TERN_MISUSE_* and expects the build to fail with that message).
#include <string>

#include "tern/client.h"
#include "tern/proxy.h"
#include "tern/server.h"
#include "tern/service_stream.h"

struct Misuse {
  virtual ~Misuse() = default;
  virtual int add(int a, int b) = 0;
  virtual tern::Task<tern::Status> chat(tern::ServerStream<std::string, std::string>& s) = 0;
  virtual tern::Task<tern::Status> by_value(tern::ServerStream<int, int> s) = 0;
  virtual int wrong_return(tern::ServerStream<int, int>& s) = 0;
};
#if defined(TERN_MISUSE_BY_VALUE)
TERN_SERVICE(Misuse, add, chat, by_value)
#elif defined(TERN_MISUSE_WRONG_RETURN)
TERN_SERVICE(Misuse, add, chat, wrong_return)
#else
TERN_SERVICE(Misuse, add, chat)
#endif
#if defined(TERN_MISUSE_KIND_OF_UNARY)
TERN_STREAM_KIND(Misuse, add, kServer)
#endif

int main() {
  tern::Proxy<Misuse> proxy;
#if defined(TERN_MISUSE_CALL)
  auto r = proxy.call<&Misuse::chat>();
  (void)r;
#elif defined(TERN_MISUSE_ASYNC_CALL)
  proxy.async_call<&Misuse::chat>();
#elif defined(TERN_MISUSE_CALLBACK)
  proxy.callback<&Misuse::chat>([](auto) {});
#elif defined(TERN_MISUSE_CO_CALL)
  proxy.co_call<&Misuse::chat>();
#elif defined(TERN_MISUSE_ONEWAY)
  proxy.oneway<&Misuse::chat>();
#elif defined(TERN_MISUSE_STREAM_OF_UNARY)
  auto s = proxy.stream<&Misuse::add>();
  (void)s;
#elif defined(TERN_MISUSE_BY_VALUE) || defined(TERN_MISUSE_WRONG_RETURN)
  tern::Server server;
  (void)server.expose<Misuse>(nullptr);
#endif
  return 0;
}
