// grpc.health.v1.Health fed by the provider's serving state
// (server/grpc_health.h, docs/grpc.md).
#include "server/grpc_health.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <utility>

#include "server/grpc_builtin_protos.h"

namespace tern::rpc {
namespace {

constexpr std::string_view kRequestType = "grpc.health.v1.HealthCheckRequest";
constexpr std::string_view kResponseType = "grpc.health.v1.HealthCheckResponse";

Result<std::string> parse_service(std::uint8_t serialization, std::string_view bytes) {
  auto req = new_builtin_message(kRequestType);
  if (!req) return Status(StatusCode::kInternal, "grpc.health.v1 descriptors missing");
  if (Status s = parse_builtin(kGrpcHealthService, serialization, bytes, *req); !s.is_ok()) return s;
  const auto* field = req->GetDescriptor()->FindFieldByName("service");
  return req->GetReflection()->GetString(*req, field);
}

std::string encode_response(GrpcHealth::ServingStatus status) {
  auto resp = new_builtin_message(kResponseType);
  if (!resp) return {};
  const auto* field = resp->GetDescriptor()->FindFieldByName("status");
  resp->GetReflection()->SetEnumValue(resp.get(), field, status);
  return resp->SerializeAsString();
}

// One shot shared by the two ways a wait ends (a change, the stream's end).
struct Once {
  std::atomic<bool> fired{false};
  detail::UniqueFunction<void(Status)> fn;
  void fire(Status st) {
    if (!fired.exchange(true, std::memory_order_acq_rel)) fn(std::move(st));
  }
};

// co_await: OK once the serving state changed after `seen`, or the status
// that ended the stream (the consumer cancelled, the deadline passed).
auto changed_or_ended(std::shared_ptr<GrpcHealth> health, std::shared_ptr<RawStream> raw, std::uint64_t seen) {
  return detail::make_awaiter<Status>([health = std::move(health), raw = std::move(raw), seen](auto cb) {
    auto once = std::make_shared<Once>();
    once->fn = std::move(cb);
    // A change is heard on the thread of stop_serving(): resume where the stream's completions run.
    std::uint64_t id = health->watch(seen, [once, raw] { raw->defer([once] { once->fire(Status()); }); });
    raw->await_status([once, health, id](Status st) {
      if (id != 0) health->unwatch(id);
      once->fire(st.is_ok() ? Status(StatusCode::kCancelled, "the Watch call ended") : std::move(st));
    });
  });
}

Task<Status> watch_call(std::shared_ptr<GrpcHealth> health, std::shared_ptr<RawStream> raw) {
  RawReadResult first = co_await raw_read(raw);
  if (!first.message) {
    co_return first.status.is_ok() ? Status(StatusCode::kInvalidArgument, "Watch needs one HealthCheckRequest")
                                   : first.status;
  }
  Result<std::string> service = parse_service(raw->serialization(), *first.message);
  if (!service.has_value()) co_return service.status();
  int last = -1;
  for (;;) {
    std::uint64_t seen = health->generation();
    GrpcHealth::ServingStatus now = health->status(*service).value_or(GrpcHealth::kServiceUnknown);
    if (now != last) {
      Status w = co_await raw_write(raw, encode_response(now));
      if (!w.is_ok()) co_return w;
      last = now;
    }
    if (now == GrpcHealth::kNotServing) {
      co_return Status(StatusCode::kUnavailable, "provider is shutting down");
    }
    Status waited = co_await changed_or_ended(health, raw, seen);
    if (!waited.is_ok()) co_return waited;
  }
}

}  // namespace

Status GrpcHealth::install(Server& server) {
  std::weak_ptr<GrpcHealth> weak = weak_from_this();
  const std::string service(kGrpcHealthService);
  Status s = server.add_method(service, "Check", [weak](ServerCall& call) {
    auto self = weak.lock();
    if (!self) {
      call.respond(Status(StatusCode::kUnavailable, "provider is shutting down"));
      return;
    }
    Result<std::string> name = parse_service(call.serialization(), call.body());
    if (!name.has_value()) {
      call.respond(name.status());
      return;
    }
    std::optional<ServingStatus> st = self->status(*name);
    if (!st) {
      call.respond(Status(StatusCode::kNotFound, "unknown service '" + *name + "'"));
      return;
    }
    auto b = call.start_response();
    b.append_body(encode_response(*st));
    call.respond(std::move(b));
  });
  if (!s.is_ok()) return s;
  return server.add_stream_method(service, "Watch", [weak](std::shared_ptr<RawStream> raw) -> Task<Status> {
    auto self = weak.lock();
    if (!self) return [](Status st) -> Task<Status> { co_return st; }(Status(StatusCode::kUnavailable, "provider is shutting down"));
    return watch_call(std::move(self), std::move(raw));
  });
}

void GrpcHealth::set_services(std::vector<std::string> names) {
  services_.clear();
  for (auto& n : names) services_.insert(std::move(n));
}

void GrpcHealth::stop_serving() {
  if (!serving_.exchange(false, std::memory_order_acq_rel)) return;
  std::unordered_map<std::uint64_t, detail::UniqueFunction<void()>> ready;
  {
    std::lock_guard lock(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    ready.swap(watchers_);
  }
  for (auto& [id, fn] : ready) fn();
}

std::optional<GrpcHealth::ServingStatus> GrpcHealth::status(std::string_view service) const {
  if (!service.empty() && !services_.count(std::string(service))) return std::nullopt;
  return serving_.load(std::memory_order_acquire) ? kServing : kNotServing;
}

std::uint64_t GrpcHealth::watch(std::uint64_t seen, detail::UniqueFunction<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::uint64_t id = next_id_++;
      watchers_.emplace(id, std::move(fn));
      return id;
    }
  }
  fn();
  return 0;
}

void GrpcHealth::unwatch(std::uint64_t id) {
  std::lock_guard lock(mu_);
  watchers_.erase(id);
}

std::size_t GrpcHealth::watchers() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

}  // namespace tern::rpc
