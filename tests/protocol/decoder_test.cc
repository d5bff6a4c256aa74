// Tests of tern/protocol/decoder.h: a stream decodes to the same frames however
// it is cut into reads, and every kind of bad header fails the stream as soon
// as its 24 bytes are in, before anything is allocated for the body
// (docs/protocol.md §8).
#include "tern/protocol/decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tern/buffer_pool.h"
#include "tern/protocol/frame.h"

// --- allocation probe -----------------------------------------------------------
// The test binary's operator new records the largest single allocation made
// while a probe is active, so "nothing is allocated for the body of a rejected
// frame" is checked directly, not inferred from buffered().
namespace {
std::atomic<bool> g_probe_active{false};
std::atomic<std::size_t> g_probe_largest{0};
}  // namespace

// noinline: GCC would otherwise inline the free() below into code whose
// pointer it sees coming from operator new and warn (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t n) {
  if (g_probe_active.load(std::memory_order_relaxed)) {
    std::size_t cur = g_probe_largest.load(std::memory_order_relaxed);
    while (n > cur && !g_probe_largest.compare_exchange_weak(cur, n, std::memory_order_relaxed)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace tern::protocol {
namespace {

class AllocationProbe {
 public:
  AllocationProbe() {
    g_probe_largest.store(0);
    g_probe_active.store(true);
  }
  ~AllocationProbe() { g_probe_active.store(false); }
  std::size_t largest() const { return g_probe_largest.load(); }
};

// A frame as the test expects it: header fields plus metadata and body.
struct Expected {
  FrameHeader header;
  std::string meta;
  std::string body;
};

bool same_header(const FrameHeader& a, const FrameHeader& b) {
  return a.type == b.type && a.serialization == b.serialization && a.status_or_flags == b.status_or_flags &&
         a.meta_len == b.meta_len && a.request_id == b.request_id && a.body_len == b.body_len &&
         a.timeout_ms == b.timeout_ms;
}

std::string make_frame(FrameType type, std::uint64_t id, const std::vector<std::pair<std::string, std::string>>& meta,
                       const std::string& body, std::uint8_t serialization = 3, std::uint8_t status_or_flags = 0,
                       std::uint32_t timeout_ms = 0) {
  FrameBuilder b(type, id);
  b.header().serialization = serialization;
  b.header().status_or_flags = status_or_flags;
  b.header().timeout_ms = timeout_ms;
  for (const auto& [k, v] : meta) EXPECT_TRUE(b.add_meta(k, v));
  b.begin_body();
  b.append_body(body);
  return b.finish();
}

// A deterministic body whose every byte depends on its position, so a shifted,
// dropped or duplicated byte cannot go unnoticed.
std::string pattern(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

struct Stream {
  std::string bytes;
  std::vector<Expected> frames;
};

// Several frames of different shapes: metadata and body, empty both, metadata
// only, body only, a status byte on a response, max request id, and
// `big_body` bytes of body in the middle.
Stream make_stream(std::size_t big_body) {
  Stream s;
  auto add = [&](FrameType type, std::uint64_t id, std::vector<std::pair<std::string, std::string>> meta,
                 std::string body, std::uint8_t ser, std::uint8_t sf, std::uint32_t tmo) {
    std::string f = make_frame(type, id, meta, body, ser, sf, tmo);
    Expected e;
    e.header = decode_header_unchecked(f.data());
    e.meta = f.substr(kHeaderSize, e.header.meta_len);
    e.body = std::move(body);
    s.bytes += f;
    s.frames.push_back(std::move(e));
  };
  add(FrameType::kRequest, 1, {{"service", "Calculator"}, {"method", "add"}, {"trace-id", "abc"}}, "\x92\x01\x02", 3,
      0, 3000);
  add(FrameType::kPing, 0, {}, "", 0, 0, 0);                          // empty metadata and body
  add(FrameType::kOneway, 2, {{"service", "S"}, {"method", "m"}}, "", 3, flags::kCompressedLz4, 0);  // meta only
  add(FrameType::kResponse, 1, {}, "\x03", 3, 0, 0);                  // body only
  add(FrameType::kRequest, 3, {{"service", "Blob"}, {"method", "put"}}, pattern(big_body, 7), 0, 0, 0xFFFFFFFF);
  add(FrameType::kResponse, 0xFFFFFFFFFFFFFFFFull, {}, "deadline passed", 3, 4, 0);
  add(FrameType::kPush, 9, {{"k", std::string(300, 'v')}}, pattern(1000, 3), 2, 0, 0);
  add(FrameType::kCancel, 3, {}, "", 0, 0, 0);
  add(FrameType::kGoaway, 0, {}, "", 0, 0, 0);
  return s;
}

// Checks each delivered frame against the expected list as it arrives (no
// copies are kept), so the split sweeps stay cheap even with a 1 MiB body.
class Checker {
 public:
  explicit Checker(const std::vector<Expected>& expected) : expected_(expected) {}

  void operator()(Frame&& f) {
    if (next_ >= expected_.size()) {
      ++extra_;
      return;
    }
    const Expected& e = expected_[next_++];
    if (!same_header(f.header, e.header) || f.meta() != e.meta || f.body() != e.body) ++mismatches_;
  }

  std::size_t delivered() const { return next_ + extra_; }
  bool all_match() const { return next_ == expected_.size() && extra_ == 0 && mismatches_ == 0; }

 private:
  const std::vector<Expected>& expected_;
  std::size_t next_ = 0;
  std::size_t extra_ = 0;
  std::size_t mismatches_ = 0;
};

// Feeds `bytes` cut at `cuts` (ascending positions) and checks the result.
::testing::AssertionResult decodes_same(const Stream& s, const std::vector<std::size_t>& cuts) {
  FrameDecoder d;
  Checker check(s.frames);
  std::size_t at = 0;
  std::string_view all(s.bytes);
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    std::size_t end = i < cuts.size() ? cuts[i] : all.size();
    Status st = d.feed(all.substr(at, end - at), check);
    if (!st.is_ok()) return ::testing::AssertionFailure() << "feed failed: " << st.to_string();
    at = end;
  }
  if (!check.all_match()) return ::testing::AssertionFailure() << check.delivered() << " frames delivered, wrong";
  if (d.buffered() != 0) return ::testing::AssertionFailure() << d.buffered() << " bytes left buffered";
  return ::testing::AssertionSuccess();
}

// --- splitting ------------------------------------------------------------------

TEST(FrameDecoder, WholeStreamInOneRead) {
  Stream s = make_stream(1 << 20);
  EXPECT_TRUE(decodes_same(s, {}));
}

TEST(FrameDecoder, EverySingleSplitPositionSmallFrames) {
  Stream s = make_stream(5000);
  for (std::size_t cut = 0; cut <= s.bytes.size(); ++cut) {
    ASSERT_TRUE(decodes_same(s, {cut})) << "cut at " << cut;
  }
}

// The stream holding the 1 MiB frame, cut once at each position. Every cut is
// taken in the small frames, the 1 MiB frame's header and metadata and the
// first and last 2 KiB of its body; inside the body every 1021st position
// (a prime, so the cuts fall at every offset within a read). Each run copies
// the whole body, so the ~5,000 cuts cost seconds under ASan (at 16 KiB and
// every 257th the test timed out in CI's ASan stage), and all ~1.05 million
// cuts a minute of CPU: set TERN_PROTOCOL_EXHAUSTIVE=1 to run every cut.
TEST(FrameDecoder, EverySingleSplitPositionWithOneMiBBody) {
  Stream s = make_stream(1 << 20);
  const bool exhaustive = std::getenv("TERN_PROTOCOL_EXHAUSTIVE") != nullptr;
  // Where the 1 MiB body sits in the stream.
  std::size_t body_begin = 0;
  for (const Expected& e : s.frames) {
    body_begin += kHeaderSize + e.header.meta_len;
    if (e.body.size() == (1u << 20)) break;
    body_begin += e.header.body_len;
  }
  const std::size_t body_end = body_begin + (1u << 20);
  ASSERT_EQ(s.bytes.substr(body_begin, 16), pattern(16, 7));
  constexpr std::size_t kEdge = 2 << 10;
  std::size_t failures = 0, cuts = 0;
  for (std::size_t cut = 0; cut <= s.bytes.size(); ++cut) {
    bool interior = cut > body_begin + kEdge && cut + kEdge < body_end;
    if (interior && !exhaustive && (cut - body_begin) % 1021 != 0) continue;
    ++cuts;
    auto r = decodes_same(s, {cut});
    if (!r) {
      ADD_FAILURE() << "cut at " << cut << ": " << r.message();
      if (++failures == 10) return;
    }
  }
  EXPECT_GT(cuts, exhaustive ? s.bytes.size() : 2 * kEdge);
}

TEST(FrameDecoder, RandomChunkSizesFixedSeed) {
  Stream s = make_stream(1 << 20);
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 200; ++round) {
    // Alternate small and large chunk scales so both header-straddling and
    // multi-frame reads happen.
    const std::size_t scale = (round % 4 == 0) ? 64 : (round % 4 == 1) ? 4096 : (round % 4 == 2) ? 65536 : 400000;
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    for (;;) {
      at += 1 + static_cast<std::size_t>(rng() % scale);
      if (at >= s.bytes.size()) break;
      cuts.push_back(at);
    }
    ASSERT_TRUE(decodes_same(s, cuts)) << "round " << round;
  }
}

TEST(FrameDecoder, ByteByByte) {
  Stream s = make_stream(1 << 20);
  FrameDecoder d;
  Checker check(s.frames);
  for (char c : s.bytes) {
    ASSERT_TRUE(d.feed(std::string_view(&c, 1), check).is_ok());
  }
  EXPECT_TRUE(check.all_match());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, EmptyFeedsChangeNothing) {
  Stream s = make_stream(100);
  FrameDecoder d;
  Checker check(s.frames);
  std::string_view all(s.bytes);
  EXPECT_TRUE(d.feed({}, check).is_ok());
  EXPECT_TRUE(d.feed(all.substr(0, 30), check).is_ok());
  EXPECT_TRUE(d.feed({}, check).is_ok());
  EXPECT_TRUE(d.feed(all.substr(30), check).is_ok());
  EXPECT_TRUE(check.all_match());
}

TEST(FrameDecoder, BufferedCountsThePartialFrame) {
  std::string f = make_frame(FrameType::kRequest, 5, {{"a", "b"}}, "hello");  // 24 + 6 + 5
  FrameDecoder d;
  int frames = 0;
  auto on = [&](Frame&&) { ++frames; };
  EXPECT_TRUE(d.feed(std::string_view(f).substr(0, 10), on).is_ok());
  EXPECT_EQ(d.buffered(), 10u);
  EXPECT_TRUE(d.feed(std::string_view(f).substr(10, 20), on).is_ok());  // header + 6 payload bytes
  EXPECT_EQ(d.buffered(), 6u);  // the header has been consumed into the frame
  EXPECT_TRUE(d.feed(std::string_view(f).substr(30), on).is_ok());
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(frames, 1);
  EXPECT_FALSE(d.failed());
}

// --- bad input --------------------------------------------------------------------

std::string header(FrameType type, std::uint8_t status_or_flags, std::uint16_t meta_len, std::uint32_t body_len) {
  FrameHeader h;
  h.type = type;
  h.status_or_flags = status_or_flags;
  h.meta_len = meta_len;
  h.body_len = body_len;
  h.request_id = 77;
  std::string raw(kHeaderSize, '\0');
  encode_header(h, raw.data());
  return raw;
}

struct Rejection {
  StatusCode code;
  std::string message;
};

// Feeds one good frame, then `bad` in two steps: all but its last header byte
// (accepted, nothing delivered), then the rest. The good frame must have been
// delivered, the error must come with the 24th byte, nothing may be buffered or
// allocated for the body, and the decoder must stay failed.
Rejection expect_rejected_at_header(const std::string& bad, Limits limits = {}) {
  std::string good = make_frame(FrameType::kRequest, 1, {{"service", "S"}}, "body");
  FrameDecoder d(limits);
  int frames = 0;
  auto on = [&](Frame&& f) {
    ++frames;
    EXPECT_EQ(f.body(), "body");
  };
  std::string first = good + bad.substr(0, kHeaderSize - 1);
  // A wrong magic is rejected as soon as its two bytes are in (short garbage
  // must not wait for 24 bytes); every other bad header on its 24th byte.
  const bool bad_magic = static_cast<unsigned char>(bad[0]) != 0x7E || static_cast<unsigned char>(bad[1]) != 0x4E;
  Status st;
  std::size_t largest = 0;
  if (bad_magic) {
    AllocationProbe probe;
    st = d.feed(first, on);
    largest = probe.largest();
    EXPECT_EQ(frames, 1);
  } else {
    EXPECT_TRUE(d.feed(first, on).is_ok());
    EXPECT_EQ(frames, 1);
    EXPECT_EQ(d.buffered(), kHeaderSize - 1);
    EXPECT_FALSE(d.failed());
    AllocationProbe probe;
    st = d.feed(std::string_view(bad).substr(kHeaderSize - 1), on);
    largest = probe.largest();
  }
  EXPECT_FALSE(st.is_ok());
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_LT(largest, 4096u) << "allocated for a rejected frame";
  EXPECT_EQ(frames, 1);

  // Stays failed: the same error, nothing decoded, even from a valid frame.
  Status again = d.feed(good, on);
  EXPECT_EQ(again.code(), st.code());
  EXPECT_EQ(again.message(), st.message());
  EXPECT_EQ(frames, 1);
  EXPECT_TRUE(d.failed());

  // The same bytes in one read after the good frame: same verdict, the good
  // frame still delivered first.
  FrameDecoder d2(limits);
  int frames2 = 0;
  Status st2 = d2.feed(good + bad, [&](Frame&&) { ++frames2; });
  EXPECT_EQ(frames2, 1);
  EXPECT_EQ(st2.code(), st.code());
  EXPECT_EQ(st2.message(), st.message());
  return {st.code(), st.message()};
}

TEST(FrameDecoderErrors, BadMagic) {
  std::string h = header(FrameType::kRequest, 0, 0, 0);
  h[0] = '\x12';
  h[1] = '\x34';
  Rejection r = expect_rejected_at_header(h);
  EXPECT_EQ(r.code, StatusCode::kInvalidArgument);
  EXPECT_EQ(r.message, "protocol error: bad magic 0x1234");
}

TEST(FrameDecoderErrors, HttpRequestIsRecognised) {
  for (std::string line : {"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", "POST /rpc HTTP/1.1\r\nHost: x\r\n\r\n",
                           "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                           "HEAD / HTTP/1.1\r\nHost: example\r\n\r\n", "DELETE /x HTTP/1.1\r\nHost: y\r\n\r\n",
                           "OPTIONS * HTTP/1.1\r\nHost: y\r\n\r\n", "PATCH /x HTTP/1.1\r\nHost: y\r\n\r\n",
                           "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n"}) {
    ASSERT_GE(line.size(), kHeaderSize);
    Rejection r = expect_rejected_at_header(line);
    EXPECT_EQ(r.code, StatusCode::kInvalidArgument) << line;
    EXPECT_NE(r.message.find("bad magic 0x"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("(looks like an HTTP request)"), std::string::npos) << r.message;
  }
  Rejection get = expect_rejected_at_header("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(get.message, "protocol error: bad magic 0x4745 (looks like an HTTP request)");
}

TEST(FrameDecoderErrors, Http2PrefaceIsRecognised) {
  std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";  // exactly 24 bytes
  ASSERT_EQ(preface.size(), kHeaderSize);
  Rejection r = expect_rejected_at_header(preface);
  EXPECT_EQ(r.code, StatusCode::kInvalidArgument);
  EXPECT_EQ(r.message, "protocol error: bad magic 0x5052 (looks like an HTTP/2 preface)");
}

TEST(FrameDecoderErrors, TlsClientHelloIsRecognised) {
  // Record header (handshake, TLS 1.0 record version, length 0x0200), then a
  // ClientHello handshake header and client_version 3.3, then random bytes.
  std::string hello = {'\x16', '\x03', '\x01', '\x02', '\x00', '\x01', '\x00', '\x01', '\xfc', '\x03', '\x03'};
  hello += pattern(40, 1);
  Rejection r = expect_rejected_at_header(hello);
  EXPECT_EQ(r.code, StatusCode::kInvalidArgument);
  EXPECT_EQ(r.message, "protocol error: bad magic 0x1603 (looks like a TLS ClientHello)");
}

TEST(FrameDecoderErrors, UnknownVersion) {
  for (int v : {0, 2, 255}) {
    std::string h = header(FrameType::kRequest, 0, 0, 0);
    h[2] = static_cast<char>(v);
    Rejection r = expect_rejected_at_header(h);
    EXPECT_EQ(r.code, StatusCode::kInvalidArgument);
    EXPECT_EQ(r.message, "protocol error: unsupported version " + std::to_string(v));
  }
}

TEST(FrameDecoderErrors, UnknownFrameType) {
  for (int t : {0, 15, 255}) {
    std::string h = header(static_cast<FrameType>(t), 0, 0, 0);
    Rejection r = expect_rejected_at_header(h);
    EXPECT_EQ(r.code, StatusCode::kInvalidArgument);
    EXPECT_EQ(r.message, "protocol error: unknown frame type " + std::to_string(t));
  }
}

TEST(FrameDecoderErrors, UnknownFlagsOnARequestOrOneway) {
  for (FrameType t : {FrameType::kRequest, FrameType::kOneway}) {
    for (int f : {0x04, 0x80, 0xFF, 0x05}) {
      Rejection r = expect_rejected_at_header(header(t, static_cast<std::uint8_t>(f), 0, 0));
      EXPECT_EQ(r.code, StatusCode::kInvalidArgument);
      char want[64];
      std::snprintf(want, sizeof want, "protocol error: unknown request flags 0x%02X", f);
      EXPECT_EQ(r.message, want);
    }
  }
}

TEST(FrameDecoderErrors, KnownFlagsAndAnyStatusByteAreAccepted) {
  std::string s;
  s += make_frame(FrameType::kRequest, 1, {}, "x", 3, flags::kCompressedZstd);
  s += make_frame(FrameType::kOneway, 2, {}, "x", 3, flags::kKnownMask);
  // On responses byte 5 is the status; any value passes the decoder.
  s += make_frame(FrameType::kResponse, 3, {}, "x", 3, 0xFF);
  s += make_frame(FrameType::kResponse, 4, {}, "x", 3, 16);
  // Other types carry no flags; the decoder does not look at byte 5.
  s += make_frame(FrameType::kPush, 5, {}, "x", 3, 0xFF);
  // Serialization ids are not the decoder's business either.
  s += make_frame(FrameType::kRequest, 6, {}, "x", 0xFF, 0);
  FrameDecoder d;
  int n = 0;
  EXPECT_TRUE(d.feed(s, [&](Frame&&) { ++n; }).is_ok());
  EXPECT_EQ(n, 6);
}

TEST(FrameDecoderErrors, MetadataOverTheConfiguredMaximum) {
  Limits limits;
  limits.max_meta = 100;
  // Exactly the maximum is fine.
  {
    std::string f = make_frame(FrameType::kRequest, 1, {{"k", std::string(95, 'v')}}, "");
    ASSERT_EQ(decode_header_unchecked(f.data()).meta_len, 100);
    FrameDecoder d(limits);
    int n = 0;
    EXPECT_TRUE(d.feed(f, [&](Frame&&) { ++n; }).is_ok());
    EXPECT_EQ(n, 1);
  }
  Rejection r = expect_rejected_at_header(header(FrameType::kRequest, 0, 101, 0), limits);
  EXPECT_EQ(r.code, StatusCode::kInvalidArgument);
  EXPECT_EQ(r.message, "protocol error: metadata of 101 bytes exceeds the limit of 100");
  Rejection r2 = expect_rejected_at_header(header(FrameType::kResponse, 0, 0xFFFF, 0), limits);
  EXPECT_EQ(r2.message, "protocol error: metadata of 65535 bytes exceeds the limit of 100");
}

TEST(FrameDecoderErrors, BodyOverTheConfiguredMaximum) {
  Limits limits;
  limits.max_body = 1000;
  {
    std::string f = make_frame(FrameType::kResponse, 1, {}, std::string(1000, 'b'));
    FrameDecoder d(limits);
    int n = 0;
    EXPECT_TRUE(d.feed(f, [&](Frame&&) { ++n; }).is_ok());
    EXPECT_EQ(n, 1);
  }
  Rejection r = expect_rejected_at_header(header(FrameType::kRequest, 0, 0, 1001), limits);
  EXPECT_EQ(r.code, StatusCode::kResourceExhausted);
  EXPECT_EQ(r.message, "protocol error: body of 1001 bytes exceeds the limit of 1000");
}

// A forged header claiming 4 GiB - 1 of body against the default 64 MiB limit:
// rejected from the header alone, and no allocation of any size follows.
TEST(FrameDecoderErrors, FourGiBBodyClaimAgainstDefaultLimitAllocatesNothing) {
  for (FrameType t : {FrameType::kRequest, FrameType::kResponse, FrameType::kPush}) {
    Rejection r = expect_rejected_at_header(header(t, 0, 0, 0xFFFFFFFFu));
    EXPECT_EQ(r.code, StatusCode::kResourceExhausted);
    EXPECT_EQ(r.message, "protocol error: body of 4294967295 bytes exceeds the limit of 67108864");
  }
  Rejection r = expect_rejected_at_header(header(FrameType::kRequest, 0, 0, kDefaultMaxBody + 1));
  EXPECT_EQ(r.code, StatusCode::kResourceExhausted);
}

TEST(FrameDecoderErrors, ChecksRunInSpecOrder) {
  // Several faults at once: the first in magic, version, type, flags, meta,
  // body order is reported.
  Limits limits;
  limits.max_meta = 20;  // the helper's good frame has 12 + 4 bytes
  limits.max_body = 20;
  std::string h = header(FrameType::kRequest, 0x80, 21, 21);
  EXPECT_NE(expect_rejected_at_header(h, limits).message.find("unknown request flags"), std::string::npos);
  h = header(FrameType::kRequest, 0, 21, 21);
  EXPECT_NE(expect_rejected_at_header(h, limits).message.find("metadata of 21"), std::string::npos);
  h = header(static_cast<FrameType>(15), 0x80, 21, 21);
  EXPECT_NE(expect_rejected_at_header(h, limits).message.find("unknown frame type"), std::string::npos);
  h[2] = 7;
  EXPECT_NE(expect_rejected_at_header(h, limits).message.find("unsupported version 7"), std::string::npos);
  h[0] = 0;
  EXPECT_NE(expect_rejected_at_header(h, limits).message.find("bad magic"), std::string::npos);
}

TEST(FrameDecoderErrors, ValidateHeaderDirectly) {
  FrameHeader out;
  std::string good = header(FrameType::kCancel, 0, 0, 0);
  EXPECT_TRUE(validate_header(good.data(), Limits{}, &out).is_ok());
  EXPECT_EQ(out.type, FrameType::kCancel);
  EXPECT_EQ(out.request_id, 77u);
  std::string bad = header(FrameType::kRequest, 0, 0, 0);
  bad[1] = 0;
  EXPECT_EQ(validate_header(bad.data(), Limits{}, &out).code(), StatusCode::kInvalidArgument);
}

TEST(FrameDecoderErrors, ErrorInTheMiddleOfAChunkKeepsEarlierFrames) {
  Stream s = make_stream(2000);
  std::string bytes = s.bytes + header(static_cast<FrameType>(0), 0, 0, 0) + s.bytes;
  FrameDecoder d;
  Checker check(s.frames);
  Status st = d.feed(bytes, check);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(check.all_match());  // exactly the frames before the bad header
  EXPECT_TRUE(d.failed());
}

}  // namespace
}  // namespace tern::protocol

namespace tern::protocol {
namespace {

// Consumers skip a response body over max_body (docs/protocol.md §9): the
// frame is emitted with its metadata and no body, the body's bytes are
// discarded without buffering, and the frames behind it decode normally,
// whatever the read boundaries.
TEST(FrameDecoderSkip, OversizeResponseBodyIsSkippedAndFramingKept) {
  Limits limits;
  limits.max_body = 1000;
  std::string big = make_frame(FrameType::kResponse, 5, {{"k", "v"}}, std::string(5000, 'b'));
  std::string next = make_frame(FrameType::kResponse, 6, {}, std::string(10, 'c'));
  std::string stream = big + next;
  for (std::size_t chunk : {std::size_t(1), std::size_t(7), std::size_t(1000), stream.size()}) {
    FrameDecoder d(limits);
    d.set_skip_oversize_responses(true);
    std::vector<Frame> got;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      ASSERT_TRUE(d.feed(std::string_view(stream).substr(i, chunk), [&](Frame&& f) { got.push_back(std::move(f)); })
                      .is_ok());
      EXPECT_LE(d.buffered(), 1000u);  // never holds the skipped body
    }
    ASSERT_EQ(got.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(got[0].header.request_id, 5u);
    EXPECT_EQ(got[0].header.body_len, 5000u);
    EXPECT_TRUE(FrameDecoder::body_skipped(got[0]));
    EXPECT_EQ(got[0].body(), "");
    EXPECT_EQ(find_meta(got[0].meta(), "k"), "v");
    EXPECT_EQ(got[1].header.request_id, 6u);
    EXPECT_FALSE(FrameDecoder::body_skipped(got[1]));
    EXPECT_EQ(got[1].body(), std::string(10, 'c'));
  }
}

// Found by a hostile trial: a response over max_body whose metadata is
// 16 KiB or more was read straight into its buffer (read_target) and handed
// on by commit_read(), which never started skipping the body, so the body
// was decoded as frames (a ping hidden in it was answered). Read the way
// Connection does (read_target when it offers a target, else feed), the body
// is skipped whole and only the frame behind it follows.
TEST(FrameDecoderSkip, ASkippedBodyIsNeverDecodedWhateverTheMetadataSize) {
  Limits limits;
  limits.max_body = 1000;
  const std::string hidden = make_frame(FrameType::kPing, 0x1234, {}, "");
  std::string body = hidden + std::string(5000, 'Z');
  for (std::size_t meta_size : {std::size_t(1000), std::size_t(20000), std::size_t(40000), std::size_t(65000)}) {
    std::string big = make_frame(FrameType::kResponse, 5, {{"k", std::string(meta_size, 'm')}}, body);
    std::string next = make_frame(FrameType::kResponse, 6, {}, std::string(10, 'c'));
    std::string wire = big + next;
    for (std::size_t first : {std::size_t(24), std::size_t(124), std::size_t(4096)}) {
      FrameDecoder d(limits);
      d.set_skip_oversize_responses(true);
      std::vector<Frame> got;
      auto on_frame = [&](Frame&& f) { got.push_back(std::move(f)); };
      ASSERT_TRUE(d.feed(std::string_view(wire).substr(0, first), on_frame).is_ok());
      std::size_t at = first;
      while (at < wire.size()) {
        std::span<char> target = d.read_target();
        std::size_t n = std::min<std::size_t>(target.empty() ? 65536 : target.size(), wire.size() - at);
        if (target.empty()) {
          ASSERT_TRUE(d.feed(std::string_view(wire).substr(at, n), on_frame).is_ok()) << meta_size << " " << first;
        } else {
          std::memcpy(target.data(), wire.data() + at, n);
          d.commit_read(n, on_frame);
        }
        at += n;
      }
      ASSERT_EQ(got.size(), 2u) << meta_size << " " << first;
      EXPECT_EQ(got[0].header.request_id, 5u);
      EXPECT_TRUE(FrameDecoder::body_skipped(got[0]));
      EXPECT_EQ(find_meta(got[0].meta(), "k").size(), meta_size);
      EXPECT_EQ(got[1].header.type, FrameType::kResponse);  // not the hidden ping
      EXPECT_EQ(got[1].header.request_id, 6u);
      EXPECT_FALSE(FrameDecoder::body_skipped(got[1]));
      EXPECT_EQ(got[1].body(), std::string(10, 'c'));
    }
  }
}

TEST(FrameDecoderSkip, OtherFrameTypesOverTheLimitStillFailTheStream) {
  Limits limits;
  limits.max_body = 1000;
  for (FrameType t : {FrameType::kRequest, FrameType::kPush}) {
    FrameDecoder d(limits);
    d.set_skip_oversize_responses(true);
    int n = 0;
    Status s = d.feed(make_frame(t, 1, {}, std::string(1001, 'b')), [&](Frame&&) { ++n; });
    EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(s.message(), "protocol error: body of 1001 bytes exceeds the limit of 1000");
    EXPECT_EQ(n, 0);
  }
  // Without the option a response over the limit fails the stream, as before.
  FrameDecoder d(limits);
  Status s = d.feed(make_frame(FrameType::kResponse, 1, {}, std::string(1001, 'b')), [](Frame&&) {});
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
}


// --- direct reads and the buffer pool (issue #17) ------------------------------------

// What Connection::do_read does: before each read ask read_target(); read
// into it when non-empty (commit_read), else into a scratch buffer (feed).
// Read sizes are random (fixed seed), so direct reads start and stop at every
// kind of position; the frames must be the same as fed whole.
TEST(FrameDecoderDirectRead, MixedDirectReadsAndFeedsDecodeTheSame) {
  Stream s = make_stream(1 << 20);
  for (bool primed : {false, true}) {
    BufferPool::clear();
    if (primed) {
      std::string b;
      b.reserve((1 << 20) + 4096);
      BufferPool::give(std::move(b));
    }
    std::mt19937_64 rng(77 + primed);
    for (int round = 0; round < 20; ++round) {
      FrameDecoder d;
      Checker check(s.frames);
      std::string_view rest(s.bytes);
      std::size_t direct_bytes = 0;
      while (!rest.empty()) {
        std::size_t n = std::min<std::size_t>(rest.size(), 1 + rng() % (round % 2 ? 300000 : 70000));
        std::span<char> target = d.read_target();
        if (!target.empty()) {
          n = std::min(n, target.size());
          std::memcpy(target.data(), rest.data(), n);
          d.commit_read(n, check);
          direct_bytes += n;
        } else {
          ASSERT_TRUE(d.feed(rest.substr(0, n), check).is_ok());
        }
        rest.remove_prefix(n);
      }
      EXPECT_TRUE(check.all_match()) << "round " << round << " primed " << primed;
      EXPECT_EQ(d.buffered(), 0u);
      // Most of the 1 MiB body went in directly: at most the first 256 KiB
      // reservation (unprimed) and the reads before it were copied.
      EXPECT_GT(direct_bytes, (1u << 20) - FrameDecoder::kInitialReserve - 300000 - FrameDecoder::kDirectReadMin)
          << "round " << round;
    }
  }
  BufferPool::clear();
}

TEST(FrameDecoderDirectRead, NoTargetForSmallPayloadsOrBeforeCapacityIsProven) {
  BufferPool::clear();
  FrameDecoder d;
  EXPECT_TRUE(d.read_target().empty());  // between frames
  std::string big = make_frame(FrameType::kRequest, 1, {{"service", "S"}}, pattern(1 << 20, 1));
  ASSERT_TRUE(d.feed(std::string_view(big).substr(0, kHeaderSize + 100), [](Frame&&) {}).is_ok());
  // Only 256 KiB are reserved for a frame whose bytes have not come: no
  // target that would size the full 1 MiB for a peer that sent a header.
  EXPECT_TRUE(d.read_target().empty());
  ASSERT_TRUE(d.feed(std::string_view(big).substr(kHeaderSize + 100, FrameDecoder::kInitialReserve), [](Frame&&) {})
                  .is_ok());
  std::span<char> t = d.read_target();  // the exact size is reserved now
  EXPECT_EQ(t.size(), big.size() - kHeaderSize - 100 - FrameDecoder::kInitialReserve);
  // A small frame never gets one.
  FrameDecoder small;
  std::string f = make_frame(FrameType::kRequest, 2, {}, std::string(20000, 'x'));
  ASSERT_TRUE(small.feed(std::string_view(f).substr(0, 5000), [](Frame&&) {}).is_ok());
  EXPECT_TRUE(small.read_target().empty());  // 15 KiB left < kDirectReadMin
}

TEST(BufferPoolTest, KeepsLargeBuffersWithinItsBudgetAndHandsOutTheSmallestFit) {
  BufferPool::clear();
  std::string small;
  small.reserve(1000);
  BufferPool::give(std::move(small));
  EXPECT_EQ(BufferPool::held_bytes(), 0u);  // under kMinPooled: freed
  std::string huge;
  huge.reserve(BufferPool::kMaxPooled + 1);
  BufferPool::give(std::move(huge));
  EXPECT_EQ(BufferPool::held_bytes(), 0u);  // over kMaxPooled: freed
  std::string a, b;
  a.reserve(100000);
  b.reserve(2000000);
  const char* b_data = b.data();
  std::size_t held = a.capacity() + b.capacity();
  BufferPool::give(std::move(a));
  BufferPool::give(std::move(b));
  EXPECT_EQ(BufferPool::held_bytes(), held);
  EXPECT_TRUE(BufferPool::take(3000000).empty() && BufferPool::take(3000000).capacity() < 3000000);  // no fit
  std::string got = BufferPool::take(150000);  // the 2 MB one is the only fit
  EXPECT_EQ(got.data(), b_data);
  EXPECT_TRUE(got.empty());
  EXPECT_GE(got.capacity(), 2000000u);
  EXPECT_EQ(BufferPool::held_bytes(), held - got.capacity());
  EXPECT_LT(BufferPool::take(1000).capacity(), 1000u);  // small requests never take pooled buffers
  // The budget: giving more than kBudget keeps at most kBudget.
  BufferPool::clear();
  for (int i = 0; i < 40; ++i) {
    std::string x;
    x.reserve(4 << 20);
    BufferPool::give(std::move(x));
  }
  EXPECT_LE(BufferPool::held_bytes(), BufferPool::kBudget);
  EXPECT_GE(BufferPool::held_bytes(), BufferPool::kBudget - (4u << 20) - 64);
  BufferPool::clear();
  EXPECT_EQ(BufferPool::held_bytes(), 0u);
}

// Small buffers: kept per thread, at most kLocalSlots, within [kMinLocal,
// kMaxLocal], smallest fit first, invisible to other threads.
TEST(BufferPoolTest, RecyclesSmallBuffersPerThreadWithinItsBounds) {
  while (BufferPool::take_local(BufferPool::kMinLocal).capacity() >= BufferPool::kMinLocal) {
  }  // drain what earlier tests left on this thread
  std::string a, b;
  a.reserve(100);
  b.reserve(1000);
  const char* a_data = a.data();
  const char* b_data = b.data();
  BufferPool::recycle(std::move(a));
  BufferPool::recycle(std::move(b));
  EXPECT_TRUE(a.empty() && b.empty());
  std::thread([] { EXPECT_LT(BufferPool::take_local(50).capacity(), 50u); }).join();  // not shared
  EXPECT_LT(BufferPool::take_local(2000).capacity(), 2000u);  // no fit
  std::string got = BufferPool::take_local(50);  // smallest fit
  EXPECT_EQ(got.data(), a_data);
  EXPECT_TRUE(got.empty());
  got = BufferPool::take_local(50);
  EXPECT_EQ(got.data(), b_data);
  EXPECT_LT(BufferPool::take_local(50).capacity(), 50u);  // empty now
  std::string big;
  big.reserve(BufferPool::kMaxLocal + 1);
  BufferPool::recycle(std::move(big));  // too large for the cache (and the pool): freed
  EXPECT_LT(BufferPool::take_local(BufferPool::kMaxLocal).capacity(), BufferPool::kMaxLocal);
  for (std::size_t i = 0; i < BufferPool::kLocalSlots + 3; ++i) {
    std::string x;
    x.reserve(200 + i * 100);
    BufferPool::recycle(std::move(x));
  }
  std::size_t kept = 0, smallest = SIZE_MAX;
  for (;;) {
    std::string y = BufferPool::take_local(BufferPool::kMinLocal);
    if (y.capacity() < BufferPool::kMinLocal) break;
    ++kept;
    smallest = std::min(smallest, y.capacity());
  }
  EXPECT_EQ(kept, BufferPool::kLocalSlots);
  EXPECT_GE(smallest, 500u);  // a full cache keeps the larger buffers
}

// A buffer handed out again is the caller's whole: every byte of its
// capacity can be written (under ASan: take() and take_local() unpoison what
// the pool poisoned while it was kept).
TEST(BufferPoolTest, ATakenBufferIsWritableToItsCapacity) {
  while (BufferPool::take_local(BufferPool::kMinLocal).capacity() >= BufferPool::kMinLocal) {
  }
  BufferPool::clear();
  std::string small(100, 'x');
  const char* small_data = small.data();
  BufferPool::recycle(std::move(small));
  std::string t = BufferPool::take_local(100);
  ASSERT_EQ(t.data(), small_data);
  t.assign(t.capacity(), 'y');
  EXPECT_EQ(t.back(), 'y');
  std::string large(BufferPool::kMinPooled, 'x');
  const char* large_data = large.data();
  BufferPool::give(std::move(large));
  std::string u = BufferPool::take(BufferPool::kMinPooled);
  ASSERT_EQ(u.data(), large_data);
  u.assign(u.capacity(), 'y');
  EXPECT_EQ(u.back(), 'y');
}

// take_sized() hands a kept buffer out at the asked size without writing its
// bytes (the old contents show through), so a large body read straight into
// it is not zeroed first; take() still hands it out empty.
TEST(BufferPoolTest, TakeSizedKeepsTheOldBytesAndTakeEmpties) {
  BufferPool::clear();
  std::string kept(200 * 1024, 'k');
  const char* kept_data = kept.data();
  BufferPool::give(std::move(kept));
  std::string t = BufferPool::take_sized(150 * 1024);
  ASSERT_EQ(t.data(), kept_data);
  ASSERT_EQ(t.size(), 150u * 1024);
  EXPECT_EQ(t.find_first_not_of('k'), std::string::npos);  // not zeroed
  BufferPool::give(std::move(t));
  // Grows past the kept size: the new bytes are filled, the capacity reused.
  std::string g = BufferPool::take_sized(180 * 1024);
  ASSERT_EQ(g.data(), kept_data);
  EXPECT_EQ(g.size(), 180u * 1024);
  EXPECT_EQ(g.find_first_not_of('k'), 150u * 1024);
  BufferPool::give(std::move(g));
  std::string e = BufferPool::take(100 * 1024);
  EXPECT_EQ(e.data(), kept_data);
  EXPECT_TRUE(e.empty());
  EXPECT_GE(e.capacity(), 200u * 1024);
  // None fits: empty, nothing allocated.
  EXPECT_TRUE(BufferPool::take_sized(300 * 1024).empty());
  EXPECT_TRUE(BufferPool::take_sized(100).empty());  // below kMinPooled
  BufferPool::clear();
}

// A large body read straight into a reused (not zeroed) pooled buffer, in
// uneven pieces through read_target()/commit_read(), decodes to exactly the
// sent bytes: none of the previous frame's bytes survive.
TEST(BufferPoolTest, ADirectReadIntoAReusedBufferYieldsOnlyTheNewBody) {
  BufferPool::clear();
  std::string stale(1 << 20, 's');
  BufferPool::give(std::move(stale));
  const std::string body = pattern(700 * 1024, 9);
  std::string wire = make_frame(FrameType::kRequest, 5, {}, body);
  FrameDecoder d;
  int frames = 0;
  auto on_frame = [&](Frame&& f) {
    ++frames;
    EXPECT_EQ(f.header.request_id, 5u);
    EXPECT_TRUE(f.body() == body);
  };
  ASSERT_TRUE(d.feed(std::string_view(wire).substr(0, kHeaderSize + 1000), on_frame).is_ok());
  std::size_t at = kHeaderSize + 1000;
  std::size_t piece = 4097;
  while (at < wire.size()) {
    std::span<char> target = d.read_target();
    if (target.empty()) {  // the tail under kDirectReadMin goes through feed()
      ASSERT_TRUE(d.feed(std::string_view(wire).substr(at), on_frame).is_ok());
      break;
    }
    std::size_t n = std::min({piece, target.size(), wire.size() - at});
    std::memcpy(target.data(), wire.data() + at, n);
    d.commit_read(n, on_frame);
    at += n;
    piece = piece * 3 + 1;
  }
  EXPECT_EQ(frames, 1);
  BufferPool::clear();
}

#if defined(__SANITIZE_ADDRESS__)
#define TERN_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TERN_TEST_ASAN 1
#endif
#endif

#ifdef TERN_TEST_ASAN
// Under AddressSanitizer a kept buffer is poisoned (tern/buffer_pool.h): a
// read through a pointer into a buffer that has gone back to the pool (a view
// into a destroyed frame) is reported, as a read of freed memory would be,
// although the memory was not freed. Only built with ASan.
namespace {
[[gnu::noinline]] int read_byte(const char* p) { return *static_cast<const volatile char*>(p); }
}  // namespace

TEST(BufferPoolAsanDeathTest, ReadingARecycledSmallBufferIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        while (BufferPool::take_local(BufferPool::kMinLocal).capacity() >= BufferPool::kMinLocal) {
        }  // an empty cache: the buffer below is kept, not freed
        std::string s(100, 'x');
        const char* p = s.data() + 50;
        BufferPool::recycle(std::move(s));
        std::fprintf(stderr, "read %d\n", read_byte(p));
      },
      "use-after-poison");
}

TEST(BufferPoolAsanDeathTest, ReadingAPooledLargeBufferIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        BufferPool::clear();  // room in the budget: the buffer below is kept, not freed
        std::string s(BufferPool::kMinPooled, 'x');
        const char* p = s.data() + 1000;
        BufferPool::give(std::move(s));
        std::fprintf(stderr, "read %d\n", read_byte(p));
      },
      "use-after-poison");
}

// The same through a frame: a view into a destroyed small frame's payload.
TEST(BufferPoolAsanDeathTest, AViewIntoADestroyedFramesPayloadIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        while (BufferPool::take_local(BufferPool::kMinLocal).capacity() >= BufferPool::kMinLocal) {
        }
        std::string_view body;
        {
          Frame f;
          f.payload.assign(200, 'b');
          f.header.body_len = 200;
          body = f.body();
        }
        std::fprintf(stderr, "read %d\n", read_byte(body.data()));
      },
      "use-after-poison");
}
#endif  // TERN_TEST_ASAN

// The second large frame decodes into the first one's buffer: no allocation
// of its size (the pages were faulted in once).
TEST(BufferPoolTest, ASecondLargeFrameReusesTheFirstFramesBuffer) {
  BufferPool::clear();
  std::string f1 = make_frame(FrameType::kRequest, 1, {}, pattern(1 << 20, 2));
  std::string f2 = make_frame(FrameType::kRequest, 2, {}, pattern(1 << 20, 3));
  FrameDecoder d;
  const char* first_payload = nullptr;
  ASSERT_TRUE(d.feed(f1, [&](Frame&& f) { first_payload = f.payload.data(); }).is_ok());  // the frame dies here
  ASSERT_NE(first_payload, nullptr);
  EXPECT_GE(BufferPool::held_bytes(), std::size_t{1} << 20);
  std::size_t largest;
  const char* second_payload = nullptr;
  const std::string want = pattern(1 << 20, 3);
  {
    AllocationProbe probe;
    ASSERT_TRUE(d.feed(f2, [&](Frame&& f) {
                   second_payload = f.payload.data();
                   EXPECT_TRUE(f.body() == want);
                 }).is_ok());
    largest = probe.largest();
  }
  EXPECT_EQ(second_payload, first_payload);
  EXPECT_LT(largest, BufferPool::kMinPooled);
  // And an encoded response grows into a pooled buffer too.
  BufferPool::clear();
  std::string spare;
  spare.reserve(3 << 20);
  const char* spare_data = spare.data();
  BufferPool::give(std::move(spare));
  FrameBuilder b(FrameType::kResponse, 7);
  b.begin_body();
  std::string body = pattern(2 << 20, 4);
  b.write(body.data(), body.size());
  std::string out = b.finish();
  EXPECT_EQ(out.data(), spare_data);
  EXPECT_EQ(out.substr(kHeaderSize), body);
  BufferPool::clear();
}

}  // namespace
}  // namespace tern::protocol
