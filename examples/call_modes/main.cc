// The five call modes in one process: a provider on a free port and a
// consumer calling it in each mode, printing what happens.
//   build/default/bin/call_modes
#include <future>
#include <iostream>
#include <thread>

#include "tern/client.h"
#include "tern/server.h"

struct Calculator {
  virtual ~Calculator() = default;
  virtual int add(int a, int b) = 0;
  virtual int slow_add(int a, int b) = 0;
};
TERN_SERVICE(Calculator, add, slow_add)

struct CalculatorImpl : Calculator {
  int add(int a, int b) override { return a + b; }
  int slow_add(int a, int b) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return a + b;
  }
};

int main() {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  tern::Server server(so);
  (void)server.expose<Calculator>(std::make_shared<CalculatorImpl>());
  if (auto s = server.start(); !s.is_ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  tern::Client client;
  auto calc = client.refer<Calculator>("direct://127.0.0.1:" + std::to_string(server.port())).value();

  std::cout << "sync      add(1, 2)      = " << calc.call<&Calculator::add>(1, 2).value() << "\n";

  auto f = calc.async_call<&Calculator::add>(2, 3).then([](tern::Result<int> v) { return v.value() * 10; });
  std::cout << "future    add(2, 3) * 10 = " << f.get().value() << "   (then() ran on the IO thread)\n";

  std::promise<std::string> p;
  calc.callback<&Calculator::add>(
      [&](tern::Result<int> v) { p.set_value(v ? std::to_string(*v) : v.status().to_string()); }, 3, 4);
  std::cout << "callback  add(3, 4)      = " << p.get_future().get() << "\n";

  std::cout << "oneway    add(4, 5)      -> " << calc.oneway<&Calculator::add>(4, 5) << " (no response)\n";

  auto task = [](tern::Proxy<Calculator> c) -> tern::Task<int> {
    auto a = co_await c.co_call<&Calculator::add>(5, 6);
    auto b = co_await c.co_call<&Calculator::add>(a.value(), 100);
    co_return b.value();
  };
  std::cout << "coroutine add(add(5, 6), 100) = " << tern::sync_wait(task(calc)).value() << "\n";

  tern::CallOptions short_timeout;
  short_timeout.timeout = std::chrono::milliseconds(100);
  std::cout << "timeout   slow_add(1, 1) -> " << calc.with(short_timeout).call<&Calculator::slow_add>(1, 1).status()
            << "\n";
  auto pending = calc.async_call<&Calculator::slow_add>(1, 1);
  pending.cancel();
  std::cout << "cancel    slow_add(1, 1) -> " << pending.get().status() << "\n";
  server.shutdown(std::chrono::milliseconds(500));
  return 0;
}
