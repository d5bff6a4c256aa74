// src/server/server_call_access.h - the server's side of a ServerCall
// (internal): naming, admission and preparation of a call, which
// tern/server_call.h does not offer handlers. Used by Server::Impl only.
// Thread safety: as ServerCall, one thread at a time per call.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "server/server_session.h"
#include "tern/filter.h"
#include "tern/protocol/compression.h"
#include "tern/result.h"
#include "tern/server_call.h"

namespace tern {

namespace server_impl {
class MethodLimiter;
}

namespace detail {
struct ServerCallAccess {
  // Where the service and method names are in the call's metadata.
  static void set_service(ServerCall& c, std::size_t off, std::size_t len) { c.service_ = {off, len}; }
  // The call holds one slot of its method's limiter until it answers.
  static void hold_limit(ServerCall& c, std::shared_ptr<server_impl::MethodLimiter> limiter,
                         std::chrono::steady_clock::time_point now) {
    c.limiter_ = std::move(limiter);
    c.arrived_ = now;
  }
  static void set_method(ServerCall& c, std::size_t off, std::size_t len) { c.method_ = {off, len}; }
  // The consumer reads responses compressed with `alg` above `threshold` bytes.
  static void accept_compression(ServerCall& c, protocol::Compression alg, std::size_t threshold) {
    c.response_compression_ = alg;
    c.compression_threshold_ = threshold;
  }
  // Decompresses a compressed request body in place (docs/protocol.md §5);
  // INVALID_ARGUMENT for a corrupt body or one over `max_body` decompressed.
  static Status decompress_body(ServerCall& c, std::uint32_t max_body, std::size_t threshold) {
    if ((c.frame_.header.status_or_flags & protocol::flags::kKnownMask) == 0) return Status();  // the common case
    bool both = false;
    protocol::Compression alg = protocol::request_compression(c.frame_.header.status_or_flags, &both);
    if (alg == protocol::Compression::kNone) return Status();
    if (both) return Status(StatusCode::kInvalidArgument, "request flags name both zstd and lz4 compression");
    auto plain = protocol::decompress(alg, c.frame_.body(), max_body);
    if (!plain) return plain.status();
    // The header keeps describing the frame as it was on the wire (body_len,
    // flags: request_bytes() counts wire bytes); body() is the plain body.
    protocol::Frame& f = c.frame_;
    f.payload.resize(f.header.meta_len);
    f.payload.append(*plain);
    // A consumer that compresses can read responses compressed the same way.
    if (c.response_compression_ == protocol::Compression::kNone) accept_compression(c, alg, threshold);
    return Status();
  }
  // The call holds one of its session's in-flight slots (and its request id)
  // until it responds or dies.
  static void hold_slot(ServerCall& c) { c.holds_slot_ = true; }
  // Nobody can read this call's answer: its connection closed.
  static bool caller_gone(const ServerCall& c) { return !c.session_ || !c.session_->is_open(); }
  // Drops a call without an answer (its connection is gone).
  static void drop(ServerCall& c) {
    c.responded_ = true;
    c.release_slot();
  }
  // Runs the provider filters' on_request; their on_response runs when the call responds.
  // `now` is the run's start (the latency the filters' on_response gets).
  static Status run_filters(ServerCall& c, const std::vector<std::shared_ptr<ServerFilter>>& filters,
                            std::chrono::steady_clock::time_point now) {
    c.started_ = now;
    if (filters.empty()) return Status();
    c.filters_ = &filters;
    for (auto& f : filters) {
      ++c.filters_ran_;
      Status s = f->on_request(c.context());
      if (!s.is_ok()) return s;
    }
    return Status();
  }
};
}  // namespace detail

}  // namespace tern
