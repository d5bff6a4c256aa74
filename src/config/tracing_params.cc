// The `tracing` keys: TracerOptions from text (tern/config.h, docs/tracing.md).
#include <charconv>
#include <cstdlib>

#include "tern/config.h"

namespace tern {

namespace {

Status invalid(std::string_view key, std::string message) {
  return Status(StatusCode::kInvalidArgument, std::string(key) + ": " + std::move(message));
}

Status set_size(std::size_t& out, std::string_view key, std::string_view v, std::size_t min, std::size_t max) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return invalid(key, "\"" + std::string(v) + "\" is not an integer");
  if (n < min || n > max) {
    return invalid(key, "\"" + std::string(v) + "\" is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  out = n;
  return Status();
}

// "500", "500ms", "3s" -> milliseconds (>= 1).
Status set_ms(std::chrono::milliseconds& out, std::string_view key, std::string_view v) {
  std::size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
  std::string_view unit = v.substr(digits);
  std::int64_t factor = unit.empty() || unit == "ms" ? 1 : unit == "s" ? 1000 : 0;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + digits, n);
  if (digits == 0 || factor == 0 || ec != std::errc() || end != v.data() + digits || n > (std::int64_t{1} << 40)) {
    return invalid(key, "\"" + std::string(v) + "\" is not a duration (milliseconds, or a whole number with ms or s)");
  }
  if (n * factor < 1) return invalid(key, "must be at least 1 ms");
  out = std::chrono::milliseconds(n * factor);
  return Status();
}

Status set_bool(bool& out, std::string_view key, std::string_view v) {
  if (v == "true") out = true;
  else if (v == "false") out = false;
  else return invalid(key, "expected true or false, got \"" + std::string(v) + "\"");
  return Status();
}

}  // namespace

Status apply_param(trace::TracerOptions& o, std::string_view key, std::string_view value) {
  if (key == "service_name") {
    if (value.empty()) return invalid(key, "must not be empty");
    o.service_name = std::string(value);
    return Status();
  }
  if (key == "sampler") {
    auto kind = trace::parse_sampler_kind(value);
    if (!kind) return invalid(key, kind.status().message());
    o.sampler.kind = *kind;
    return Status();
  }
  if (key == "ratio") {
    std::string text(value);
    char* end = nullptr;
    double r = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(r >= 0.0 && r <= 1.0)) {
      return invalid(key, "\"" + text + "\" is not a number from 0 to 1");
    }
    o.sampler.ratio = r;
    return Status();
  }
  if (key == "parent_based") return set_bool(o.sampler.parent_based, key, value);
  if (key == "otlp_endpoint") {
    if (!value.empty() && value.substr(0, 7) != "http://" && value.substr(0, 8) != "https://") {
      return invalid(key, "\"" + std::string(value) + "\" is not an http:// or https:// URL");
    }
    o.otlp_endpoint = std::string(value);
    return Status();
  }
  if (key == "queue_capacity") return set_size(o.queue_capacity, key, value, 1, std::size_t{1} << 24);
  if (key == "max_batch") return set_size(o.max_batch, key, value, 1, std::size_t{1} << 20);
  if (key == "max_delay") return set_ms(o.max_delay, key, value);
  if (key == "export_timeout") return set_ms(o.export_timeout, key, value);
  if (key == "shutdown_timeout") return set_ms(o.shutdown_timeout, key, value);
  if (key == "rpcz") return set_bool(o.rpcz, key, value);
  if (key == "rpcz_recent") return set_size(o.rpcz_recent, key, value, 0, 100000);
  if (key == "rpcz_slow") return set_size(o.rpcz_slow, key, value, 0, 100000);
  return Status(StatusCode::kInvalidArgument,
                "unknown tracing key \"" + std::string(key) +
                    "\" (known: enabled, export_timeout, max_batch, max_delay, otlp_endpoint, parent_based, queue_capacity, "
                    "ratio, rpcz, rpcz_recent, rpcz_slow, sampler, service_name, shutdown_timeout)");
}

}  // namespace tern
