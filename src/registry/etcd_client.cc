// etcd_client.cc - libcurl transport for etcd's JSON gateway; see etcd_client.h.
#include "registry/etcd_client.h"

#include <curl/curl.h>

#include <array>
#include <memory>
#include <mutex>
#include <utility>

namespace tern::etcd {
namespace {

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// How often a request in flight looks at the stop flag.
constexpr int kStopPollMs = 50;

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct MultiDeleter {
  void operator()(CURLM* h) const { curl_multi_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Maps a gateway error object ({"code":5,"message":"..."} or, inside a
// stream, {"error":{"grpc_code":5,"message":"..."}}) to a Status.
Status gateway_error(const nlohmann::json& answer, long http_code) {
  int code = static_cast<int>(StatusCode::kUnknown);
  std::string message = "etcd answered HTTP " + std::to_string(http_code);
  const nlohmann::json* err = &answer;
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) err = &answer["error"];
  if (err->is_object()) {
    if (err->contains("code") && (*err)["code"].is_number_integer()) code = (*err)["code"].get<int>();
    if (err->contains("grpc_code") && (*err)["grpc_code"].is_number_integer()) code = (*err)["grpc_code"].get<int>();
    if (err->contains("message") && (*err)["message"].is_string()) message = (*err)["message"].get<std::string>();
  }
  if (code <= 0 || code > static_cast<int>(StatusCode::kUnauthenticated)) code = static_cast<int>(StatusCode::kUnknown);
  return Status(static_cast<StatusCode>(code), "etcd: " + message);
}

}  // namespace

std::string base64_encode(std::string_view raw) {
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8) |
                       static_cast<unsigned char>(raw[i + 2]);
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
  }
  if (i < raw.size()) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    if (i + 1 < raw.size()) v |= static_cast<unsigned char>(raw[i + 1]) << 8;
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += i + 1 < raw.size() ? kBase64Alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size() / 4 * 3);
  unsigned acc = 0;
  int bits = 0;
  for (char c : encoded) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=') break;
    else return Status(StatusCode::kInvalidArgument, "bad base64 character");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xFF) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end means "to the end of the keyspace"
}

std::int64_t json_int(const nlohmann::json& object, const char* field, std::int64_t fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(field);
  if (it == object.end()) return fallback;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return fallback;
    }
  }
  return fallback;
}

// State of one POST: the collected body (unary) or the line splitter (stream).
struct Client::Attempt {
  const std::function<bool(const nlohmann::json&)>* on_message = nullptr;  // null = unary
  std::string buffer;
  bool received = false;          // any byte of the answer arrived
  bool stopped_by_callback = false;
  long http_code = 0;

  static size_t on_data(char* data, size_t size, size_t count, void* self) {
    auto* a = static_cast<Attempt*>(self);
    const size_t n = size * count;
    a->received = true;
    a->buffer.append(data, n);
    if (a->on_message == nullptr) return n;
    // The gateway writes one JSON object per line.
    std::size_t start = 0;
    for (std::size_t nl; (nl = a->buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(a->buffer.data() + start, nl - start);
      if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
      auto msg = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (msg.is_discarded() || !(*a->on_message)(msg)) {
        a->stopped_by_callback = !msg.is_discarded();
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
      }
    }
    a->buffer.erase(0, start);
    return n;
  }
};

Client::Client(std::vector<HostPort> endpoints, std::chrono::milliseconds request_timeout,
               const std::atomic<bool>* stop)
    : endpoints_(std::move(endpoints)), request_timeout_(request_timeout), stop_(stop) {
  ensure_curl_initialized();
}

Status Client::perform(const HostPort& endpoint, std::string_view path, const std::string& body,
                       std::chrono::milliseconds timeout, bool abortable, Attempt& attempt) {
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
  if (!easy || !multi) return Status(StatusCode::kInternal, "curl initialization failed");
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  headers.reset(curl_slist_append(headers.release(), "Expect:"));

  const std::string url = "http://" + endpoint.to_string() + "/v3/" + std::string(path);
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Attempt::on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &attempt);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // etcd is reached directly, whatever http_proxy says
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request_timeout_.count()));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 5L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 2L);
  if (timeout.count() > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));

  curl_multi_add_handle(multi.get(), h);
  bool aborted = false;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK || running == 0) break;
    if (abortable && stop_ != nullptr && stop_->load(std::memory_order_acquire)) {
      aborted = true;
      break;
    }
    curl_multi_poll(multi.get(), nullptr, 0, kStopPollMs, nullptr);
  }
  CURLcode result = CURLE_OK;
  if (!aborted) {
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi.get(), &queued)) {
      if (m->msg == CURLMSG_DONE) result = m->data.result;
    }
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &attempt.http_code);
  curl_multi_remove_handle(multi.get(), h);

  if (aborted) return Status(StatusCode::kCancelled, "etcd request aborted: registry is shutting down");
  if (attempt.stopped_by_callback) return Status();
  if (result != CURLE_OK) {
    return Status(StatusCode::kUnavailable,
                  "etcd " + endpoint.to_string() + ": " + curl_easy_strerror(result), attempt.received);
  }
  return Status();
}

std::vector<std::size_t> Client::endpoint_order() const {
  const std::size_t first = preferred_.load(std::memory_order_relaxed);
  std::vector<std::size_t> order;
  order.reserve(endpoints_.size());
  for (std::size_t i = 0; i < endpoints_.size(); ++i) order.push_back((first + i) % endpoints_.size());
  return order;
}

Result<nlohmann::json> Client::call(std::string_view path, const nlohmann::json& request,
                                    std::chrono::milliseconds timeout, bool abortable) {
  if (timeout.count() <= 0) timeout = request_timeout_;
  const std::string body = request.dump();
  Status last(StatusCode::kUnavailable, "etcd: no endpoint");
  for (std::size_t index : endpoint_order()) {
    Attempt attempt;
    Status st = perform(endpoints_[index], path, body, timeout, abortable, attempt);
    if (st.code() == StatusCode::kCancelled) return st;
    if (!st.is_ok()) {
      last = std::move(st);
      if (last.may_have_executed()) break;  // the request reached etcd; do not repeat it elsewhere
      continue;
    }
    preferred_.store(index, std::memory_order_relaxed);
    auto answer = nlohmann::json::parse(attempt.buffer, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded() || !answer.is_object()) {
      return Status(StatusCode::kUnavailable, "etcd: malformed answer (HTTP " + std::to_string(attempt.http_code) + ")");
    }
    if (attempt.http_code != 200) return gateway_error(answer, attempt.http_code);
    return answer;
  }
  return last;
}

Status Client::stream(std::string_view path, const nlohmann::json& request,
                      const std::function<bool(const nlohmann::json&)>& on_message) {
  const std::string body = request.dump();
  Status last(StatusCode::kUnavailable, "etcd: no endpoint");
  for (std::size_t index : endpoint_order()) {
    Attempt attempt;
    attempt.on_message = &on_message;
    Status st = perform(endpoints_[index], path, body, std::chrono::milliseconds{0}, true, attempt);
    if (st.code() == StatusCode::kCancelled) return st;
    if (attempt.received) {
      // The stream was open: whatever ended it, the caller resumes from
      // what it saw, possibly on another endpoint next time.
      preferred_.store(index, std::memory_order_relaxed);
      if (st.is_ok() && !attempt.stopped_by_callback) {
        if (attempt.http_code != 200) {
          auto answer = nlohmann::json::parse(attempt.buffer, nullptr, false);
          return gateway_error(answer, attempt.http_code);
        }
        return Status(StatusCode::kUnavailable, "etcd closed the stream");
      }
      return st;
    }
    last = st.is_ok() ? Status(StatusCode::kUnavailable, "etcd closed the stream without an answer") : std::move(st);
  }
  return last;
}

}  // namespace tern::etcd
