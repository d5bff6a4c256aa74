// tests/helpers/pipe_peer.h - a scripted peer on one end of an in-memory
// pipe (src/net/memory_transport.h): the test writes raw bytes and reads
// back the frames the code under test sent, from the test's thread, with no
// socket. Links the protocol module (tern_protocol).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loop_thread.h"
#include "net/memory_transport.h"
#include "tern/protocol/decoder.h"
#include "tern/protocol/frame.h"

namespace tern::testing {

// The test's end of a pipe: everything runs on the calling thread (reads
// poll; nothing waits on the end's loop).
class PipePeer {
 public:
  explicit PipePeer(std::unique_ptr<net::MemoryTransport> end) : end_(std::move(end)) {}

  net::MemoryTransport& end() noexcept { return *end_; }
  void write(std::string_view bytes) { end_->try_write(bytes.data(), bytes.size()); }
  void close() { end_->close(); }

  // Reads what is there; false once the other end closed (or this one).
  bool pump() {
    char buf[4096];
    for (;;) {
      std::error_code ec;
      std::size_t n = end_->read_some(buf, sizeof buf, ec);
      if (ec == asio::error::would_block) return true;
      if (ec) return false;
      Status s = decoder_.feed(std::string_view(buf, n), [this](protocol::Frame&& f) { frames_.push_back(std::move(f)); });
      if (!s.is_ok()) decode_error_ = s;
    }
  }
  // Waits until `n` frames arrived in all; false on timeout.
  bool wait_frames(std::size_t n, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    return wait_until([&] {
      pump();
      return frames_.size() >= n;
    }, timeout);
  }
  // Waits until the other end closed; false on timeout.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    return wait_until([&] { return !pump(); }, timeout);
  }
  std::vector<protocol::Frame>& frames() noexcept { return frames_; }
  const Status& decode_error() const noexcept { return decode_error_; }

 private:
  std::unique_ptr<net::MemoryTransport> end_;
  protocol::FrameDecoder decoder_;
  std::vector<protocol::Frame> frames_;
  Status decode_error_;
};

// A response frame: `status` in byte 5, `body` (the result, or the error message).
inline std::string response_frame(std::uint64_t id, StatusCode status, std::string_view body) {
  protocol::FrameBuilder b(protocol::FrameType::kResponse, id);
  b.header().status_or_flags = static_cast<std::uint8_t>(status);
  b.begin_body();
  b.append_body(body);
  return b.finish();
}

// A request for service.method with `body`.
inline std::string request_frame(std::uint64_t id, std::string_view service, std::string_view method,
                                 std::string_view body) {
  protocol::FrameBuilder b(protocol::FrameType::kRequest, id);
  b.add_meta(protocol::meta_keys::kService, service);
  b.add_meta(protocol::meta_keys::kMethod, method);
  b.begin_body();
  b.append_body(body);
  return b.finish();
}

}  // namespace tern::testing
