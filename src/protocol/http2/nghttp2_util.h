// Small helpers shared by the gRPC codecs around nghttp2's C API (internal).
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/http2/grpc_framing.h"
#include "tern/status.h"

namespace tern::protocol::http2 {

// A name/value pair pointing into strings that outlive the nghttp2 call.
inline nghttp2_nv make_nv(const std::string& name, const std::string& value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

inline std::vector<nghttp2_nv> to_nv(const Headers& headers) {
  std::vector<nghttp2_nv> out;
  out.reserve(headers.size());
  for (const auto& [k, v] : headers) out.push_back(make_nv(k, v));
  return out;
}

// The trailers that end a call: grpc-status, grpc-message (percent-encoded),
// then the metadata as headers.
inline Headers status_trailers(const Status& status, const Headers& metadata) {
  Headers t;
  t.emplace_back("grpc-status", std::to_string(static_cast<int>(status.code())));
  if (!status.is_ok() && !status.message().empty()) t.emplace_back("grpc-message", percent_encode(status.message()));
  for (auto& h : metadata_to_headers(metadata)) t.push_back(std::move(h));
  return t;
}

// Gives back to the peer the DATA bytes of a stream that no queued message
// holds, in the stream's window (the connection's went back on receipt;
// `unconsumed`: received, not yet given back; `held`: the wire size of the
// complete messages waiting for the stream core's credit). Only
// those messages keep the HTTP/2 window closed; the bytes of a message still
// arriving go back at once (the max message size bounds them), else a
// message larger than the stream window could never complete.
inline void release_unheld(nghttp2_session* h2, std::int32_t id, std::size_t& unconsumed, std::size_t held) {
  if (unconsumed > held) {
    nghttp2_session_consume_stream(h2, id, unconsumed - held);
    unconsumed = held;
  }
}

// Messages waiting for nghttp2's data provider on one stream, each with its
// 5-byte prefix. copy() hands out as many bytes as fit and reports each
// message that left completely (its payload size), so the stream core gets
// its credit back only once a message is on the wire.
struct OutQueue {
  std::deque<std::string> frames;
  std::deque<std::size_t> sizes;
  std::size_t offset = 0;  // into frames.front()

  void push(std::string_view message) {
    frames.push_back(frame_message(message));
    sizes.push_back(message.size());
  }
  bool empty() const noexcept { return frames.empty(); }
  template <typename OnSent>
  std::size_t copy(std::uint8_t* buf, std::size_t length, OnSent&& on_sent) {
    std::size_t copied = 0;
    while (copied < length && !frames.empty()) {
      std::string& front = frames.front();
      std::size_t n = std::min(length - copied, front.size() - offset);
      std::memcpy(buf + copied, front.data() + offset, n);
      copied += n;
      offset += n;
      if (offset == front.size()) {
        frames.pop_front();
        offset = 0;
        std::size_t size = sizes.front();
        sizes.pop_front();
        on_sent(size);
      }
    }
    return copied;
  }
};

}  // namespace tern::protocol::http2
