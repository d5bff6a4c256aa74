// `tern describe`, `tern call` and `tern bench`: generic JSON invocation
// (tern/json_call.h; streams through tern/stream.h, JSON lines) against a service found through a registry or at one
// provider address, optionally over TLS (Target::tls, registry_options.tls)
// and with a token (TokenAuthClientFilter, so every request, reflection
// included, carries it).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "tern/auth.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/monitor/admin_server.h"
#include "tern/reflection.h"
#include "tern/stream.h"

namespace tern::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Session {
  std::unique_ptr<Client> client;
  std::shared_ptr<Reference> ref;
  std::string url;
};

std::string target_url(const Target& t) { return t.addr.empty() ? t.registry : "direct://" + t.addr; }

// `s`, with a hint when the provider wants a token the command did not send.
Status with_hint(const Status& s, const Target& t) {
  if (s.code() != StatusCode::kUnauthenticated) return s;
  const char* hint = t.token.empty() ? " (the provider wants a token: pass it with --token or TERN_TOKEN)"
                                     : " (check --token)";
  return Status(s.code(), s.message() + hint);
}

// A failed registry request as the CLI reports it: UNAVAILABLE names the
// registry URL (without repeating the client's own "registry unreachable: "),
// any other status (UNIMPLEMENTED: not a Tern registry) stays as it is.
Status registry_failure(const std::string& url, const Status& s) {
  if (s.code() != StatusCode::kUnavailable) return s;
  constexpr std::string_view kPrefix = "registry unreachable: ";
  std::string why = s.message();
  if (why.rfind(kPrefix, 0) == 0) why.erase(0, kPrefix.size());
  return Status(StatusCode::kUnavailable, "registry " + url + " unreachable: " + why);
}

// Why a registry has no provider for `service`: the registry is unreachable
// (UNAVAILABLE), the service is unknown (UNIMPLEMENTED), or it has none now.
Status explain_no_provider(Client& client, const std::string& url, const std::string& service) {
  auto reg = client.registry(url);
  if (!reg) return reg.status();
  auto names = (*reg)->list_services();
  if (!names) return registry_failure(url, names.status());
  if (std::find(names->begin(), names->end(), service) == names->end()) {
    std::string known;
    for (auto& n : *names) known += (known.empty() ? "" : ", ") + n;
    return Status(StatusCode::kUnimplemented, "service '" + service + "' is not registered in " + url +
                                                  (known.empty() ? " (no services)" : " (registered: " + known + ")"));
  }
  return Status(StatusCode::kUnavailable, "no provider of '" + service + "' is available right now");
}

Status open(const std::string& service, const Target& t, std::size_t io_threads, Session* out) {
  if (!t.addr.empty()) {
    if (auto hp = parse_host_port(t.addr); !hp || hp->port == 0) {
      return Status(StatusCode::kInvalidArgument, "--addr wants host:port, got '" + t.addr + "'");
    }
  }
  ClientOptions co;
  co.io_threads = io_threads;
  co.channel.tls = t.tls;
  co.registry = t.registry_options;
  if (!t.token.empty()) co.filters.push_back(std::make_shared<TokenAuthClientFilter>(t.token));
  // A TLS file that does not load is INVALID_ARGUMENT here, naming the file.
  auto client = Client::create(co);
  if (!client) return client.status();
  out->client = std::move(*client);
  out->url = target_url(t);
  ReferenceOptions ro;
  ro.timeout = t.timeout;
  ro.serialization = "json";
  ro.cluster = "failfast";
  ro.warmup = std::chrono::milliseconds(0);
  auto ref = out->client->reference(service, out->url, ro);
  if (!ref) return ref.status();
  out->ref = *ref;
  if (t.addr.empty()) {
    // A registry that cannot be reached, or is not a registry, fails now,
    // not after the timeout.
    if (auto reg = out->client->registry(out->url); reg) {
      auto listed = (*reg)->lookup(service);
      StatusCode code = listed ? StatusCode::kOk : listed.status().code();
      if (code == StatusCode::kUnavailable || code == StatusCode::kUnimplemented) {
        return registry_failure(out->url, listed.status());
      }
    }
  }
  if (!out->ref->wait_for_providers(t.timeout)) {
    if (!t.addr.empty()) return Status(StatusCode::kUnavailable, "no provider at " + t.addr);
    return explain_no_provider(*out->client, out->url, service);
  }
  return Status();
}

Status split_method(const std::string& qualified, std::string* service, std::string* method) {
  auto dot = qualified.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == qualified.size()) {
    return Status(StatusCode::kInvalidArgument, "expected <service>.<method>, got '" + qualified + "'");
  }
  *service = qualified.substr(0, dot);
  *method = qualified.substr(dot + 1);
  return Status();
}

Status check_json(const std::string& args) {
  try {
    auto parsed = nlohmann::json::parse(args);
    (void)parsed;
  } catch (const nlohmann::json::parse_error& e) {
    return Status(StatusCode::kInvalidArgument, std::string("malformed JSON arguments: ") + e.what());
  }
  return Status();
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

namespace {

// "int32", "array<string>", "map<string, int32>", "geo::Point", ... of a
// reflection type (grammar in tern/reflection.h).
std::string type_text(const nlohmann::json& t) {
  if (!t.is_object()) return "?";
  std::string kind = t.value("type", "?");
  if (kind == "array") return "array<" + type_text(t.value("items", nlohmann::json())) + ">";
  if (kind == "optional") return "optional<" + type_text(t.value("value", nlohmann::json())) + ">";
  if (kind == "map") {
    return "map<" + type_text(t.value("key", nlohmann::json())) + ", " + type_text(t.value("value", nlohmann::json())) +
           ">";
  }
  if (kind == "tuple") {
    std::string out = "tuple<";
    bool first = true;
    for (const auto& item : t.value("items", nlohmann::json::array())) {
      out += (first ? "" : ", ") + type_text(item);
      first = false;
    }
    return out + ">";
  }
  if (kind == "struct" || kind == "enum" || kind == "message") return t.value("name", "?");
  if (kind == "unknown") return t.value("cpp", "?");
  return kind;
}

// A protobuf field's type as a .proto file spells it.
std::string proto_field_text(const nlohmann::json& t) {
  std::string kind = t.is_object() ? t.value("type", "") : "";
  if (kind == "array") return "repeated " + type_text(t.value("items", nlohmann::json()));
  if (kind == "optional") return "optional " + type_text(t.value("value", nlohmann::json()));
  return type_text(t);
}

// The "stream" field of a method description: "server", "client", "bidi",
// or "" for a unary method (tern/reflection.h).
std::string stream_kind_of(const nlohmann::json& method) {
  if (!method.is_object() || !method.contains("stream") || !method["stream"].is_string()) return "";
  return method["stream"].get<std::string>();
}
bool client_streams(const std::string& kind) { return kind == "client" || kind == "bidi"; }
bool server_streams(const std::string& kind) { return kind == "server" || kind == "bidi"; }

// Methods, one a line: `name(args) -> result`; a stream method shows which
// side streams and its kind: `chat(stream string) -> stream string  [bidi streaming]`.
void print_description(const nlohmann::json& d) {
  const auto methods = d.value("methods", nlohmann::json::array());
  std::cout << "methods (" << methods.size() << "):\n";
  for (const auto& m : methods) {
    std::cout << "  " << m.value("name", "?");
    const std::string kind = stream_kind_of(m);
    if (!m.contains("args") || !m["args"].is_array()) {
      std::cout << "  (types not published)";
      if (!kind.empty()) std::cout << "  [" << kind << " streaming]";
      std::cout << "\n";
      continue;
    }
    std::string args;
    for (const auto& a : m["args"]) args += (args.empty() ? "" : ", ") + type_text(a);
    std::cout << "(" << (client_streams(kind) ? "stream " : "") << args << ") -> "
              << (server_streams(kind) ? "stream " : "") << type_text(m.value("result", nlohmann::json()));
    if (!kind.empty()) std::cout << "  [" << kind << " streaming]";
    std::cout << "\n";
  }
  const auto types = d.value("types", nlohmann::json::object());
  if (types.empty()) return;
  std::cout << "types:\n";
  for (const auto& [name, t] : types.items()) {
    std::string kind = t.value("kind", "?");
    if (kind == "struct") {
      std::cout << "  struct " << name << " {\n";
      for (const auto& f : t.value("fields", nlohmann::json::array())) {
        std::cout << "    " << f.value("name", "?") << ": " << type_text(f.value("type", nlohmann::json())) << "\n";
      }
      std::cout << "  }\n";
    } else if (kind == "message") {
      std::cout << "  message " << name << " {\n";
      for (const auto& f : t.value("fields", nlohmann::json::array())) {
        std::cout << "    " << proto_field_text(f.value("type", nlohmann::json())) << " " << f.value("name", "?")
                  << " = " << f.value("number", 0) << ";";
        if (f.contains("oneof")) std::cout << "  // oneof " << f.value("oneof", "");
        std::cout << "\n";
      }
      std::cout << "  }\n";
    } else if (kind == "enum" && t.contains("values")) {
      std::cout << "  enum " << name << " {";
      for (const auto& v : t["values"]) std::cout << " " << v.value("name", "?") << " = " << v.value("number", 0) << ";";
      std::cout << " }\n";
    } else if (kind == "enum") {
      std::cout << "  enum " << name << " : " << type_text(t.value("underlying", nlohmann::json())) << "\n";
    }
  }
}

// The service's description from tern.Reflection at provider `addr`.
// UNIMPLEMENTED "unknown service 'tern.Reflection'": an older provider, or
// reflection disabled; UNIMPLEMENTED "unknown service 'S'": S is not there.
Result<nlohmann::json> fetch_description(Client& client, const std::string& addr, const std::string& service,
                                         std::chrono::milliseconds timeout) {
  ReferenceOptions ro;
  ro.timeout = timeout;
  ro.serialization = "json";
  ro.cluster = "failfast";
  ro.warmup = std::chrono::milliseconds(0);
  auto ref = client.reference(std::string(kReflectionService), "direct://" + addr, ro);
  if (!ref) return ref.status();
  auto r = call_json(**ref, "describe", nlohmann::json::array({service}).dump(), timeout);
  if (!r) return r.status();
  try {
    return nlohmann::json::parse(*r);
  } catch (const nlohmann::json::exception& e) {
    return Status(StatusCode::kInternal, std::string("malformed reflection answer: ") + e.what());
  }
}

bool reflection_missing(const Status& s) {
  return s.code() == StatusCode::kUnimplemented &&
         s.message() == "unknown service '" + std::string(kReflectionService) + "'";
}

void print_provider(const Url& p) {
  std::cout << "  " << p.address() << "  weight=" << p.int_param("weight", 100);
  if (p.has_param("version")) std::cout << "  version=" << p.param("version");
  if (p.has_param("group")) std::cout << "  group=" << p.param("group");
  if (p.has_param(monitor::kAdminParameter)) std::cout << "  admin=" << p.param(monitor::kAdminParameter);
  std::cout << "\n";
}

}  // namespace

int run_describe(const std::string& service, const Target& target) {
  Session session;
  if (Status s = open(service, target, 1, &session); !s.is_ok()) return fail(s);
  if (!target.addr.empty()) {
    auto d = fetch_description(*session.client, target.addr, service, target.timeout);
    if (d) {
      std::cout << "service " << service << " at " << target.addr << "\n";
      print_description(*d);
      return 0;
    }
    if (!reflection_missing(d.status())) return fail(with_hint(d.status(), target));
    // Fallback (older provider, or reflection disabled). No registry: the
    // provider URL (and its method list) is not known here. Probe the
    // service: an unknown method proves it exists, an unknown service does not.
    auto r = call_json(*session.ref, "$describe", "[]", target.timeout);
    if (!r && r.status().message().rfind("unknown service", 0) == 0) return fail(r.status());
    if (!r && r.status().code() != StatusCode::kUnimplemented) return fail(with_hint(r.status(), target));
    std::cout << "service " << service << " at " << target.addr << "\n"
              << "methods: not published by this provider (no " << kReflectionService
              << " service) nor without a registry (the provider URL's `methods` parameter); use --registry\n";
    return 0;
  }
  auto providers = session.ref->providers();
  // Ask the providers' reflection service, the first that answers. The
  // method names of the provider URLs stand in only for providers without
  // reflection; any other refusal (UNAUTHENTICATED without --token, a failed
  // TLS handshake, ...) of every provider is the command's error.
  std::optional<nlohmann::json> description;
  bool reflection_absent = false;
  Status first_error;
  for (auto& p : providers) {
    auto d = fetch_description(*session.client, p.address(), service, target.timeout);
    if (d) {
      description = std::move(*d);
      break;
    }
    if (reflection_missing(d.status())) {
      reflection_absent = true;
    } else if (first_error.is_ok()) {
      first_error = d.status();
    }
  }
  if (!description && !reflection_absent && !first_error.is_ok()) return fail(with_hint(first_error, target));
  std::cout << "service " << service << " (" << providers_text(providers.size()) << ")\n";
  if (description) {
    print_description(*description);
  } else {
    // Fallback: the method names the provider URLs announce.
    std::set<std::string> methods;
    for (auto& p : providers) {
      for (auto& m : split_list(p.param("methods"))) methods.insert(m);
    }
    std::cout << "methods (" << methods.size() << "; argument and result types are not published):\n";
    for (auto& m : methods) std::cout << "  " << m << "\n";
  }
  std::cout << "providers:\n";
  for (auto& p : providers) print_provider(p);
  return 0;
}

namespace {

// A unary request for a stream method is refused with this (src/server/stream_methods.cc).
bool is_stream_method_refusal(const Status& s) {
  return s.code() == StatusCode::kUnimplemented && s.message().find("is a stream method") != std::string::npos;
}

// The kind of stream method `method` ("server", "client" or "bidi") as the
// providers' tern.Reflection describes it; "bidi" (the general case) when no
// provider publishes it.
std::string stream_kind(Session& session, const Target& target, const std::string& service, const std::string& method) {
  std::vector<std::string> addrs;
  if (!target.addr.empty()) {
    addrs.push_back(target.addr);
  } else {
    for (auto& p : session.ref->providers()) addrs.push_back(p.address());
  }
  for (const auto& a : addrs) {
    auto d = fetch_description(*session.client, a, service, target.timeout);
    if (!d) continue;
    for (const auto& m : d->value("methods", nlohmann::json::array())) {
      if (m.value("name", "") != method) continue;
      std::string kind = stream_kind_of(m);
      return kind.empty() ? "bidi" : kind;
    }
  }
  return "bidi";
}

// One message as one output line: the provider's JSON text, re-serialized
// compactly if it spans lines.
std::string one_line(const std::string& json) {
  if (json.find('\n') == std::string::npos) return json;
  try {
    return nlohmann::json::parse(json).dump();
  } catch (const nlohmann::json::exception&) {
    std::string out = json;
    std::replace(out.begin(), out.end(), '\n', ' ');
    return out;
  }
}

// `tern call` on a stream method. Messages sent: `args` when given, then (for
// client and bidi streams, or a server stream without `args`) each non-blank
// line of stdin, one JSON value a line, until EOF; then the half-close.
// Each message the provider sends is printed as one JSON line as it arrives.
// The exit code is the stream's final status (0 for OK); a stdin line that is
// not JSON cancels the stream with INVALID_ARGUMENT (exit 3) naming the line.
int run_stream_call(Reference& ref, const std::string& method, const std::string& kind,
                    const std::optional<std::string>& args, const Target& target) {
  CallOptions co;
  // A stream's deadline covers the whole stream: --timeout when given, else a day.
  co.timeout = target.timeout_given ? target.timeout : std::chrono::milliseconds(86400000);
  auto opened = open_stream(ref, method, &co);
  if (!opened) return fail(with_hint(opened.status(), target));
  std::shared_ptr<RawStream> stream = std::move(*opened);

  // The reader prints replies as they arrive, while this thread writes.
  std::promise<Status> reads_ended;
  std::thread reader([&stream, &reads_ended] {
    while (true) {
      std::promise<std::pair<std::optional<std::string>, Status>> p;
      auto f = p.get_future();
      stream->read([&p](std::optional<std::string> m, Status st) { p.set_value({std::move(m), std::move(st)}); });
      auto [m, st] = f.get();
      if (!m) {
        reads_ended.set_value(std::move(st));
        return;
      }
      std::cout << one_line(*m) << std::endl;  // flushed: each message as it arrives
    }
  });

  auto send = [&stream](const std::string& json) {
    std::promise<Status> p;
    auto f = p.get_future();
    stream->write(json, [&p](Status st) { p.set_value(std::move(st)); });
    return f.get();
  };
  Status local;  // a failure here, not the provider's
  bool writing = true;
  if (args) writing = send(*args).is_ok();
  if (writing && (kind != "server" || !args)) {
    std::string line;
    for (int n = 1; writing && std::getline(std::cin, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (Status s = check_json(line); !s.is_ok()) {
        local = Status(StatusCode::kInvalidArgument, "stdin line " + std::to_string(n) + ": " + s.message());
        stream->cancel(local);
        break;
      }
      writing = send(line).is_ok();  // a failed write: the stream ended; its status says why
    }
  }
  if (local.is_ok() && writing) {
    std::promise<Status> p;
    auto f = p.get_future();
    stream->writes_done([&p](Status st) { p.set_value(std::move(st)); });
    (void)f.get();
  }
  reader.join();
  Status ended = reads_ended.get_future().get();
  std::promise<Status> fin;
  auto fin_f = fin.get_future();
  stream->await_status([&fin](Status st) { fin.set_value(std::move(st)); });
  Status final = fin_f.get();
  if (!local.is_ok()) return fail(local);
  if (!final.is_ok()) return fail(with_hint(final, target));
  if (!ended.is_ok()) return fail(with_hint(ended, target));
  return 0;
}

}  // namespace

int run_call(const std::string& qualified, const std::optional<std::string>& json_args, const Target& target) {
  std::string service, method;
  if (Status s = split_method(qualified, &service, &method); !s.is_ok()) return fail(s);
  if (json_args) {
    if (Status s = check_json(*json_args); !s.is_ok()) return fail(s);
  }
  Session session;
  if (Status s = open(service, target, 1, &session); !s.is_ok()) return fail(s);
  // Unary first (a stream method refuses it without running anything), so a
  // unary call costs what it always did.
  auto r = call_json(*session.ref, method, json_args ? *json_args : "[]", target.timeout);
  if (r) {
    std::cout << *r << std::endl;
    return 0;
  }
  if (!is_stream_method_refusal(r.status())) return fail(with_hint(r.status(), target));
  return run_stream_call(*session.ref, method, stream_kind(session, target, service, method), json_args, target);
}

int run_bench(const std::string& qualified, const std::string& json_args, const Target& target,
              const BenchOptions& options) {
  std::string service, method;
  if (Status s = split_method(qualified, &service, &method); !s.is_ok()) return fail(s);
  if (Status s = check_json(json_args); !s.is_ok()) return fail(s);
  Session session;
  if (Status s = open(service, target, 1, &session); !s.is_ok()) return fail(s);
  // One call first: a wrong method or arguments fail here, with their status.
  if (auto r = call_json(*session.ref, method, json_args, target.timeout); !r) {
    return fail(with_hint(r.status(), target));
  }

  install_stop_signals();
  std::atomic<std::size_t> issued{0}, completed{0}, errors{0};
  std::mutex error_mu;
  std::map<StatusCode, std::size_t> errors_by_code;
  Status first_error;
  std::vector<std::vector<std::int64_t>> latencies(options.concurrency);
  const auto start = Clock::now();
  const auto end = start + options.duration;
  auto worker = [&](std::size_t index) {
    auto& mine = latencies[index];
    Reference& ref = *session.ref;
    struct Wait {
      std::atomic<std::uint32_t> done{0};
      Status status;
    };
    while (!g_stop) {
      if (options.count > 0) {
        if (issued.fetch_add(1) >= options.count) break;
      } else if (Clock::now() >= end) {
        break;
      }
      auto w = std::make_shared<Wait>();
      auto t0 = Clock::now();
      // With the client's filters (the --token attachment), as call_json.
      protocol::FrameBuilder b(protocol::FrameType::kRequest, 0);
      if (Status s = ref.new_request(method, /*oneway=*/false, /*options=*/nullptr, &b); !s.is_ok()) {
        w->status = std::move(s);
      } else {
        b.header().serialization = serialization::JsonCodec::kId;
        b.append_body(json_args);
        ref.invoke(method, b.finish(), target.timeout, [w](CallResult&& r) {
          w->status = std::move(r.status);
          w->done.store(1, std::memory_order_release);
          w->done.notify_one();
        });
        w->done.wait(0, std::memory_order_acquire);
      }
      auto dt = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
      if (w->status.is_ok()) {
        mine.push_back(dt);
      } else {
        errors.fetch_add(1);
        std::lock_guard lock(error_mu);
        if (first_error.is_ok()) first_error = w->status;
        ++errors_by_code[w->status.code()];
      }
      completed.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < options.concurrency; ++i) threads.emplace_back(worker, i);

  std::atomic<bool> finished{false};
  std::thread progress([&] {
    if (!options.progress) return;
    while (!finished.load()) {
      double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      double frac = options.count > 0 ? static_cast<double>(completed.load()) / static_cast<double>(options.count)
                                      : elapsed / std::chrono::duration<double>(options.duration).count();
      frac = std::clamp(frac, 0.0, 1.0);
      int filled = static_cast<int>(frac * 30);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(30, '.');
      std::fprintf(stderr, "\r[%s] %3.0f%%  %zu calls  %.0f calls/s  %zu errors ", bar.c_str(), frac * 100,
                   completed.load(), elapsed > 0 ? static_cast<double>(completed.load()) / elapsed : 0.0,
                   errors.load());
      std::fflush(stderr);
      for (int i = 0; i < 10 && !finished.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  finished = true;
  progress.join();
  if (options.progress) {
    std::fprintf(stderr, "\r[%s] 100%%  %zu calls  %.0f calls/s  %zu errors \n", std::string(30, '#').c_str(),
                 completed.load(), elapsed > 0 ? static_cast<double>(completed.load()) / elapsed : 0.0, errors.load());
  }

  std::vector<std::int64_t> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto ms = [](std::int64_t ns) { return static_cast<double>(ns) / 1e6; };
  auto pct = [&](double q) {
    if (all.empty()) return 0.0;
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(all.size())));
    return ms(all[std::clamp<std::size_t>(rank, 1, all.size()) - 1]);
  };
  double mean = 0;
  for (auto v : all) mean += ms(v);
  if (!all.empty()) mean /= static_cast<double>(all.size());

  std::printf("%s.%s: %zu calls in %.3f s, concurrency %zu\n", service.c_str(), method.c_str(), completed.load(), elapsed,
              options.concurrency);
  std::printf("  ok          %zu\n  errors      %zu\n  throughput  %.1f calls/s\n", all.size(), errors.load(),
              elapsed > 0 ? static_cast<double>(completed.load()) / elapsed : 0.0);
  std::printf("latency (ms, successful calls)\n");
  std::printf("  min    %10.3f\n", all.empty() ? 0.0 : ms(all.front()));
  std::printf("  p50    %10.3f\n  p90    %10.3f\n  p99    %10.3f\n  p99.9  %10.3f\n", pct(0.50), pct(0.90), pct(0.99),
              pct(0.999));
  std::printf("  max    %10.3f\n  mean   %10.3f\n", all.empty() ? 0.0 : ms(all.back()), mean);
  std::fflush(stdout);
  if (errors.load() > 0) {
    for (auto& [code, n] : errors_by_code) std::printf("errors %s: %zu\n", std::string(status_code_name(code)).c_str(), n);
    std::fflush(stdout);
    return fail(with_hint(first_error, target));
  }
  return 0;
}

}  // namespace tern::cli
