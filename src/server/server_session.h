// src/server/server_session.h - the provider's side of one consumer
// connection: decodes requests and hands them to the server (internal).
#pragma once

#include <memory>
#include <string>

#include "rpc/session.h"
#include "tern/server.h"

namespace tern::rpc {

class ServerSession : public Session, public ServerConnection {
 public:
  ServerSession(std::shared_ptr<Server::Impl> server, SessionOptions options, std::uint64_t id)
      : Session(options), server_(std::move(server)), id_(id) {}

  const std::string& peer() const noexcept override { return peer_; }
  void set_peer(std::string p) { peer_ = std::move(p); }
  std::uint64_t id() const noexcept override { return id_; }
  bool push(std::string frame) override { return send_frame(std::move(frame)); }
  bool is_open() const noexcept override { return connection() && connection()->is_open(); }

 protected:
  void on_frame(protocol::Frame&& frame) override;
  void on_session_closed(const Status& reason, bool was_connected) override;

 private:
  std::shared_ptr<Server::Impl> server_;
  std::string peer_;
  std::uint64_t id_;
};

}  // namespace tern::rpc
