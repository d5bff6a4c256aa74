// ChannelSession: one connection of a consumer Channel (src/client/channel.cc)
// to one provider: the pending-call table (request id -> completion), the
// per-connection deadline queue and its timer, cancel, goaway draining, the
// connection's streams, and the gRPC wire for grpc:// channels. Channel dials
// it and starts calls on it; the IO thread feeds it frames (rpc::Session).
//
// Thread safety: start_call, cancel, pending, deadline_entries, closed,
// streams and close_if_drained may be called from any thread (the table and
// the deadline FIFOs are guarded by mu_); on_frame, on_data, the timer and
// the session callbacks run on the connection's IO thread. Lifetime: owned
// by shared_ptr (the connection and Channel::session_ hold it); completions
// hold it weakly or by shared_ptr.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/deadline_queue.h"
#include "rpc/session.h"
#include "rpc/stream_hub.h"
#include "tern/channel.h"

namespace tern::protocol::http2 {
class GrpcClientCodec;
}  // namespace tern::protocol::http2

namespace tern::rpc {

class ChannelSession : public Session {
 public:
  // `channel` is the Channel this connection serves (weak: the session may
  // outlive it during shutdown); `loop` is the connection's IO thread.
  ChannelSession(std::weak_ptr<Channel> channel, asio::io_context& loop, SessionOptions options);

  // Any thread: registers `request` as pending under a fresh request id,
  // patches the id and `timeout` (ms, capped at 2^32-1) into its header,
  // queues `deadline` (on the session's clock; the caller derived it from
  // the same timeout, so this reads no clock) and sends it. `done` runs
  // exactly once: with the response, DEADLINE_EXCEEDED, CANCELLED (through
  // `control`), or UNAVAILABLE (the connection closed, or closing before it
  // was sent: marked not executed; CANCELLED instead when the consumer shuts
  // down).
  // `done` runs inline on the calling thread when the session is already
  // closed, the frame cannot be queued, or `control` was cancelled before
  // (the request is then not sent); on the thread that calls
  // `control->cancel()`; otherwise on the IO thread, or on the channel's pool
  // where its dispatcher says so.
  void start_call(std::string request, std::chrono::milliseconds timeout,
                  std::chrono::steady_clock::time_point deadline, CallCompletion done,
                  const std::shared_ptr<CallControl>& control);

  // After a goaway: closes the connection once no call is pending on it, so
  // the provider (which waits for its consumers to go) can finish shutting
  // down without cutting off a request in transit. Marked closed under mu_,
  // so a call racing with it fails as not sent instead of being queued.
  void close_if_drained();

  // Lock-free: whether the session has closed (a hint; see closed_).
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // Channel, before attach(): the session this one replaces while that one
  // drains after a goaway (held weakly: the draining session lives as long
  // as its connection and calls do).
  void set_predecessor(const std::shared_ptr<ChannelSession>& draining) { predecessor_ = draining; }
  // Channel shutdown: closes this session and every draining one before it,
  // so no call or stream is left on a connection nobody will close.
  void close_with_predecessors(const Status& reason);

  // Why a frame could not be queued: the connection's close reason (a failed
  // TLS handshake or connect names itself), else a generic text.
  std::string unsent_reason();

  // Cancels pending call `id`: frees its entry, tells the provider, completes
  // it with CANCELLED. False if it is no longer pending.
  bool cancel(std::uint64_t id);
  std::size_t pending();
  // Deadline entries held for the timer (Channel::Stats::deadline_entries).
  std::size_t deadline_entries();

  // ---- gRPC (grpc:// channels) ----------------------------------------------
  // Makes this session speak gRPC over h2c: called once by Channel::session()
  // before attach(); start_grpc() then runs on the IO thread.
  void use_grpc(std::string authority);
  void start_grpc();

  // Sends a Tern frame; on a gRPC session the frame is translated on the IO
  // thread (requests become gRPC calls, cancels RST_STREAM, the rest is dropped).
  bool send_frame(std::string bytes);

  void on_data(net::Connection& conn, std::string_view data) override;

  // The streams of this connection, created at the first open or stream
  // frame; null if the session closed before any stream was opened (a hub
  // created earlier is returned, its streams failed by the close).
  std::shared_ptr<StreamHub> streams(const StreamDispatch& dispatch);

 protected:
  void on_frame(protocol::Frame&& frame) override;

  // `max_body` bounds a compressed response's decompressed size.
  static void complete_response(CallCompletion done, protocol::Frame&& frame, std::uint32_t max_body);

  void on_session_connected() override;

  // A ping's pong (built by Session) runs where the channel's dispatch
  // policy puts heartbeats.
  void run_heartbeat_event(detail::UniqueFunction<void()> answer) override;

  void on_session_closed(const Status& reason, bool was_connected) override;

 public:
  std::atomic<bool> goaway_{false};
  std::weak_ptr<ChannelSession> predecessor_;  // set once, before attach()

 private:
  struct Pending {
    CallCompletion done;
    std::chrono::steady_clock::time_point deadline;
    // The FIFO of timeouts_ holding this call's deadline. Stable: map nodes
    // do not move, and the sweep erases only empty FIFOs, which hold no live
    // call's entry.
    DeadlineQueue* fifo = nullptr;
  };

  std::shared_ptr<ChannelSession> shared() { return std::static_pointer_cast<ChannelSession>(shared_from_this()); }

  // Erases a pending entry (its completion already moved out), keeping up to
  // kSparePending nodes for the next calls. Under mu_.
  void erase_pending(std::unordered_map<std::uint64_t, Pending>::iterator it);
  // A call finished (response, cancel, never sent): erases its entry as
  // erase_pending() does and pops the finished entries at the front of its
  // deadline FIFO (eager removal: the FIFO holds about the calls in flight,
  // not every call of the last timeout period). Under mu_. Not for the
  // timer's sweep, which pops its own entries.
  void finish_pending(std::unordered_map<std::uint64_t, Pending>::iterator it);
  // Whether the deadline FIFO entry (id, deadline) still belongs to a pending
  // call: `id` is pending with this deadline. Under mu_.
  bool live_locked(std::uint64_t id, std::chrono::steady_clock::time_point deadline) const {
    auto found = pending_.find(id);
    return found != pending_.end() && found->second.deadline == deadline;
  }

  static void patch(std::string& request, std::uint64_t id, std::uint32_t timeout_ms);

  // IO thread: (re)arms the timer at armed_.
  void rearm();

  // IO thread: fails expired calls, re-arms for the earliest live deadline.
  void on_timer();

  std::weak_ptr<Channel> channel_;
  asio::steady_timer timer_;
  std::uint32_t max_body_;  // limits.max_body: bound of decompressed responses
  std::uint32_t max_streams_;  // ChannelOptions::max_concurrent_streams
  std::mutex mu_;
  std::unordered_map<std::uint64_t, Pending> pending_;                                 // guarded by mu_
  static constexpr std::size_t kSparePending = 64;
  static constexpr std::size_t kCompactMargin = 64;  // finish_pending's compaction
  std::vector<std::unordered_map<std::uint64_t, Pending>::node_type> spare_pending_;  // guarded by mu_
  std::map<std::uint32_t, DeadlineQueue> timeouts_;  // by timeout, FIFO; guarded by mu_
  std::chrono::steady_clock::time_point armed_ = std::chrono::steady_clock::time_point::max();
  std::uint64_t next_id_ = 1;
  // Written under mu_; closed() reads it without mu_ (Channel asks on every
  // call; start_call checks again under mu_, so a stale answer only sends
  // the call down the closed path).
  std::atomic<bool> closed_{false};
  Status close_reason_;
  std::shared_ptr<protocol::http2::GrpcClientCodec> grpc_;  // set before attach(); the IO thread's
  std::shared_ptr<StreamHub> streams_;  // guarded by mu_ (the pointer; the hub is the IO thread's)
};

}  // namespace tern::rpc
