// src/rpc/session.h - a framed connection: decoder + heartbeats on top of a
// net::Connection. The provider's server session and the consumer's channel
// session both derive from it (internal header).
//
// Heartbeats (DESIGN §3, issue "core"): when nothing was read for
// `heartbeat_interval`, a ping is sent; every received byte counts as life;
// after 3 intervals with pings unanswered the connection is closed with
// UNAVAILABLE "heartbeat timeout". The decision is HeartbeatMonitor's
// (rpc/heartbeat.h), on SessionOptions::clock; the session only runs the tick
// timer and acts on it. A ping is answered with a pong by the session too
// (on_ping), on the thread the derived class's dispatch policy names.
//
// Protocol errors (bad magic, limits) close the connection with the
// decoder's reason, logged at warn level with the peer's address once per
// connection and within a process-wide budget (rpc/protocol_log.h).
//
// Threading: everything but send_frame()/close() runs on the connection's IO thread.
#pragma once

#include <asio/steady_timer.hpp>

#include <chrono>
#include <memory>

#include "base/clock.h"
#include "rpc/heartbeat.h"
#include "tern/detail/unique_function.h"
#include "tern/net/connection.h"
#include "tern/protocol/decoder.h"

namespace tern::rpc {

struct SessionOptions {
  protocol::Limits limits;
  // Idle time after which a ping is sent; 3 missed pongs close. 0 disables.
  std::chrono::milliseconds heartbeat_interval{10000};
  // Streams open at once on the connection (stream::StreamOptions).
  std::uint32_t max_concurrent_streams = 100;
  // Time for the heartbeat decision (and, in the channel, call deadlines);
  // null = Clock::steady(). Must outlive the session.
  const Clock* clock = nullptr;
};

class Session : public net::Connection::Handler, public std::enable_shared_from_this<Session> {
 public:
  explicit Session(SessionOptions options)
      : options_(options),
        decoder_(options.limits),
        heartbeat_(options.heartbeat_interval, kMaxUnansweredPings, options.clock ? *options.clock : Clock::steady()) {}

  // Pings sent without an answer before the connection is closed.
  static constexpr int kMaxUnansweredPings = 3;
  ~Session() override;

  // Binds to `conn` and starts it (and the heartbeat timer).
  void attach(std::shared_ptr<net::Connection> conn);

  const std::shared_ptr<net::Connection>& connection() const noexcept { return conn_; }
  // `more_follow`: see net::Connection::send.
  bool send_frame(std::string bytes, bool more_follow = false) {
    return conn_ && conn_->send(std::move(bytes), more_follow);
  }
  void close(Status reason) {
    if (conn_) conn_->close(std::move(reason));
  }

  // net::Connection::Handler
  void on_connected(net::Connection& conn) override;
  void on_data(net::Connection& conn, std::string_view data) override;
  std::span<char> read_target() override { return decoder_.read_target(); }
  void on_data_read(net::Connection& conn, std::size_t n) override;
  void on_close(net::Connection& conn, const Status& reason, bool was_connected) override;

 protected:
  // A decoded frame other than ping/pong (IO thread).
  virtual void on_frame(protocol::Frame&& frame) = 0;
  // The connection closed (IO thread, once). Derived classes fail their pending work here.
  virtual void on_session_closed(const Status& reason, bool was_connected) = 0;
  virtual void on_session_connected() {}
  // Heartbeats have one path per side, this class (issue #21): the session
  // decides when to ping (HeartbeatMonitor), answers a ping with a pong, and
  // treats a pong (like any read) as life. A derived class says only WHERE a
  // received ping's answer runs: DESIGN §5's dispatch policies put the
  // "heartbeat" event on the business pool or the IO thread, and count it for
  // their event observer. `answer` sends the pong; the default runs it at once.
  // IO thread.
  virtual void run_heartbeat_event(detail::UniqueFunction<void()> answer) { answer(); }
  // Stops Tern heartbeats for good (a connection that turned out to speak
  // another protocol). IO thread.
  void stop_heartbeat();
  // The heartbeat's ping when the connection was idle for an interval; the
  // default sends a Tern ping (a gRPC connection sends an HTTP/2 PING). IO thread.
  virtual void send_heartbeat_ping();
  // Asked at every heartbeat tick (every `interval`), idle or not: a reason
  // to close the connection now (e.g. a gRPC header block left unfinished
  // for an interval), or OK. IO thread.
  virtual Status heartbeat_check(std::chrono::milliseconds interval) {
    (void)interval;
    return Status();
  }
  // SessionOptions::clock (or the steady clock): heartbeats, and the
  // channel's call deadlines. Any thread.
  const Clock& session_clock() const noexcept { return heartbeat_.clock(); }
  // The frame decoder (IO thread), e.g. to skip over-limit response bodies.
  protocol::FrameDecoder& decoder() noexcept { return decoder_; }

 private:
  void arm_heartbeat();
  // A decoded frame: pings answered, pongs dropped, the rest to on_frame().
  void deliver(protocol::Frame&& f);
  // A heartbeat ping arrived: a pong, through run_heartbeat_event().
  void on_ping(const protocol::Frame& ping);

  SessionOptions options_;
  protocol::FrameDecoder decoder_;
  std::shared_ptr<net::Connection> conn_;
  std::unique_ptr<asio::steady_timer> heartbeat_timer_;
  HeartbeatMonitor heartbeat_;  // IO thread
  bool heartbeat_off_ = false;
};

}  // namespace tern::rpc
