// ServerContext (tern/server_context.h): what a handler can know about the
// call it serves, for a unary call (a ServerCall) or a stream
// (detail::StreamContextState), and the thread's current context.
#include "tern/server_context.h"

#include <utility>

#include "server/server_impl.h"
#include "server/server_session.h"
#include "server/stream_context.h"
#include "tern/protocol/frame.h"
#include "tern/server_call.h"

namespace tern {

namespace {
thread_local ServerContext* t_current_context = nullptr;
}  // namespace

ServerContext* ServerContext::current() noexcept { return t_current_context; }
ServerContext* ServerContext::exchange_current(ServerContext* ctx) noexcept {
  return std::exchange(t_current_context, ctx);
}
std::string_view ServerContext::raw_meta() const noexcept { return stream_ ? stream_->meta : call_->meta(); }
void ServerContext::set_response_attachment(std::string key, std::string value) {
  if (stream_) {
    stream_->response_attachments.emplace_back(std::move(key), std::move(value));
    return;
  }
  if (!call_->response_attachments_) {
    call_->response_attachments_ = std::make_unique<std::vector<std::pair<std::string, std::string>>>();
  }
  call_->response_attachments_->emplace_back(std::move(key), std::move(value));
}
ServerContext::Scope::Scope(ServerContext* ctx) noexcept : prev_(t_current_context) { t_current_context = ctx; }
ServerContext::Scope::~Scope() { t_current_context = prev_; }

std::string_view ServerContext::service() const noexcept {
  return stream_ ? std::string_view(stream_->call->service()) : call_->service();
}
std::string_view ServerContext::method() const noexcept {
  return stream_ ? std::string_view(stream_->call->method()) : call_->method();
}
const std::string& ServerContext::peer() const noexcept { return stream_ ? stream_->call->peer() : call_->peer(); }
ServerContext::Clock::time_point ServerContext::deadline() const noexcept {
  return stream_ ? stream_->call->deadline() : call_->deadline();
}
bool ServerContext::oneway() const noexcept { return !stream_ && call_->oneway(); }
std::uint64_t ServerContext::request_bytes() const noexcept {
  if (stream_) return stream_->call->bytes_received();
  // The header's lengths are the wire's, also for a decompressed body.
  const auto& h = call_->frame_.header;
  return protocol::kHeaderSize + h.meta_len + h.body_len;
}
std::uint64_t ServerContext::response_bytes() const noexcept {
  return stream_ ? stream_->call->bytes_sent() : call_->response_bytes_;
}
std::uint64_t ServerContext::messages_received() const noexcept {
  return stream_ ? stream_->call->messages_received() : 0;
}
std::uint64_t ServerContext::messages_sent() const noexcept { return stream_ ? stream_->call->messages_sent() : 0; }
bool ServerContext::cancelled() const noexcept {
  if (stream_) return stream_->call->ended();
  const auto& session = call_->session_;
  return session && (!session->is_open() || session->is_cancelled(call_->request_id()));
}
ServerContext::CancelRegistration ServerContext::on_cancel(std::function<void()> fn) {
  CancelRegistration reg;
  if (stream_) {
    if (stream_->call->ended()) fn();
    return reg;
  }
  auto session = call_->session_;
  if (!session) {
    fn();
    return reg;
  }
  std::uint64_t id = call_->request_id();
  std::uint64_t token = session->watch_cancel(id, std::move(fn));
  if (token != 0) {
    reg.undo_ = [weak = std::weak_ptr<rpc::ServerSession>(session), id, token] {
      if (auto s = weak.lock()) s->unwatch_cancel(id, token);
    };
  }
  return reg;
}
std::chrono::milliseconds ServerContext::remaining() const noexcept {
  auto d = deadline();
  if (d == Clock::time_point::max()) return std::chrono::hours(24);
  // A unary call's deadline is on its server's clock (Server::Impl::clock,
  // null = steady_clock); a stream's on steady_clock.
  const tern::Clock* server_clock = !stream_ && call_->session_ ? call_->session_->server()->clock : nullptr;
  auto now = server_clock != nullptr ? server_clock->now() : Clock::now();
  if (d <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(d - now);
}
std::string_view ServerContext::attachment(std::string_view key) const noexcept {
  if (key == protocol::meta_keys::kService || key == protocol::meta_keys::kMethod ||
      key == protocol::meta_keys::kVersion || key == protocol::meta_keys::kGroup ||
      key == protocol::meta_keys::kAcceptCompression)
    return {};
  auto v = protocol::find_meta(raw_meta(), key);
  if (v.data() != nullptr) return v;
  std::string prefixed = "^" + std::string(key);
  return protocol::find_meta(raw_meta(), prefixed);
}
std::shared_ptr<ServerConnection> ServerContext::connection() const noexcept {
  return stream_ ? stream_->connection : call_->connection();
}

}  // namespace tern
