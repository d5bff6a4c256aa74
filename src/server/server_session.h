// src/server/server_session.h - the provider's side of one consumer
// connection: decodes requests and hands them to the server (internal).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "rpc/session.h"
#include "tern/server.h"

namespace tern::protocol::http2 {
class GrpcServerCodec;
struct GrpcUnaryRequest;
}  // namespace tern::protocol::http2

namespace tern::rpc {

class StreamHub;

class ServerSession : public Session, public ServerConnection {
 public:
  ServerSession(std::shared_ptr<Server::Impl> server, SessionOptions options, std::uint64_t id)
      : Session(options), server_(std::move(server)), id_(id) {}

  const std::string& peer() const noexcept override { return peer_; }
  void set_peer(std::string p) { peer_ = std::move(p); }
  std::uint64_t id() const noexcept override { return id_; }
  bool push(std::string frame) override { return !grpc() && send_frame(std::move(frame)); }

  // The wire this connection speaks, sniffed from its first bytes: the Tern
  // protocol (7E 4E) or gRPC over HTTP/2 (the h2c preface "PRI * HTTP/2.0").
  // Any thread; fixed before the first request is dispatched.
  bool grpc() const noexcept { return wire_.load(std::memory_order_acquire) == kWireGrpc; }

  // Sends a Tern frame. On a gRPC connection (src/server/grpc_session.cc) a
  // response frame answers the gRPC call whose stream id is its request id,
  // a goaway frame becomes HTTP/2 GOAWAY, and other frames are dropped.
  // Any thread.
  bool send_frame(std::string bytes);
  // A response: like send_frame(), but batched with the responses of the
  // other calls still in flight on this connection (net::Connection::send's
  // `more_follow`), so a burst of pooled calls leaves in one write.
  bool send_response(std::string bytes) {
    if (grpc()) return send_frame(std::move(bytes));
    return Session::send_frame(std::move(bytes), in_flight() > 0);
  }

  // net::Connection::Handler: sniffs the wire on the first bytes.
  void on_data(net::Connection& conn, std::string_view data) override;
  bool is_open() const noexcept override { return connection() && connection()->is_open(); }

  // Cancel frames received: ids the consumer gave up on (bounded; only
  // touched when a cancel arrived, so healthy calls pay one atomic load).
  bool is_cancelled(std::uint64_t id) const {
    if (!has_cancelled_.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(cancel_mu_);
    return cancelled_.count(id) > 0;
  }
  // Per-connection in-flight accounting (ServerOptions::max_in_flight_per_connection):
  // false when `limit` (> 0) calls are in flight already.
  bool try_begin_call(std::size_t limit) noexcept {
    if (limit == 0) {
      in_flight_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    auto n = in_flight_.fetch_add(1, std::memory_order_relaxed);
    if (n < limit) return true;
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void end_call() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  // Request ids of the calls in flight on this connection (docs/protocol.md
  // §8, "A request id reused while in flight"): claim_id() is false when
  // `id` is in flight already, and the duplicate is refused; the id is
  // released just before its response is queued (or when the call dies).
  // A released id's node is kept (up to kSpareIdNodes) and reused by the
  // next claim, so a call costs no set-node allocation (issue #17).
  bool claim_id(std::uint64_t id) {
    std::lock_guard lock(ids_mu_);
    if (spare_ids_.empty()) return ids_.insert(id).second;
    auto& node = spare_ids_.back();
    node.value() = id;
    auto r = ids_.insert(std::move(node));
    if (r.inserted) {
      spare_ids_.pop_back();
    } else {
      node = std::move(r.node);  // a duplicate: keep the spare
    }
    return r.inserted;
  }
  void release_id(std::uint64_t id) {
    std::lock_guard lock(ids_mu_);
    auto node = ids_.extract(id);
    if (!node.empty() && spare_ids_.size() < kSpareIdNodes) spare_ids_.push_back(std::move(node));
  }
  // The server this connection belongs to (its options: limits, queues).
  const std::shared_ptr<Server::Impl>& server() const noexcept { return server_; }
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  // Marks call `id` cancelled (a cancel frame, or RST_STREAM on gRPC) and
  // runs its cancel watches.
  void mark_cancelled(std::uint64_t id) {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(cancel_mu_);
      if (cancelled_.size() >= kMaxCancelled) cancelled_.erase(cancelled_.begin());
      cancelled_.insert(id);
      has_cancelled_.store(true, std::memory_order_release);
      auto it = watches_.find(id);
      if (it != watches_.end()) {
        for (auto& [token, fn] : it->second) run.push_back(std::move(fn));
        watches_.erase(it);
      }
    }
    for (auto& fn : run) fn();
  }

  // Cancel watches (ServerContext::on_cancel): `fn` runs once when call `id`
  // is cancelled or the connection closes. Returns 0 after running `fn` at
  // once when that happened already, else a token for unwatch_cancel().
  std::uint64_t watch_cancel(std::uint64_t id, std::function<void()> fn) {
    {
      std::lock_guard lock(cancel_mu_);
      if (!watches_closed_ && is_open() && cancelled_.count(id) == 0) {
        auto token = ++next_watch_;
        watches_[id].emplace(token, std::move(fn));
        return token;
      }
    }
    fn();
    return 0;
  }
  void unwatch_cancel(std::uint64_t id, std::uint64_t token) {
    std::lock_guard lock(cancel_mu_);
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    it->second.erase(token);
    if (it->second.empty()) watches_.erase(it);
  }
  // The connection closed: every watch runs (on_session_closed).
  void fire_cancel_watches() {
    std::map<std::uint64_t, std::map<std::uint64_t, std::function<void()>>> run;
    {
      std::lock_guard lock(cancel_mu_);
      watches_closed_ = true;
      run.swap(watches_);
    }
    for (auto& [id, fns] : run) {
      for (auto& [token, fn] : fns) fn();
    }
  }

  void forget_cancelled(std::uint64_t id) {
    if (!has_cancelled_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(cancel_mu_);
    cancelled_.erase(id);
    if (cancelled_.empty()) has_cancelled_.store(false, std::memory_order_release);
  }

 protected:
  void on_frame(protocol::Frame&& frame) override;
  // A stream frame (types 9..14): to this connection's StreamHub, created at
  // the first one (src/server/stream_methods.cc).
  void on_stream_frame(const protocol::Frame& frame);
  void on_session_closed(const Status& reason, bool was_connected) override;
  // A ping's pong runs where the server's dispatch policy puts heartbeats
  // (Server::Impl::heartbeat).
  void run_heartbeat_event(detail::UniqueFunction<void()> answer) override;
  // gRPC connections: HTTP/2 PING, and a header block unfinished for an
  // interval closes. Kept as overrides: the other wire's ping is another
  // frame (HTTP/2 PING, answered by nghttp2 itself), the decision is still
  // the session's.
  void send_heartbeat_ping() override;
  Status heartbeat_check(std::chrono::milliseconds interval) override;

 private:
  std::shared_ptr<Server::Impl> server_;
  std::string peer_;
  std::uint64_t id_;
  static constexpr std::size_t kMaxCancelled = 4096;
  mutable std::mutex cancel_mu_;
  std::set<std::uint64_t> cancelled_;
  std::atomic<bool> has_cancelled_{false};
  // Cancel watches by request id, then token (guarded by cancel_mu_).
  std::map<std::uint64_t, std::map<std::uint64_t, std::function<void()>>> watches_;
  std::uint64_t next_watch_ = 0;  // guarded by cancel_mu_
  bool watches_closed_ = false;   // guarded by cancel_mu_
  std::atomic<std::size_t> in_flight_{0};
  std::mutex ids_mu_;
  std::unordered_set<std::uint64_t> ids_;  // guarded by ids_mu_
  static constexpr std::size_t kSpareIdNodes = 64;
  std::vector<std::unordered_set<std::uint64_t>::node_type> spare_ids_;  // guarded by ids_mu_
  // gRPC (src/server/grpc_session.cc), IO thread.
  static constexpr int kWireUnknown = 0, kWireTern = 1, kWireGrpc = 2;
  std::atomic<int> wire_{kWireUnknown};
  void start_grpc();
  void on_grpc_unary(protocol::http2::GrpcUnaryRequest&& request);
  void grpc_send_on_loop(std::string bytes);
  std::shared_ptr<protocol::http2::GrpcServerCodec> grpc_;
  std::shared_ptr<StreamHub> streams_;  // IO thread; null until the first stream (declared after grpc_)
};

}  // namespace tern::rpc
