// Quickstart consumer: finds Calculator providers through the registry and
// calls them, printing each result or status and which provider answered.
//   quickstart_consumer --registry tern://127.0.0.1:9090 --duration-ms 6000
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "calculator.h"
#include "tern/client.h"
#include "tern/provider.h"

using quickstart::Calculator;

namespace {
std::mutex g_out;
template <typename... T>
void say(const T&... parts) {
  std::ostringstream os;
  os << "[consumer] ";
  (os << ... << parts);
  std::lock_guard lock(g_out);
  std::cout << os.str() << std::endl;
}
}  // namespace

int main(int argc, char** argv) {
  std::string registry = "tern://127.0.0.1:9090";
  int duration_ms = 6000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--registry") registry = argv[i + 1];
    else if (k == "--duration-ms") duration_ms = std::atoi(argv[i + 1]);
  }

  tern::ClientOptions co;
  co.io_threads = 1;
  co.registry.heartbeat_interval = std::chrono::milliseconds(1000);
  tern::Client client(co);

  // Watch the registry's pushes for Calculator, to show them as they happen.
  auto reg = client.registry(registry);
  if (!reg) {
    say("registry: ", reg.status());
    return 1;
  }
  auto sub = (*reg)->subscribe("Calculator", [](const std::string& service, const std::vector<tern::Url>& providers) {
    std::ostringstream os;
    for (auto& p : providers) os << " " << p.address() << "(weight " << p.param("weight", "100") << ")";
    say("registry push: ", service, " has ", providers.size(), providers.size() == 1 ? " provider:" : " providers:",
        os.str());
  });
  (void)sub;

  tern::ReferenceOptions ro;
  ro.timeout = std::chrono::milliseconds(500);
  ro.load_balance = "weighted_round_robin";  // smooth, as nginx: 1:2:3 for weights 100:200:300
  ro.warmup = std::chrono::milliseconds(0);  // the demo's providers are brand new: no warm-up ramp
  auto ref = client.refer<Calculator>(registry, ro);
  if (!ref) {
    say("refer failed: ", ref.status());
    return 1;
  }
  auto calc = *ref;
  if (!calc.reference()->wait_for_providers(std::chrono::seconds(5))) {
    say("no provider appeared within 5 s");
    return 1;
  }
  while (calc.reference()->providers().size() < 3) {
    if (!calc.reference()->wait_for_providers(std::chrono::milliseconds(100))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    static int waited = 0;
    if (++waited > 60) break;
  }

  // A handful of calls, one of each kind.
  say("add(1, 2) = ", calc.call<&Calculator::add>(1, 2).value());
  say("greet(\"tern\") = \"", calc.call<&Calculator::greet>("tern").value(), "\"");
  auto m = calc.call<&Calculator::midpoint>(quickstart::Point{0, 0}, quickstart::Point{4, 2}).value();
  say("midpoint({0,0}, {4,2}) = {", m.x, ", ", m.y, "}");
  auto d = calc.call<&Calculator::divide>(1, 0);
  say("divide(1, 0) -> ", d.status().to_string(), "   (the handler threw; the message travels back)");
  auto s = calc.call<&Calculator::slow>(2000);
  say("slow(2000) with a 500 ms timeout -> ", s.status().to_string());
  say("log(\"hi\") oneway -> ", calc.oneway<&Calculator::log>("hi from the consumer").to_string());

  // Then calls every 200 ms until the end, while providers come and go.
  int ok = 0, failed = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(duration_ms);
  for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
    auto r = calc.call<&Calculator::greet>("call #" + std::to_string(i));
    if (r) {
      ++ok;
      say("sync greet -> \"", *r, "\"");
    } else {
      ++failed;
      say("sync greet -> ", r.status().to_string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  say("done: ", ok, " calls succeeded, ", failed, " failed");
  return failed == 0 ? 0 : 2;
}
