// src/server/stream_context.h - the ServerContext of a provider's stream
// (internal; tern/server_context.h documents what a handler sees).
//
// One per stream a consumer opened, created on the IO thread before the
// handler is dispatched and kept alive until the handler's Task completed
// and the filters' on_response ran, so ServerContext::current() inside the
// handler (restored after each stream co_await, tern/stream.h) stays valid.
// Thread safety: the handler's thread reads it; response_attachments is only
// touched by the handler (before it returns) and by the completion after it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rpc/stream_hub.h"
#include "tern/server.h"
#include "tern/server_context.h"

namespace tern::detail {

struct StreamContextState {
  StreamContextState(std::shared_ptr<rpc::StreamCall> c, std::shared_ptr<ServerConnection> conn)
      : call(std::move(c)), connection(std::move(conn)), context(this) {
    // The open's metadata in wire form (u16 key length, key, u16 value
    // length, value; docs/protocol.md §3), as a unary request carries it.
    for (const auto& [k, v] : call->metadata()) {
      if (k.size() > 0xFFFF || v.size() > 0xFFFF) continue;
      put_u16(k.size());
      meta += k;
      put_u16(v.size());
      meta += v;
    }
  }
  StreamContextState(const StreamContextState&) = delete;
  StreamContextState& operator=(const StreamContextState&) = delete;

  std::shared_ptr<rpc::StreamCall> call;
  std::shared_ptr<ServerConnection> connection;
  std::string meta;
  // Set by ServerContext::set_response_attachment: trailers of the final status.
  std::vector<std::pair<std::string, std::string>> response_attachments;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::size_t filters_ran = 0;  // filters whose on_request ran (their on_response runs at the end)
  ServerContext context;

 private:
  void put_u16(std::size_t n) {
    meta.push_back(static_cast<char>((n >> 8) & 0xFF));
    meta.push_back(static_cast<char>(n & 0xFF));
  }
};

}  // namespace tern::detail
