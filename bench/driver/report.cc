// bench/driver/report.cc - tables, target checks and the hand-written SVG.
#include "driver/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <regex>
#include <sstream>

#include "common/bench_common.h"

namespace bench {
namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string human(double v) {
  if (v >= 1e6) return fmt("%.2fM", v / 1e6);
  if (v >= 1e4) return fmt("%.0fk", v / 1e3);
  if (v >= 1e3) return fmt("%.1fk", v / 1e3);
  return fmt("%.0f", v);
}

const Result* find(const Report& r, const std::string& scenario, const std::string& system) {
  for (auto& x : r.results)
    if (x.scenario == scenario && x.system == system) return &x;
  return nullptr;
}

double ratio(const Result* a, const Result* b) { return a && b && b->qps > 0 ? a->qps / b->qps : NAN; }

std::string ratio_str(double v) { return std::isnan(v) ? "-" : fmt("%.2fx", v); }

struct Row {
  std::vector<std::string> cells;
};

std::vector<std::string> header() {
  return {"scenario", "system", "calls/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "CPU s/100k", "srv peak RSS MB",
          "idle KB/conn", "vs raw", "vs gRPC"};
}

Kind kind_of(const std::string& scenario) {
  const Spec* s = find_scenario(scenario);
  return s ? s->kind : Kind::kEcho;
}

std::vector<Row> rows(const Report& r) {
  std::vector<Row> out;
  for (auto& x : r.results) {
    if (kind_of(x.scenario) != Kind::kEcho) continue;
    const Spec* s = find_scenario(x.scenario);
    bool tern = x.system.rfind("tern", 0) == 0;
    Row row;
    row.cells = {s ? s->title : x.scenario,
                 x.system,
                 human(x.qps),
                 s && s->throughput ? fmt("%.0f", x.mbps) : "",
                 fmt("%.1f", x.p50),
                 fmt("%.1f", x.p99),
                 fmt("%.1f", x.p999),
                 fmt("%.2f", x.cpu_per_100k),
                 fmt("%.1f", x.server_hwm_kb / 1024),
                 s && s->conns >= 64 ? fmt("%.1f", x.idle_conn_kb) : "",
                 tern ? ratio_str(ratio(&x, find(r, x.scenario, "raw"))) : "",
                 tern ? ratio_str(ratio(&x, find(r, x.scenario, "grpc"))) : ""};
    if (x.errors > 0) row.cells[1] += " (" + fmt("%.0f", x.errors) + " errors)";
    out.push_back(row);
  }
  return out;
}

// ---- streaming (stream16 / stream64k) ----------------------------------------

double mb_ratio(const Result* a, const Result* b) { return a && b && b->mbps > 0 ? a->mbps / b->mbps : NAN; }

std::vector<std::string> stream_header() {
  return {"scenario", "system", "msgs/s", "MB/s", "client CPU us/msg", "server CPU us/msg", "MB/s vs raw",
          "msgs/s vs gRPC"};
}

std::vector<Row> stream_rows(const Report& r) {
  std::vector<Row> out;
  for (auto& x : r.results) {
    if (kind_of(x.scenario) != Kind::kStream) continue;
    const Spec* s = find_scenario(x.scenario);
    bool tern = x.system.rfind("tern", 0) == 0;
    Row row;
    row.cells = {s ? s->title : x.scenario,
                 x.system,
                 human(x.qps),
                 fmt("%.0f", x.mbps),
                 fmt("%.3f", x.cpu_client * 10),  // CPU s per 100k -> us per message
                 fmt("%.3f", x.cpu_server * 10),
                 x.system != "raw" ? ratio_str(mb_ratio(&x, find(r, x.scenario, "raw"))) : "",
                 tern ? ratio_str(ratio(&x, find(r, x.scenario, "grpc"))) : ""};
    if (x.errors > 0) row.cells[1] += " (" + fmt("%.0f", x.errors) + " errors)";
    out.push_back(row);
  }
  return out;
}

// ---- gRPC wire (gw1 / gw64) ---------------------------------------------------

const char* wire_label(const std::string& system) {
  if (system == "grpc") return "grpc: gRPC C++ client -> gRPC C++ server";
  if (system == "grpc-to-tern") return "grpc-to-tern: gRPC C++ client -> Tern provider";
  if (system == "tern-to-grpc") return "tern-to-grpc: Tern consumer -> gRPC C++ server";
  return system.c_str();
}

// CPU ratio (us/call) of `a` over `b` on the server (server = true) or client side.
double cpu_ratio(const Result* a, const Result* b, bool server) {
  if (!a || !b) return NAN;
  double x = server ? a->cpu_server : a->cpu_client, y = server ? b->cpu_server : b->cpu_client;
  return y > 0 ? x / y : NAN;
}

std::vector<std::string> wire_header() {
  return {"scenario", "system", "QPS", "p50 us", "p99 us", "server CPU us/call", "client CPU us/call",
          "QPS vs grpc", "CPU/call vs grpc (measured side)"};
}

std::vector<Row> wire_rows(const Report& r) {
  std::vector<Row> out;
  for (auto& x : r.results) {
    if (kind_of(x.scenario) != Kind::kGrpcWire) continue;
    const Spec* s = find_scenario(x.scenario);
    const Result* g = find(r, x.scenario, "grpc");
    std::string cpu;
    if (x.system == "grpc-to-tern") cpu = ratio_str(cpu_ratio(&x, g, true)) + " (server)";
    if (x.system == "tern-to-grpc") cpu = ratio_str(cpu_ratio(&x, g, false)) + " (client)";
    Row row;
    row.cells = {s ? s->title : x.scenario,
                 wire_label(x.system),
                 human(x.qps),
                 fmt("%.1f", x.p50),
                 fmt("%.1f", x.p99),
                 fmt("%.2f", x.cpu_server * 10),
                 fmt("%.2f", x.cpu_client * 10),
                 x.system != "grpc" ? ratio_str(ratio(&x, g)) : "",
                 cpu};
    if (x.errors > 0) row.cells[1] += " (" + fmt("%.0f", x.errors) + " errors)";
    out.push_back(row);
  }
  return out;
}

// Parses a Google Benchmark counter "name=value" from the micro output.
double micro_counter(const std::string& text, const std::string& bench, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  std::regex re(name + "=([0-9.]+)([kM]?)");
  while (std::getline(in, line)) {
    if (line.find(bench) == std::string::npos) continue;
    std::smatch m;
    if (std::regex_search(line, m, re)) {
      double v = std::stod(m[1]);
      if (m[2] == "k") v *= 1e3;
      if (m[2] == "M") v *= 1e6;
      return v;
    }
  }
  return NAN;
}

struct Target {
  std::string what;
  double value, goal;
  bool higher_better = true;
};

std::vector<Target> targets(const Report& r) {
  auto t = [&](const char* sc, const char* sy) { return find(r, sc, sy); };
  std::vector<Target> out;
  // Issue #17's targets, for `direct` and the provider's default dispatcher (`adaptive`).
  for (const char* sys : {"tern-direct", "tern-adaptive"}) {
    std::string s = sys;
    bool direct = s == "tern-direct";
    out.push_back({s + " 16 B 1-in-flight vs raw ping-pong", ratio(t("ping16", sys), t("ping16", "raw")), 0.90});
    out.push_back({s + " 16 B 64 in flight / 1 conn vs raw pipelined", ratio(t("mux64", sys), t("mux64", "raw")),
                   direct ? 0.70 : 0.40});
    out.push_back({s + " 16 B 64 conns vs raw 64 conns", ratio(t("conn64", sys), t("conn64", "raw")), 0.85});
    out.push_back({s + " 64 KiB throughput vs raw", ratio(t("kib64", sys), t("kib64", "raw")), 0.70});
    out.push_back({s + " 1 MiB throughput vs raw", ratio(t("mib1", sys), t("mib1", "raw")), 0.70});
    out.push_back({s + " 16 B 1-in-flight vs gRPC", ratio(t("ping16", sys), t("ping16", "grpc")), 2.0});
  }
  // Streaming (issue #15): one server stream.
  for (const char* sys : {"tern-direct", "tern-adaptive"}) {
    std::string s = sys;
    out.push_back({s + " stream 16 B msgs/s vs gRPC", ratio(t("stream16", sys), t("stream16", "grpc")), 10.0});
    out.push_back({s + " stream 64 KiB MB/s vs raw", mb_ratio(t("stream64k", sys), t("stream64k", "raw")), 0.7});
  }
  // gRPC wire (issue #16): Tern's side against gRPC C++'s own, same load.
  for (const char* sc : {"gw1", "gw64"}) {
    std::string s = sc;
    out.push_back({s + " Tern provider (grpc-to-tern) QPS vs gRPC server", ratio(t(sc, "grpc-to-tern"), t(sc, "grpc")),
                   1.0});
    out.push_back({s + " Tern provider server CPU/call vs gRPC server",
                   cpu_ratio(t(sc, "grpc-to-tern"), t(sc, "grpc"), true), 0.5, false});
    out.push_back({s + " Tern consumer (tern-to-grpc) QPS vs gRPC client", ratio(t(sc, "tern-to-grpc"), t(sc, "grpc")),
                   1.0});
    out.push_back({s + " Tern consumer client CPU/call vs gRPC client",
                   cpu_ratio(t(sc, "tern-to-grpc"), t(sc, "grpc"), false), 0.5, false});
  }
  return out;
}

std::string check(double v, double goal, bool higher_better = true) {
  if (std::isnan(v)) return "n/a";
  return (higher_better ? v >= goal : v <= goal) ? "met" : "MISSED";
}

std::string table_text(const std::vector<std::string>& h, const std::vector<Row>& rs, bool markdown,
                       bool group = false) {
  std::vector<std::size_t> w(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) w[i] = h[i].size();
  for (auto& r : rs)
    for (std::size_t i = 0; i < r.cells.size(); ++i) w[i] = std::max(w[i], r.cells[i].size());
  std::ostringstream os;
  auto line = [&](const std::vector<std::string>& c) {
    if (markdown) os << "|";
    for (std::size_t i = 0; i < c.size(); ++i) {
      std::string cell = c[i];
      bool left = i < 2;
      std::string pad(w[i] - cell.size(), ' ');
      os << (markdown ? " " : (i ? "  " : "")) << (left ? cell + pad : pad + cell) << (markdown ? " |" : "");
    }
    os << "\n";
  };
  line(h);
  if (markdown) {
    os << "|";
    for (std::size_t i = 0; i < h.size(); ++i) os << (i < 2 ? ":" : "") << std::string(w[i], '-') << (i < 2 ? "" : ":") << "|";
    os << "\n";
  } else {
    std::size_t total = 0;
    for (auto x : w) total += x + 2;
    os << std::string(total, '-') << "\n";
  }
  std::string last;
  for (auto& r : rs) {
    if (group && !markdown && !last.empty() && r.cells[0] != last) os << "\n";
    last = r.cells[0];
    line(r.cells);
  }
  return os.str();
}

std::vector<Row> target_rows(const Report& r) {
  std::vector<Row> out;
  for (auto& t : targets(r))
    out.push_back({{t.what, ratio_str(t.value), fmt(t.higher_better ? ">= %.2fx" : "<= %.2fx", t.goal),
                    check(t.value, t.goal, t.higher_better)}});
  double prov = micro_counter(r.micro, "BM_EchoAllocations/direct", "provider_allocs");
  double cons = micro_counter(r.micro, "BM_EchoAllocations/direct", "consumer_allocs");
  out.push_back({{"heap allocations per call, provider hot path (direct)", std::isnan(prov) ? "n/a" : fmt("%.2f", prov),
                  "<= 2", check(prov, 2, false)}});
  out.push_back({{"heap allocations per call, consumer (sync call)", std::isnan(cons) ? "n/a" : fmt("%.2f", cons), "-", "info"}});
  return out;
}

}  // namespace

std::string format_result_line(const Result& r) {
  std::ostringstream os;
  os.precision(10);
  os << "RESULT " << r.system << " " << r.scenario << " " << r.qps << " " << r.mbps << " " << r.p50 << " " << r.p99
     << " " << r.p999 << " " << r.cpu_per_100k << " " << r.cpu_client << " " << r.cpu_server << " "
     << r.server_hwm_kb << " " << r.idle_conn_kb << " " << r.errors;
  return os.str();
}

bool parse_result_line(const std::string& line, Result* out) {
  std::istringstream in(line);
  std::string tag;
  in >> tag;
  if (tag != "RESULT") return false;
  Result r;
  in >> r.system >> r.scenario >> r.qps >> r.mbps >> r.p50 >> r.p99 >> r.p999 >> r.cpu_per_100k >> r.cpu_client >>
      r.cpu_server >> r.server_hwm_kb >> r.idle_conn_kb >> r.errors;
  if (!in) return false;
  *out = r;
  return true;
}

Result median_of(const std::vector<Result>& rs) {
  Result m = rs.front();
  auto med = [&](std::function<double&(Result&)> f) {
    std::vector<double> v;
    for (auto r : rs) v.push_back(f(r));
    std::sort(v.begin(), v.end());
    double x = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    f(m) = x;
  };
  med([](Result& r) -> double& { return r.qps; });
  med([](Result& r) -> double& { return r.mbps; });
  med([](Result& r) -> double& { return r.p50; });
  med([](Result& r) -> double& { return r.p99; });
  med([](Result& r) -> double& { return r.p999; });
  med([](Result& r) -> double& { return r.cpu_per_100k; });
  med([](Result& r) -> double& { return r.cpu_client; });
  med([](Result& r) -> double& { return r.cpu_server; });
  med([](Result& r) -> double& { return r.server_hwm_kb; });
  med([](Result& r) -> double& { return r.idle_conn_kb; });
  double errors = 0;
  for (auto& r : rs) errors += r.errors;
  m.errors = errors;
  return m;
}

std::string render_terminal(const Report& r) {
  std::ostringstream os;
  os << "\nLoopback echo benchmark - medians of " << r.rounds << " interleaved rounds (" << r.duration_ms
     << " ms measured after " << r.warmup_ms << " ms warm-up per run)\n"
     << r.machine << "\n\n";
  os << table_text(header(), rows(r), false, true) << "\n";
  if (auto sr = stream_rows(r); !sr.empty()) os << "One server stream\n" << table_text(stream_header(), sr, false, true) << "\n";
  if (auto wr = wire_rows(r); !wr.empty()) os << "gRPC wire\n" << table_text(wire_header(), wr, false, true) << "\n";
  os << table_text({"target (same-run ratio)", "now", "goal", "status"}, target_rows(r), false) << "\n";
  os << "loopback runtime " << fmt("%.0f", r.runtime_s) << " s\n";
  return os.str();
}

std::string render_markdown(const Report& r) {
  std::ostringstream os;
  os << "# Benchmarks\n\n"
     << "Generated by `make bench` (`scripts/bench.sh`); do not edit the numbers by hand - rerun it.\n\n"
     << "**Machine:** " << r.machine << ".  \n"
     << "**Commands:** `" << (r.command.empty() ? "make bench" : r.command) << "`  \n"
     << "**Method:** medians of " << r.rounds << " interleaved rounds (every scenario runs raw, gRPC, "
     << "Tern direct, Tern adaptive (the default dispatcher), Tern all, then the next scenario; the whole sequence repeats), " << r.duration_ms
     << " ms measured after " << r.warmup_ms << " ms of warm-up per run; client and server are separate "
     << "processes, a fresh server per run; nothing pinned. Loopback part took " << fmt("%.0f", r.runtime_s)
     << " s.\n\n"
     << "![QPS and p99 per system and scenario](benchmarks.svg)\n\n"
     << "## Results\n\n"
     << "`calls/s` counts completed echo calls; `MB/s` is payload bytes per second in one direction; latencies are "
     << "per call, issue to completion, on the client; `CPU s/100k` is client + server CPU time (all threads) per "
     << "100,000 calls; `srv peak RSS` is the server's VmHWM; `idle KB/conn` is the server's RSS growth per "
     << "open idle connection (after one call on each); `vs raw` / `vs gRPC` are Tern's calls/s over the raw "
     << "ceiling's / gRPC's in the same scenario and run.\n\n"
     << table_text(header(), rows(r), true) << "\n";
  if (auto sr = stream_rows(r); !sr.empty())
    os << "### One server stream (issue #15)\n\n"
       << "`msgs/s` counts messages the consumer received on one server stream; `MB/s` is payload bytes per second; "
       << "CPU is per message received; `MB/s vs raw` and `msgs/s vs gRPC` are same-run ratios. See the notes, "
       << "\"Streaming benchmark\".\n\n"
       << table_text(stream_header(), sr, true) << "\n";
  if (auto wr = wire_rows(r); !wr.empty())
    os << "### gRPC wire (issue #16)\n\n"
       << "Unary 16 B echo on the gRPC wire (h2c). The measured side is the server for `grpc-to-tern` (against "
       << "`grpc`'s server CPU) and the client for `tern-to-grpc` (against `grpc`'s client CPU); CPU is process CPU "
       << "time (all threads) per call. See the notes, \"gRPC wire benchmark\".\n\n"
       << table_text(wire_header(), wr, true) << "\n";
  os << "## Targets\n\n"
     << table_text({"target (same-run ratio)", "now", "goal", "status"}, target_rows(r), true) << "\n";
  if (!r.micro.empty()) os << "## Micro-benchmarks (Google Benchmark, bench/micro/)\n\n```\n" << r.micro << "```\n\n";
  if (!r.notes.empty()) os << r.notes;
  return os.str();
}

std::string render_svg(const Report& r) {
  const std::vector<std::string> systems = {"raw", "grpc", "tern-direct", "tern-adaptive", "tern-all"};
  const std::vector<std::string> colors = {"#7f7f7f", "#4c72b0", "#dd8452", "#55a868", "#c44e52"};
  std::vector<std::string> scen;
  for (auto& x : r.results)
    if (kind_of(x.scenario) == Kind::kEcho && std::find(scen.begin(), scen.end(), x.scenario) == scen.end())
      scen.push_back(x.scenario);
  const int group_w = 180, bar_w = 26, chart_h = 170, left = 20, top = 70;
  const int row_h = chart_h + 90;
  int width = left * 2 + group_w * static_cast<int>(scen.size());
  int height = top + row_h * 2 + 10;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << left << "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Tern vs gRPC vs raw TCP, "
        "loopback echo (medians of "
     << r.rounds << " rounds; each scenario has its own scale)</text>\n";
  for (std::size_t i = 0; i < systems.size(); ++i) {
    int x = left + static_cast<int>(i) * 130;
    os << "<rect x=\"" << x << "\" y=\"34\" width=\"12\" height=\"12\" fill=\"" << colors[i] << "\"/><text x=\""
       << x + 16 << "\" y=\"44\">" << systems[i] << "</text>\n";
  }
  auto panel = [&](int row, const char* title, std::function<double(const Result&)> value, bool lower_better) {
    int y0 = top + row * row_h;
    os << "<text x=\"" << left << "\" y=\"" << y0 + 12 << "\" font-size=\"13\" font-weight=\"bold\">" << title
       << (lower_better ? " (lower is better)" : " (higher is better)") << "</text>\n";
    int base = y0 + 30 + chart_h;
    for (std::size_t g = 0; g < scen.size(); ++g) {
      int gx = left + static_cast<int>(g) * group_w;
      double mx = 0;
      for (auto& s : systems)
        if (auto* x = find(r, scen[g], s)) mx = std::max(mx, value(*x));
      for (std::size_t i = 0; i < systems.size(); ++i) {
        const Result* x = find(r, scen[g], systems[i]);
        if (!x || mx <= 0) continue;
        double v = value(*x);
        int h = static_cast<int>(v / mx * (chart_h - 14));
        int bx = gx + 10 + static_cast<int>(i) * (bar_w + 4);
        os << "<rect x=\"" << bx << "\" y=\"" << base - h << "\" width=\"" << bar_w << "\" height=\"" << h
           << "\" fill=\"" << colors[i] << "\"><title>" << systems[i] << " " << scen[g] << ": " << fmt("%.1f", v)
           << "</title></rect>\n"
           << "<text x=\"" << bx + bar_w / 2 << "\" y=\"" << base - h - 3
           << "\" font-size=\"9\" text-anchor=\"middle\">" << human(v) << "</text>\n";
      }
      os << "<line x1=\"" << gx + 6 << "\" y1=\"" << base << "\" x2=\"" << gx + group_w - 8 << "\" y2=\"" << base
         << "\" stroke=\"black\"/>\n";
      const Spec* s = find_scenario(scen[g]);
      os << "<text x=\"" << gx + group_w / 2 << "\" y=\"" << base + 16 << "\" text-anchor=\"middle\">"
         << (s ? s->name : scen[g].c_str()) << "</text>\n";
      if (s)
        os << "<text x=\"" << gx + group_w / 2 << "\" y=\"" << base + 30 << "\" text-anchor=\"middle\" font-size=\"9\">"
           << s->title << "</text>\n";
    }
  };
  panel(0, "Calls per second", [](const Result& x) { return x.qps; }, false);
  panel(1, "p99 latency, microseconds", [](const Result& x) { return x.p99; }, true);
  os << "</svg>\n";
  return os.str();
}

}  // namespace bench
