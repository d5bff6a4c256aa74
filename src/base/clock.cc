// clock.cc - the real Clock (see clock.h).
#include "base/clock.h"

namespace tern {
namespace {

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }

  bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline,
                  const std::function<bool()>& done) override {
    if (deadline == time_point::max()) {
      cv.wait(lock, done);
      return true;
    }
    return cv.wait_until(lock, deadline, done);
  }
};

}  // namespace

Clock& Clock::steady() {
  static Clock* const clock = new SteadyClock;  // never destroyed: usable during static destruction
  return *clock;
}

}  // namespace tern
