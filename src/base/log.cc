// Default stderr sink and the level filter behind TERN_LOG.
#include "tern/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace tern {
namespace {

LogLevel initial_level() {
  const char* env = std::getenv("TERN_LOG_LEVEL");
  if (env == nullptr) return LogLevel::kInfo;
  if (std::strcmp(env, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(env, "warn") == 0) return LogLevel::kWarn;
  if (std::strcmp(env, "error") == 0) return LogLevel::kError;
  if (std::strcmp(env, "off") == 0) return LogLevel::kOff;
  return LogLevel::kInfo;
}

std::atomic<LogLevel> g_level{initial_level()};
std::mutex g_sink_mu;
std::shared_ptr<LogSink> g_sink;

void default_sink(LogLevel level, std::string_view message) {
  static const char kTag[] = {'D', 'I', 'W', 'E', 'O'};
  std::fprintf(stderr, "[tern %c] %.*s\n", kTag[static_cast<int>(level)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace

void set_log_sink(LogSink sink) {
  std::lock_guard lock(g_sink_mu);
  g_sink = sink ? std::make_shared<LogSink>(std::move(sink)) : nullptr;
}

void set_log_level(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() noexcept { return g_level.load(std::memory_order_relaxed); }

void log_line(LogLevel level, std::string_view message) {
  std::shared_ptr<LogSink> sink;
  {
    std::lock_guard lock(g_sink_mu);
    sink = g_sink;
  }
  if (sink) {
    (*sink)(level, message);
  } else {
    default_sink(level, message);
  }
}

}  // namespace tern
