// Fuzz target: the incremental frame decoder (tern/protocol/decoder.h), the
// code every byte from the network goes through first.
//
// The input is a byte stream as a peer could send it. It is decoded twice:
// in one feed() and cut into chunks of pseudo-random sizes (from 0 to a few
// hundred bytes, seeded by the input itself, so a crash reproduces from its
// file). Invariants:
//   - both give the same frames and the same status code (the decoder's
//     promise that a stream cut anywhere decodes the same);
//   - each frame re-encodes (encode_header + payload) to exactly the bytes it
//     was decoded from;
//   - after an error feed() keeps returning an error and delivers nothing;
//   - buffered() is what the decoder holds of the unfinished frame: the bytes
//     after the last complete frame, less its header once that is decoded.
// Each frame's metadata also goes through for_each_meta and find_meta, as the
// server does when it names a call.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "tern/protocol/decoder.h"
#include "tern/protocol/frame.h"

namespace {

using tern::protocol::Frame;
using tern::protocol::FrameDecoder;

struct Decoded {
  std::vector<Frame> frames;
  tern::Status status;
  std::size_t buffered = 0;
};

void touch_meta(const Frame& f) {
  std::size_t entries = 0;
  tern::Status s = tern::protocol::for_each_meta(f.meta(), [&](std::string_view k, std::string_view v) {
    FUZZ_CHECK(k.data() >= f.meta().data() && v.data() + v.size() <= f.meta().data() + f.meta().size(),
               "metadata entry outside the metadata");
    ++entries;
  });
  (void)s;
  (void)tern::protocol::find_meta(f.meta(), tern::protocol::meta_keys::kService);
  (void)entries;
}

// xorshift64*, seeded from the input: chunk sizes are a function of the input.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
};

Decoded decode(std::string_view in, bool chunked) {
  Decoded out;
  FrameDecoder d;
  auto on_frame = [&](Frame&& f) { out.frames.push_back(std::move(f)); };
  if (!chunked) {
    out.status = d.feed(in, on_frame);
  } else {
    std::uint64_t seed = 0xcbf29ce484222325ULL;  // FNV-1a of the input
    for (unsigned char c : in) seed = (seed ^ c) * 0x100000001b3ULL;
    Rng rng{seed | 1};
    while (!in.empty()) {
      std::uint64_t r = rng.next();
      std::size_t n = (r & 7) == 0 ? 0 : (r & 3) == 1 ? (r >> 8) % 300 : (r >> 8) % 25;
      n = std::min(n, in.size());
      tern::Status s = d.feed(in.substr(0, n), on_frame);
      in.remove_prefix(n);
      if (!s.is_ok()) {
        out.status = s;
        FUZZ_CHECK(d.failed(), "failed() after an error");
        // A failed decoder stays failed and delivers nothing more.
        std::size_t delivered = out.frames.size();
        tern::Status again = d.feed(in.empty() ? std::string_view("x") : in, on_frame);
        FUZZ_CHECK(!again.is_ok() && again.code() == s.code(), "feed() after an error did not fail the same way");
        FUZZ_CHECK(out.frames.size() == delivered, "a failed decoder delivered a frame");
        break;
      }
    }
  }
  out.buffered = d.buffered();
  return out;
}

bool same_header(const tern::protocol::FrameHeader& a, const tern::protocol::FrameHeader& b) {
  return a.type == b.type && a.serialization == b.serialization && a.status_or_flags == b.status_or_flags &&
         a.meta_len == b.meta_len && a.request_id == b.request_id && a.body_len == b.body_len &&
         a.timeout_ms == b.timeout_ms;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Decoded whole = decode(in, false);
  Decoded chunks = decode(in, true);

  FUZZ_CHECK(whole.status.is_ok() == chunks.status.is_ok(), "whole and chunked feeds disagree on failure");
  FUZZ_CHECK(whole.status.code() == chunks.status.code(), "whole and chunked feeds fail with different codes");
  FUZZ_CHECK(whole.frames.size() == chunks.frames.size(), "whole and chunked feeds give different frame counts");

  std::size_t offset = 0;
  for (std::size_t i = 0; i < whole.frames.size(); ++i) {
    const Frame& f = whole.frames[i];
    const Frame& g = chunks.frames[i];
    FUZZ_CHECK(same_header(f.header, g.header), "whole and chunked feeds give different headers");
    FUZZ_CHECK(f.payload == g.payload, "whole and chunked feeds give different payloads");
    FUZZ_CHECK(f.payload.size() == std::size_t{f.header.meta_len} + f.header.body_len, "payload size != lengths");
    FUZZ_CHECK(f.meta().size() == f.header.meta_len && f.body().size() == f.header.body_len, "meta()/body() split");

    char raw[tern::protocol::kHeaderSize];
    tern::protocol::encode_header(f.header, raw);
    FUZZ_CHECK(in.substr(offset, sizeof raw) == std::string_view(raw, sizeof raw), "header does not re-encode");
    offset += sizeof raw;
    FUZZ_CHECK(in.substr(offset, f.payload.size()) == f.payload, "payload is not the input's bytes");
    offset += f.payload.size();
    touch_meta(f);
  }
  if (whole.status.is_ok()) {
    std::size_t rest = in.size() - offset;
    FUZZ_CHECK(whole.buffered == (rest < tern::protocol::kHeaderSize ? rest : rest - tern::protocol::kHeaderSize),
               "buffered() != bytes of the unfinished frame");
    FUZZ_CHECK(chunks.buffered == whole.buffered, "whole and chunked feeds buffer differently");
  }
  return 0;
}
