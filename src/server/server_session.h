// src/server/server_session.h - the provider's side of one consumer
// connection: decodes requests and hands them to the server (internal).
#pragma once

#include <memory>
#include <string>

#include "rpc/session.h"
#include "tern/server.h"

namespace tern::rpc {

class ServerSession : public Session {
 public:
  ServerSession(std::shared_ptr<Server::Impl> server, SessionOptions options)
      : Session(options), server_(std::move(server)) {}

  const std::string& peer() const noexcept { return peer_; }
  void set_peer(std::string p) { peer_ = std::move(p); }

 protected:
  void on_frame(protocol::Frame&& frame) override;
  void on_session_closed(const Status& reason, bool was_connected) override;

 private:
  std::shared_ptr<Server::Impl> server_;
  std::string peer_;
};

}  // namespace tern::rpc
