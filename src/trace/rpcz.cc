// The /rpcz store and its renderings (tern/trace/rpcz.h).
#include "tern/trace/rpcz.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace tern::trace {

namespace {

bool slower(const SpanData& a, const SpanData& b) { return a.duration_nanos() > b.duration_nanos(); }

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string micros(std::uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ns) / 1000.0);
  return buf;
}

const char* kind_name(SpanKind k) { return k == SpanKind::kServer ? "server" : "client"; }

std::vector<const SpanData*> keep(const std::vector<SpanData>& list, std::string_view trace) {
  std::vector<const SpanData*> out;
  for (const auto& s : list) {
    if (trace.empty() || s.context.trace_id.hex() == trace) out.push_back(&s);
  }
  return out;
}

std::string text_row(const SpanData& s) {
  std::string line = "trace=" + s.context.trace_id.hex() + " span=" + s.context.span_id.hex() +
                     " parent=" + (s.parent.valid() ? s.parent.hex() : std::string("-")) + " " + kind_name(s.kind) +
                     " " + s.name() + " peer=" + (s.peer.empty() ? std::string("-") : s.peer) +
                     " status=" + std::string(status_code_name(s.code)) + " duration_us=" + micros(s.duration_nanos()) +
                     " req_bytes=" + std::to_string(s.request_bytes) + " resp_bytes=" + std::to_string(s.response_bytes);
  if (!s.message.empty()) line += " message=\"" + s.message + "\"";
  line += "\n";
  for (const auto& e : s.events) {
    line += "    event " + e.name + " peer=" + (e.peer.empty() ? std::string("-") : e.peer) +
            " at_us=" + micros(e.time_unix_nano > s.start_unix_nano ? e.time_unix_nano - s.start_unix_nano : 0) + "\n";
  }
  return line;
}

}  // namespace

RpczStore::RpczStore(std::size_t recent, std::size_t slow) : recent_cap_(recent), slow_cap_(slow) {
  ring_.reserve(recent_cap_);
  slow_.reserve(slow_cap_);
}

void RpczStore::add(const SpanData& span) {
  std::lock_guard lock(mu_);
  ++total_;
  if (recent_cap_ > 0) {
    if (ring_.size() < recent_cap_) {
      ring_.push_back(span);
    } else {
      ring_[next_] = span;
    }
    next_ = (next_ + 1) % recent_cap_;
  }
  if (slow_cap_ > 0) {
    // A min-heap on duration: the front is the fastest of the slow ones.
    auto cmp = [](const SpanData& a, const SpanData& b) { return slower(a, b); };
    if (slow_.size() < slow_cap_) {
      slow_.push_back(span);
      std::push_heap(slow_.begin(), slow_.end(), cmp);
    } else if (span.duration_nanos() > slow_.front().duration_nanos()) {
      std::pop_heap(slow_.begin(), slow_.end(), cmp);
      slow_.back() = span;
      std::push_heap(slow_.begin(), slow_.end(), cmp);
    }
  }
}

RpczStore::Snapshot RpczStore::snapshot() const {
  Snapshot out;
  {
    std::lock_guard lock(mu_);
    out.total = total_;
    out.recent.reserve(ring_.size());
    // Newest first: walk back from the slot before next_.
    for (std::size_t i = 0; i < ring_.size(); ++i) {
      std::size_t at = (next_ + ring_.size() - 1 - i) % ring_.size();
      out.recent.push_back(ring_[at]);
    }
    out.slow = slow_;
  }
  std::sort(out.slow.begin(), out.slow.end(), slower);
  return out;
}

std::string render_rpcz_text(const RpczStore::Snapshot& snap, bool enabled, std::string_view trace) {
  if (!enabled) return "rpcz is off: set TracerOptions::rpcz (YAML: tracing: {rpcz: true}); see docs/tracing.md\n";
  std::string out = "rpcz: " + std::to_string(snap.total) + " spans recorded\n\nrecent (newest first)\n";
  for (const auto* s : keep(snap.recent, trace)) out += text_row(*s);
  out += "\nslowest\n";
  for (const auto* s : keep(snap.slow, trace)) out += text_row(*s);
  return out;
}

std::string render_rpcz_html(const RpczStore::Snapshot& snap, bool enabled, std::string_view trace) {
  std::string out = "<!doctype html><html><head><meta charset=\"utf-8\"><title>rpcz</title><style>"
                    "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
                    "padding:2px 6px;font-size:13px}td.n{text-align:right}.err{color:#b00}</style></head><body><h1>rpcz</h1>";
  if (!enabled) {
    return out + "<p>rpcz is off: set <code>TracerOptions::rpcz</code> (YAML: <code>tracing: {rpcz: true}</code>).</p></body></html>";
  }
  out += "<p>" + std::to_string(snap.total) + " spans recorded. <a href=\"?format=json\">JSON</a> &middot; <a href=\"?format=text\">text</a></p>";
  auto table = [&](const char* title, const std::vector<SpanData>& list) {
    out += std::string("<h2>") + title + "</h2><table><tr><th>trace</th><th>span</th><th>parent</th><th>kind</th>"
           "<th>method</th><th>peer</th><th>status</th><th>duration µs</th><th>req B</th><th>resp B</th><th>events</th></tr>";
    for (const auto* s : keep(list, trace)) {
      std::string tid = s->context.trace_id.hex();
      std::string events;
      for (const auto& e : s->events) events += html_escape(e.name + " " + e.peer) + "<br>";
      out += "<tr><td><a href=\"?trace=" + tid + "\">" + tid + "</a></td><td>" + s->context.span_id.hex() + "</td><td>" +
             (s->parent.valid() ? s->parent.hex() : std::string("-")) + "</td><td>" + kind_name(s->kind) + "</td><td>" +
             html_escape(s->name()) + "</td><td>" + html_escape(s->peer) + "</td><td" +
             (s->code == StatusCode::kOk ? "" : " class=\"err\"") + ">" + std::string(status_code_name(s->code)) +
             (s->message.empty() ? "" : " " + html_escape(s->message)) + "</td><td class=\"n\">" +
             micros(s->duration_nanos()) + "</td><td class=\"n\">" + std::to_string(s->request_bytes) +
             "</td><td class=\"n\">" + std::to_string(s->response_bytes) + "</td><td>" + events + "</td></tr>";
    }
    out += "</table>";
  };
  table("Recent", snap.recent);
  table("Slowest", snap.slow);
  return out + "</body></html>";
}

std::string render_rpcz_json(const RpczStore::Snapshot& snap, bool enabled, std::string_view trace) {
  using json = nlohmann::json;
  auto list = [&](const std::vector<SpanData>& spans) {
    json a = json::array();
    for (const auto* s : keep(spans, trace)) {
      json events = json::array();
      for (const auto& e : s->events) events.push_back(json{{"name", e.name}, {"peer", e.peer}, {"time_unix_nano", e.time_unix_nano}});
      a.push_back(json{{"trace_id", s->context.trace_id.hex()},
                       {"span_id", s->context.span_id.hex()},
                       {"parent_span_id", s->parent.valid() ? s->parent.hex() : std::string()},
                       {"kind", kind_name(s->kind)},
                       {"service", s->service},
                       {"method", s->method},
                       {"peer", s->peer},
                       {"status", status_code_name(s->code)},
                       {"message", s->message},
                       {"start_unix_nano", s->start_unix_nano},
                       {"duration_us", static_cast<double>(s->duration_nanos()) / 1000.0},
                       {"request_bytes", s->request_bytes},
                       {"response_bytes", s->response_bytes},
                       {"events", std::move(events)}});
    }
    return a;
  };
  json j{{"enabled", enabled}, {"total", snap.total}, {"recent", list(snap.recent)}, {"slowest", list(snap.slow)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tern::trace
