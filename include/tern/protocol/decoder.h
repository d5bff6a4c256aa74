// tern/protocol/decoder.h - incremental frame decoder with limits.
//
// Feed it bytes as they arrive, in pieces of any size; it emits each complete
// frame once. A stream cut at any position decodes to the same frames as the
// whole stream fed at once. The header is validated as soon as its 24 bytes
// are in: a bad magic, unknown version, unknown frame type, unknown request
// flags, metadata longer than Limits::max_meta or a body longer than
// Limits::max_body fail the stream before any body byte is buffered, so a
// forged length never makes the receiver allocate. After an error the decoder
// stays failed (the connection must be closed): feed() returns the same error.
//
// Memory: at most one partially received frame is buffered. A payload of
// BufferPool::kMinPooled bytes or more comes from the buffer pool when it
// holds one that fits, a smaller one from the thread's recycled small
// buffers (BufferPool::take_local); otherwise up to kInitialReserve bytes are reserved when
// the header is validated and the exact size once those have arrived.
//
// Skipping over-limit responses (consumers, set_skip_oversize_responses):
// a RESPONSE frame whose body is longer than Limits::max_body does not fail
// the stream while its header is otherwise valid. Its metadata is buffered
// (within max_meta), the frame is emitted with the body left out
// (body_skipped(frame) is true, body() is empty) as soon as the metadata is
// in, and the body's bytes are then read and discarded without buffering.
// The connection keeps its framing; only that call fails (docs/protocol.md §9).
// Other frame types over the limit still fail the stream.
//
// Thread safety: none; one decoder per connection, used on its IO thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "tern/buffer_pool.h"
#include "tern/protocol/frame.h"
#include "tern/status.h"

namespace tern::protocol {

struct Limits {
  std::uint32_t max_body = kDefaultMaxBody;  // bytes, default 64 MiB
  std::uint32_t max_meta = kDefaultMaxMeta;  // bytes, default 64 KiB - 1
};

// Validates a header against the limits. INVALID_ARGUMENT with a reason such
// as "bad magic 0x4745 (looks like an HTTP request)".
Status validate_header(const char* raw, const Limits& limits, FrameHeader* out);

class FrameDecoder {
 public:
  // Bytes reserved for a frame's payload before its bytes arrive (the rest is
  // reserved, at its exact size, once these have arrived).
  static constexpr std::size_t kInitialReserve = 256 * 1024;

  explicit FrameDecoder(Limits limits = {}) : limits_(limits) {}

  // Consumes all of `data`, calling `on_frame(Frame&&)` for every frame that
  // completes. Returns the first protocol error (see above); frames completed
  // before the bad header have been delivered. `on_frame` may throw nothing.
  template <typename OnFrame>
  Status feed(std::string_view data, OnFrame&& on_frame);

  // Direct reads (no copy through the caller's buffer, issue #17): while a
  // frame's payload with at least kDirectReadMin bytes still to come is being
  // received into a buffer that already has its full capacity, the span
  // where those bytes go; else empty. Reading up to span.size() bytes into it
  // and calling commit_read(n, on_frame) is the same as feed()ing them. The
  // span is valid until the next feed() or commit_read().
  std::span<char> read_target();
  template <typename OnFrame>
  void commit_read(std::size_t n, OnFrame&& on_frame);
  static constexpr std::size_t kDirectReadMin = 16 * 1024;

  bool failed() const noexcept { return !error_.is_ok(); }
  // Skip (instead of failing on) response bodies over max_body; see above.
  void set_skip_oversize_responses(bool on) noexcept { skip_oversize_responses_ = on; }
  const Limits& limits() const noexcept { return limits_; }
  // True for a frame emitted with its over-limit body left out.
  static bool body_skipped(const Frame& f) noexcept {
    return f.payload.size() < static_cast<std::size_t>(f.header.meta_len) + f.header.body_len;
  }
  // Bytes of the frame currently being received (0 between frames).
  std::size_t buffered() const noexcept { return header_filled_ + filled_; }

 private:
  // The payload outgrew its first reservation: move it into a buffer of the
  // frame's exact size (pooled when one fits).
  void grow_payload() {
    std::string bigger = BufferPool::take(payload_need_);
    if (bigger.capacity() < payload_need_) bigger.reserve(payload_need_);
    bigger.append(frame_.payload);
    frame_.payload.swap(bigger);
    BufferPool::give(std::move(bigger));
  }

  Limits limits_;
  Status error_;
  char header_buf_[kHeaderSize];
  std::size_t header_filled_ = 0;
  bool in_payload_ = false;
  std::size_t payload_need_ = 0;
  std::size_t filled_ = 0;  // payload bytes received of payload_need_
  Frame frame_;
  bool skip_oversize_responses_ = false;
  bool skip_body_ = false;      // the frame being received has its body skipped
  std::size_t skip_left_ = 0;   // body bytes still to discard
};

template <typename OnFrame>
Status FrameDecoder::feed(std::string_view data, OnFrame&& on_frame) {
  if (!error_.is_ok()) return error_;
  // Emits the completed frame_; then, for a skipped body, starts discarding it.
  auto emit = [&] {
    std::size_t skip = skip_body_ ? frame_.header.body_len : 0;
    skip_body_ = false;
    on_frame(std::move(frame_));
    frame_ = Frame();
    skip_left_ = skip;
  };
  while (!data.empty()) {
    if (skip_left_ > 0) {
      std::size_t take = std::min(skip_left_, data.size());
      data.remove_prefix(take);
      skip_left_ -= take;
      continue;
    }
    if (!in_payload_) {
      const char* raw;
      if (header_filled_ == 0 && data.size() >= kHeaderSize) {
        raw = data.data();  // fast path: whole header in this read
        data.remove_prefix(kHeaderSize);
      } else {
        std::size_t take = std::min(kHeaderSize - header_filled_, data.size());
        std::memcpy(header_buf_ + header_filled_, data.data(), take);
        header_filled_ += take;
        data.remove_prefix(take);
        if (header_filled_ < kHeaderSize) {
          // Reject a wrong magic without waiting for 24 bytes: short garbage
          // (an 18-byte HTTP/1.0 request) must not sit until the heartbeat.
          if (header_filled_ >= 2 && (static_cast<unsigned char>(header_buf_[0]) != (kMagic >> 8) ||
                                      static_cast<unsigned char>(header_buf_[1]) != (kMagic & 0xFF))) {
            char padded[kHeaderSize] = {};
            std::memcpy(padded, header_buf_, header_filled_);
            error_ = validate_header(padded, limits_, &frame_.header);
            header_filled_ = 0;
            return error_;
          }
          return Status();
        }
        raw = header_buf_;
      }
      header_filled_ = 0;
      Limits check = limits_;
      if (skip_oversize_responses_) check.max_body = UINT32_MAX;  // decided below, for responses only
      Status s = validate_header(raw, check, &frame_.header);
      if (s.is_ok() && frame_.header.body_len > limits_.max_body) {
        if (frame_.header.type == FrameType::kResponse) {
          skip_body_ = true;
        } else {
          s = validate_header(raw, limits_, &frame_.header);  // the limit's own error
        }
      }
      if (!s.is_ok()) {
        error_ = s;
        return error_;
      }
      payload_need_ = static_cast<std::size_t>(frame_.header.meta_len) + (skip_body_ ? 0 : frame_.header.body_len);
      frame_.payload.clear();
      if (payload_need_ == 0) {
        emit();
        continue;
      }
      // A pooled buffer that fits costs nothing new. Otherwise reserve what is
      // plausible now and the exact size once that has been filled: a peer
      // sending bare headers that announce large bodies cannot pin memory it
      // never sends, and a large frame is copied at most once more.
      // A pooled one comes sized (take_sized: not zeroed; every byte is
      // written below or by a direct read before the frame is emitted).
      frame_.payload = payload_need_ >= BufferPool::kMinPooled ? BufferPool::take_sized(payload_need_)
                                                               : BufferPool::take_local(payload_need_);
      if (frame_.payload.size() != payload_need_)
        frame_.payload.reserve(std::min<std::size_t>(payload_need_, kInitialReserve));
      in_payload_ = true;
    }
    std::size_t take = std::min(payload_need_ - filled_, data.size());
    if (frame_.payload.size() == payload_need_) {  // sized by read_target()
      std::memcpy(frame_.payload.data() + filled_, data.data(), take);
    } else {
      if (frame_.payload.capacity() - frame_.payload.size() < take) grow_payload();
      frame_.payload.append(data.data(), take);
    }
    filled_ += take;
    data.remove_prefix(take);
    if (filled_ == payload_need_) {
      in_payload_ = false;
      filled_ = 0;
      emit();
    }
  }
  return Status();
}

inline std::span<char> FrameDecoder::read_target() {
  // Not for a frame whose body is skipped: its metadata goes through feed(),
  // whose emit() then starts discarding the body (commit_read() would hand
  // the frame on and decode the skipped body as frames: found by a hostile
  // trial, a response with 16 KiB or more of metadata over max_body).
  if (!in_payload_ || !error_.is_ok() || skip_left_ > 0 || skip_body_) return {};
  std::size_t left = payload_need_ - filled_;
  if (left < kDirectReadMin) return {};
  if (frame_.payload.size() != payload_need_) {
    // Only into a buffer that already has the frame's capacity: sizing one
    // now would let bare headers pin memory (see feed()).
    if (frame_.payload.capacity() < payload_need_) return {};
    frame_.payload.resize(payload_need_);
  }
  return std::span<char>(frame_.payload.data() + filled_, left);
}

template <typename OnFrame>
void FrameDecoder::commit_read(std::size_t n, OnFrame&& on_frame) {
  filled_ += n;
  if (filled_ < payload_need_) return;
  in_payload_ = false;
  filled_ = 0;
  on_frame(std::move(frame_));
  frame_ = Frame();
}

}  // namespace tern::protocol
