// Prometheus text and /status JSON renderings of metrics snapshots. See
// tern/monitor/exposition.h.
#include "tern/monitor/exposition.h"

#include <fmt/format.h>

#include <cmath>

#include <nlohmann/json.hpp>

namespace tern::monitor {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// Shortest text that reads back as the same double; Prometheus spellings for
// the infinities.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string labels(const MethodSnapshot& m) {
  return "service=\"" + escape_label_value(m.service) + "\",method=\"" + escape_label_value(m.method) + "\"";
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string to_prometheus_text(const std::vector<MethodSnapshot>& methods, double uptime_seconds) {
  std::string out;
  family(out, "tern_uptime_seconds", "gauge", "Seconds since the metrics registry was created.");
  out += "tern_uptime_seconds " + number(uptime_seconds) + "\n";
  for (Side side : {Side::kProvider, Side::kConsumer}) {
    std::string prefix = fmt::format("tern_{}_", side_name(side));
    std::string_view who = side == Side::kProvider ? "provider" : "consumer";
    auto each = [&](auto&& f) {
      for (auto& m : methods) {
        if (m.side == side) f(m);
      }
    };
    family(out, prefix + "calls_total", "counter", fmt::format("Calls completed by the {}, any status.", who));
    each([&](const MethodSnapshot& m) { out += fmt::format("{}calls_total{{{}}} {}\n", prefix, labels(m), m.calls); });
    family(out, prefix + "errors_total", "counter",
           fmt::format("Calls completed by the {} with a non-OK status, by status code.", who));
    each([&](const MethodSnapshot& m) {
      for (auto& [code, n] : m.errors_by_code) {
        out += fmt::format("{}errors_total{{{},code=\"{}\"}} {}\n", prefix, labels(m), status_code_name(code), n);
      }
    });
    family(out, prefix + "in_flight", "gauge", fmt::format("Calls started by the {} and not yet completed.", who));
    each([&](const MethodSnapshot& m) { out += fmt::format("{}in_flight{{{}}} {}\n", prefix, labels(m), m.in_flight); });
    family(out, prefix + "received_bytes_total", "counter",
           fmt::format("Frame bytes received by the {} (header, metadata and body).", who));
    each([&](const MethodSnapshot& m) {
      out += fmt::format("{}received_bytes_total{{{}}} {}\n", prefix, labels(m), m.bytes_in);
    });
    family(out, prefix + "sent_bytes_total", "counter",
           fmt::format("Frame bytes sent by the {} (header, metadata and body).", who));
    each([&](const MethodSnapshot& m) {
      out += fmt::format("{}sent_bytes_total{{{}}} {}\n", prefix, labels(m), m.bytes_out);
    });
    family(out, prefix + "stream_messages_received_total", "counter",
           fmt::format("Stream messages received by the {} (stream methods only).", who));
    each([&](const MethodSnapshot& m) {
      if (m.stream) out += fmt::format("{}stream_messages_received_total{{{}}} {}\n", prefix, labels(m), m.messages_in);
    });
    family(out, prefix + "stream_messages_sent_total", "counter",
           fmt::format("Stream messages sent by the {} (stream methods only).", who));
    each([&](const MethodSnapshot& m) {
      if (m.stream) out += fmt::format("{}stream_messages_sent_total{{{}}} {}\n", prefix, labels(m), m.messages_out);
    });
    family(out, prefix + "latency_seconds", "histogram",
           fmt::format("Latency of calls completed by the {}, in seconds.", who));
    each([&](const MethodSnapshot& m) {
      std::string l = labels(m);
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
        cumulative += m.buckets[i];
        out += fmt::format("{}latency_seconds_bucket{{{},le=\"{}\"}} {}\n", prefix, l, number(latency_bucket_bound(i)),
                           cumulative);
      }
      out += fmt::format("{}latency_seconds_sum{{{}}} {}\n", prefix, l, number(m.latency_sum_seconds));
      out += fmt::format("{}latency_seconds_count{{{}}} {}\n", prefix, l, cumulative);
    });
  }
  return out;
}

std::string to_status_json(const std::vector<MethodSnapshot>& methods, double uptime_seconds) {
  using nlohmann::json;
  json bounds = json::array();
  for (std::size_t i = 0; i + 1 < kLatencyBuckets; ++i) bounds.push_back(latency_bucket_bound(i));
  json services = json::array();
  const MethodSnapshot* prev = nullptr;
  for (auto& m : methods) {
    if (prev == nullptr || prev->side != m.side || prev->service != m.service) {
      services.push_back({{"name", m.service}, {"side", side_name(m.side)}, {"methods", json::array()}});
    }
    prev = &m;
    json by_code = json::object();
    for (auto& [code, n] : m.errors_by_code) by_code[std::string(status_code_name(code))] = n;
    json buckets = json::array();
    for (auto b : m.buckets) buckets.push_back(b);
    services.back()["methods"].push_back({
        {"name", m.method},
        {"calls", m.calls},
        {"errors", m.errors},
        {"errors_by_code", std::move(by_code)},
        {"in_flight", m.in_flight},
        {"bytes_in", m.bytes_in},
        {"bytes_out", m.bytes_out},
        {"stream", m.stream},
        {"messages_in", m.messages_in},
        {"messages_out", m.messages_out},
        {"latency",
         {{"count", m.latency_count},
          {"sum_seconds", m.latency_sum_seconds},
          {"p50_ms", m.p50 * 1e3},
          {"p90_ms", m.p90 * 1e3},
          {"p99_ms", m.p99 * 1e3},
          {"p999_ms", m.p999 * 1e3},
          {"buckets", std::move(buckets)}}},
    });
  }
  json doc = {{"uptime_seconds", uptime_seconds}, {"bucket_bounds_seconds", std::move(bounds)},
              {"services", std::move(services)}};
  return doc.dump();
}

Result<std::vector<MethodSnapshot>> parse_status_json(std::string_view text, double* uptime_seconds) {
  using nlohmann::json;
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Status(StatusCode::kInvalidArgument, "status is not a JSON object");
  try {
    if (uptime_seconds) *uptime_seconds = doc.value("uptime_seconds", 0.0);
    std::vector<MethodSnapshot> out;
    for (auto& svc : doc.at("services")) {
      for (auto& jm : svc.at("methods")) {
        MethodSnapshot m;
        m.side = svc.value("side", "provider") == "consumer" ? Side::kConsumer : Side::kProvider;
        m.service = svc.at("name").get<std::string>();
        m.method = jm.at("name").get<std::string>();
        m.calls = jm.value("calls", std::uint64_t{0});
        m.errors = jm.value("errors", std::uint64_t{0});
        m.in_flight = jm.value("in_flight", std::int64_t{0});
        m.bytes_in = jm.value("bytes_in", std::uint64_t{0});
        m.bytes_out = jm.value("bytes_out", std::uint64_t{0});
        m.stream = jm.value("stream", false);
        m.messages_in = jm.value("messages_in", std::uint64_t{0});
        m.messages_out = jm.value("messages_out", std::uint64_t{0});
        if (auto it = jm.find("errors_by_code"); it != jm.end()) {
          for (auto& [name, n] : it->items()) {
            StatusCode code;
            if (parse_status_code(name, &code)) m.errors_by_code[code] = n.get<std::uint64_t>();
          }
        }
        auto& lat = jm.at("latency");
        m.latency_sum_seconds = lat.value("sum_seconds", 0.0);
        auto& buckets = lat.at("buckets");
        for (std::size_t i = 0; i < kLatencyBuckets && i < buckets.size(); ++i) {
          m.buckets[i] = buckets[i].get<std::uint64_t>();
          m.latency_count += m.buckets[i];
        }
        m.p50 = histogram_quantile(m.buckets, 0.50);
        m.p90 = histogram_quantile(m.buckets, 0.90);
        m.p99 = histogram_quantile(m.buckets, 0.99);
        m.p999 = histogram_quantile(m.buckets, 0.999);
        out.push_back(std::move(m));
      }
    }
    return out;
  } catch (const json::exception& e) {
    return Status(StatusCode::kInvalidArgument, std::string("malformed status JSON: ") + e.what());
  }
}

}  // namespace tern::monitor
