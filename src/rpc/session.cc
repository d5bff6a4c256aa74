// Framed connection with heartbeats; see session.h.
#include "rpc/session.h"

#include "rpc/protocol_log.h"
#include "tern/log.h"

namespace tern::rpc {

Session::~Session() = default;

void Session::attach(std::shared_ptr<net::Connection> conn) {
  conn_ = std::move(conn);
  conn_->set_handler(shared_from_this());
  if (options_.heartbeat_interval.count() > 0) {
    heartbeat_timer_ = std::make_unique<asio::steady_timer>(conn_->loop());
  }
  conn_->start();
  if (heartbeat_timer_ && conn_->connected()) {
    asio::post(conn_->loop(), [self = shared_from_this()] { self->arm_heartbeat(); });
  }
}

void Session::stop_heartbeat() {
  heartbeat_off_ = true;
  if (heartbeat_timer_) heartbeat_timer_->cancel();
}

void Session::on_connected(net::Connection&) {
  if (heartbeat_timer_ && !heartbeat_off_) arm_heartbeat();
  on_session_connected();
}

void Session::arm_heartbeat() {
  heartbeat_timer_->expires_after(options_.heartbeat_interval);
  heartbeat_timer_->async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->heartbeat_off_ || !self->conn_ || !self->conn_->is_open()) return;
    if (Status stalled = self->heartbeat_check(self->options_.heartbeat_interval); !stalled.is_ok()) {
      TERN_LOG(kWarn, "closing connection to {}: {}", self->conn_->remote_text(), stalled.message());
      self->conn_->close(std::move(stalled));
      return;
    }
    switch (self->heartbeat_.tick(self->conn_->last_read())) {
      case HeartbeatMonitor::Action::kNone:
        break;
      case HeartbeatMonitor::Action::kPing:
        self->send_heartbeat_ping();
        break;
      case HeartbeatMonitor::Action::kClose:
        TERN_LOG(kWarn, "closing connection to {}: heartbeat timeout ({} pings unanswered)",
                 self->conn_->remote_text(), self->heartbeat_.unanswered());
        self->conn_->close(Status(StatusCode::kUnavailable,
                                  "heartbeat timeout: " + self->conn_->remote_text() + " stopped answering"));
        return;
    }
    self->arm_heartbeat();
  });
}

void Session::send_heartbeat_ping() { conn_->send(protocol::encode_control_frame(protocol::FrameType::kPing, 0)); }

void Session::deliver(protocol::Frame&& f) {
  switch (f.header.type) {
    case protocol::FrameType::kPing:
      on_ping(f);
      break;
    case protocol::FrameType::kPong:
      break;
    default:
      on_frame(std::move(f));
  }
}

void Session::on_data_read(net::Connection&, std::size_t n) {
  decoder_.commit_read(n, [this](protocol::Frame&& f) { deliver(std::move(f)); });
}

void Session::on_data(net::Connection& conn, std::string_view data) {
  bool failed_before = decoder_.failed();
  Status s = decoder_.feed(data, [this](protocol::Frame&& f) { deliver(std::move(f)); });
  if (!s.is_ok()) {
    // Once per connection (later reads of the same connection fail the same
    // way), and within the process-wide budget (rpc/protocol_log.h).
    if (!failed_before) log_protocol_error(fmt::format("closing connection from {}: {}", conn.remote_text(), s.message()));
    conn.close(s);
  }
}

void Session::on_ping(const protocol::Frame& ping) {
  run_heartbeat_event([self = shared_from_this(), id = ping.header.request_id] {
    self->send_frame(protocol::encode_control_frame(protocol::FrameType::kPong, id));
  });
}

void Session::on_close(net::Connection&, const Status& reason, bool was_connected) {
  if (heartbeat_timer_) heartbeat_timer_->cancel();
  on_session_closed(reason, was_connected);
}

}  // namespace tern::rpc
