// tests/helpers/warn_log.h - collects the warning lines Tern logs while it
// lives (tern::set_log_sink), for tests that check a warning's exact text.
// Restores the default sink when destroyed. One at a time per process.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tern/log.h"
#include "wait_until.h"

namespace testutil {

class WarnLog {
 public:
  WarnLog() {
    tern::set_log_sink([this](tern::LogLevel level, std::string_view message) {
      if (level != tern::LogLevel::kWarn) return;
      std::lock_guard lock(mu_);
      lines_.emplace_back(message);
    });
  }
  ~WarnLog() { tern::set_log_sink(nullptr); }
  WarnLog(const WarnLog&) = delete;
  WarnLog& operator=(const WarnLog&) = delete;

  std::vector<std::string> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }
  // Waits until some line contains `part`; returns that line ("" on timeout).
  std::string wait_for(const std::string& part, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string found;
    wait_until(
        [&] {
          std::lock_guard lock(mu_);
          for (const auto& l : lines_) {
            if (l.find(part) != std::string::npos) {
              found = l;
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace testutil
