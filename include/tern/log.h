// tern/log.h - Tern's one logging hook.
//
// Tern logs rarely (connection closed with a reason, registry changes, a
// handler blocking an IO thread) and never on the hot path of a healthy call.
// By default lines go to stderr as "[tern W] message"; an application
// redirects them with set_log_sink() (e.g. into spdlog) and filters with
// set_log_level().
//
//   tern::set_log_sink([](tern::LogLevel l, std::string_view m) { my_logger(l, m); });
//   TERN_LOG(kWarn, "closing connection from {}: {}", peer, reason);
//
// Thread safety: logging is thread-safe; set_log_sink()/set_log_level() may be
// called at any time (the sink is swapped atomically; a line being written to
// the old sink completes there).
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string_view>

namespace tern {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Replaces the sink; an empty function restores the default stderr sink.
void set_log_sink(LogSink sink);
// Lines below `level` are dropped before formatting. Default: kInfo, or the
// value of the environment variable TERN_LOG_LEVEL (debug|info|warn|error|off).
void set_log_level(LogLevel level);
LogLevel log_level() noexcept;
// Writes one line to the sink.
void log_line(LogLevel level, std::string_view message);

}  // namespace tern

// Formats with fmt only when the level is enabled.
#define TERN_LOG(level, ...)                                                       \
  do {                                                                              \
    if (::tern::LogLevel::level >= ::tern::log_level())                             \
      ::tern::log_line(::tern::LogLevel::level, ::fmt::format(__VA_ARGS__));       \
  } while (0)
