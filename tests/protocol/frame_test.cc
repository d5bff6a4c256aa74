// Tests of tern/protocol/frame.h: the 24-byte header, FrameBuilder and the
// metadata encoding (docs/protocol.md §2-§4). The documented hex dump of
// Calculator.add(1, 2) is checked byte for byte here, so the spec cannot drift
// from the code.
#include "tern/protocol/frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tern/protocol/decoder.h"
#include "tern/serialization/msgpack_codec.h"

namespace tern::protocol {
namespace {

std::string hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xF];
  }
  return out;
}

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s += static_cast<char>(b);
  return s;
}

using Entries = std::vector<std::pair<std::string, std::string>>;

Entries collect(std::string_view meta, Status* status = nullptr) {
  Entries out;
  Status s = for_each_meta(meta, [&](std::string_view k, std::string_view v) { out.emplace_back(k, v); });
  if (status) *status = s;
  return out;
}

// --- header -----------------------------------------------------------------

TEST(FrameHeader, EncodesEveryFieldBigEndianAtItsOffset) {
  FrameHeader h;
  h.type = FrameType::kResponse;
  h.serialization = 0x03;
  h.status_or_flags = 0x0E;
  h.meta_len = 0x0102;
  h.request_id = 0x0102030405060708ull;
  h.body_len = 0x0A0B0C0D;
  h.timeout_ms = 0x11223344;
  char raw[kHeaderSize];
  encode_header(h, raw);
  EXPECT_EQ(hex(std::string_view(raw, kHeaderSize)),
            "7e4e"                // magic
            "01"                  // version
            "02"                  // type: response
            "03"                  // serialization: msgpack
            "0e"                  // status / flags
            "0102"                // metadata length
            "0102030405060708"    // request id
            "0a0b0c0d"            // body length
            "11223344");          // timeout
}

TEST(FrameHeader, RoundTripsEveryFieldIncludingMaxValues) {
  FrameHeader h;
  h.type = FrameType::kGoaway;  // the highest type
  h.serialization = 0xFF;
  h.status_or_flags = 0xFF;
  h.meta_len = std::numeric_limits<std::uint16_t>::max();
  h.request_id = std::numeric_limits<std::uint64_t>::max();
  h.body_len = std::numeric_limits<std::uint32_t>::max();
  h.timeout_ms = std::numeric_limits<std::uint32_t>::max();
  char raw[kHeaderSize];
  encode_header(h, raw);
  EXPECT_EQ(hex(std::string_view(raw, 4)), "7e4e0108");
  FrameHeader d = decode_header_unchecked(raw);
  EXPECT_EQ(d.type, FrameType::kGoaway);
  EXPECT_EQ(d.serialization, 0xFF);
  EXPECT_EQ(d.status_or_flags, 0xFF);
  EXPECT_EQ(d.meta_len, 0xFFFF);
  EXPECT_EQ(d.request_id, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(d.body_len, 0xFFFFFFFFu);
  EXPECT_EQ(d.timeout_ms, 0xFFFFFFFFu);
}

TEST(FrameHeader, RoundTripsZeroAndEachSingleBitOfTheWideFields) {
  for (int bit = 0; bit < 64; ++bit) {
    FrameHeader h;
    h.type = FrameType::kRequest;
    h.request_id = 1ull << bit;
    h.body_len = static_cast<std::uint32_t>(1ull << (bit % 32));
    h.timeout_ms = static_cast<std::uint32_t>(1ull << (31 - bit % 32));
    h.meta_len = static_cast<std::uint16_t>(1u << (bit % 16));
    char raw[kHeaderSize];
    encode_header(h, raw);
    FrameHeader d = decode_header_unchecked(raw);
    EXPECT_EQ(d.request_id, h.request_id) << bit;
    EXPECT_EQ(d.body_len, h.body_len) << bit;
    EXPECT_EQ(d.timeout_ms, h.timeout_ms) << bit;
    EXPECT_EQ(d.meta_len, h.meta_len) << bit;
  }
  FrameHeader zero;
  char raw[kHeaderSize];
  encode_header(zero, raw);
  EXPECT_EQ(hex(std::string_view(raw, kHeaderSize)), "7e4e0101" + std::string(40, '0'));
}

TEST(FrameHeader, EveryFrameTypeRoundTripsAndHasItsNumberAndName) {
  const std::pair<FrameType, std::string_view> kTypes[] = {
      {FrameType::kRequest, "request"}, {FrameType::kResponse, "response"}, {FrameType::kOneway, "oneway"},
      {FrameType::kPing, "ping"},       {FrameType::kPong, "pong"},         {FrameType::kPush, "push"},
      {FrameType::kCancel, "cancel"},   {FrameType::kGoaway, "goaway"},
      {FrameType::kStreamOpen, "stream_open"},
      {FrameType::kStreamMessage, "stream_message"},
      {FrameType::kStreamHalfClose, "stream_half_close"},
      {FrameType::kStreamCancel, "stream_cancel"},
      {FrameType::kStreamWindow, "stream_window"},
      {FrameType::kStreamFinish, "stream_finish"},
  };
  int number = 1;
  for (auto [type, name] : kTypes) {
    EXPECT_EQ(static_cast<int>(type), number++);
    EXPECT_EQ(frame_type_name(type), name);
    FrameHeader h;
    h.type = type;
    char raw[kHeaderSize];
    encode_header(h, raw);
    EXPECT_EQ(static_cast<unsigned char>(raw[3]), static_cast<unsigned char>(type));
    EXPECT_EQ(decode_header_unchecked(raw).type, type);
  }
  EXPECT_EQ(kMaxFrameType, 14);
  EXPECT_EQ(frame_type_name(static_cast<FrameType>(0)), "?");
  EXPECT_EQ(frame_type_name(static_cast<FrameType>(15)), "?");
  EXPECT_EQ(frame_type_name(static_cast<FrameType>(255)), "?");
}

TEST(FrameHeader, ConstantsMatchTheSpec) {
  EXPECT_EQ(kMagic, 0x7E4E);
  EXPECT_EQ(kVersion, 1);
  EXPECT_EQ(kHeaderSize, 24u);
  EXPECT_EQ(kDefaultMaxBody, 64u * 1024 * 1024);
  EXPECT_EQ(kDefaultMaxMeta, 65535u);
  EXPECT_EQ(static_cast<int>(SerializationId::kRaw), 0);
  EXPECT_EQ(static_cast<int>(SerializationId::kProtobuf), 1);
  EXPECT_EQ(static_cast<int>(SerializationId::kJson), 2);
  EXPECT_EQ(static_cast<int>(SerializationId::kMsgpack), 3);
  EXPECT_EQ(flags::kCompressedZstd, 0x01);
  EXPECT_EQ(flags::kCompressedLz4, 0x02);
  EXPECT_EQ(flags::kKnownMask, 0x03);
  Limits defaults;
  EXPECT_EQ(defaults.max_body, kDefaultMaxBody);
  EXPECT_EQ(defaults.max_meta, kDefaultMaxMeta);
}

TEST(FrameHeader, StatusReadsTheStatusByte) {
  FrameHeader h;
  h.status_or_flags = 12;
  EXPECT_EQ(h.status(), StatusCode::kUnimplemented);
}

TEST(FrameHeader, ControlFrameIsAHeaderOnly) {
  std::string f = encode_control_frame(FrameType::kPing, 0x1234);
  ASSERT_EQ(f.size(), kHeaderSize);
  EXPECT_EQ(hex(f), "7e4e010400000000000000000000123400000000" "00000000");
  FrameHeader d = decode_header_unchecked(f.data());
  EXPECT_EQ(d.type, FrameType::kPing);
  EXPECT_EQ(d.request_id, 0x1234u);
  EXPECT_EQ(d.meta_len, 0);
  EXPECT_EQ(d.body_len, 0u);
}

// --- FrameBuilder -------------------------------------------------------------

TEST(FrameBuilder, BuildsHeaderMetadataAndBody) {
  FrameBuilder b(FrameType::kRequest, 42);
  b.header().serialization = 3;
  b.header().status_or_flags = flags::kCompressedZstd;
  b.header().timeout_ms = 1500;
  ASSERT_TRUE(b.add_meta("service", "Calculator"));
  ASSERT_TRUE(b.add_meta("method", "add"));
  ASSERT_TRUE(b.add_meta("trace-id", ""));
  b.begin_body();
  b.write("\x92", 1);
  b.append_body("\x01\x02");
  std::string f = b.finish();

  FrameHeader h = decode_header_unchecked(f.data());
  EXPECT_EQ(h.type, FrameType::kRequest);
  EXPECT_EQ(h.request_id, 42u);
  EXPECT_EQ(h.serialization, 3);
  EXPECT_EQ(h.status_or_flags, flags::kCompressedZstd);
  EXPECT_EQ(h.timeout_ms, 1500u);
  const std::size_t meta_len = (2 + 7 + 2 + 10) + (2 + 6 + 2 + 3) + (2 + 8 + 2 + 0);
  EXPECT_EQ(h.meta_len, meta_len);
  EXPECT_EQ(h.body_len, 3u);
  ASSERT_EQ(f.size(), kHeaderSize + meta_len + 3);

  std::string_view meta = std::string_view(f).substr(kHeaderSize, meta_len);
  Status s;
  Entries e = collect(meta, &s);
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(e, (Entries{{"service", "Calculator"}, {"method", "add"}, {"trace-id", ""}}));
  EXPECT_EQ(std::string_view(f).substr(kHeaderSize + meta_len), "\x92\x01\x02");

  EXPECT_EQ(find_meta(meta, "service"), "Calculator");
  EXPECT_EQ(find_meta(meta, "method"), "add");
  EXPECT_EQ(find_meta(meta, "version"), "");
  EXPECT_EQ(find_meta(meta, "version").data(), nullptr);     // absent
  EXPECT_NE(find_meta(meta, "trace-id").data(), nullptr);    // present but empty
  EXPECT_EQ(find_meta(meta, "trace-id"), "");
}

TEST(FrameBuilder, EmptyFrameIsJustTheHeader) {
  FrameBuilder b(FrameType::kOneway, 7);
  std::string f = b.finish();
  ASSERT_EQ(f.size(), kHeaderSize);
  FrameHeader h = decode_header_unchecked(f.data());
  EXPECT_EQ(h.type, FrameType::kOneway);
  EXPECT_EQ(h.request_id, 7u);
  EXPECT_EQ(h.meta_len, 0);
  EXPECT_EQ(h.body_len, 0u);
}

TEST(FrameBuilder, MetadataOnlyAndBodyOnly) {
  {
    FrameBuilder b(FrameType::kRequest, 1);
    ASSERT_TRUE(b.add_meta("k", "v"));
    std::string f = b.finish();  // finish() ends the metadata itself
    FrameHeader h = decode_header_unchecked(f.data());
    EXPECT_EQ(h.meta_len, 6);
    EXPECT_EQ(h.body_len, 0u);
    EXPECT_EQ(find_meta(std::string_view(f).substr(kHeaderSize), "k"), "v");
  }
  {
    FrameBuilder b(FrameType::kResponse, 1);
    b.begin_body();
    b.append_body("result");
    std::string f = b.finish();
    FrameHeader h = decode_header_unchecked(f.data());
    EXPECT_EQ(h.meta_len, 0);
    EXPECT_EQ(h.body_len, 6u);
    EXPECT_EQ(std::string_view(f).substr(kHeaderSize), "result");
  }
}

TEST(FrameBuilder, AddMetaAfterBeginBodyIsRefused) {
  FrameBuilder b(FrameType::kRequest, 1);
  ASSERT_TRUE(b.add_meta("service", "S"));
  b.begin_body();
  b.begin_body();  // idempotent
  EXPECT_FALSE(b.add_meta("method", "m"));
  b.append_body("x");
  std::string f = b.finish();
  FrameHeader h = decode_header_unchecked(f.data());
  EXPECT_EQ(h.meta_len, 2 + 7 + 2 + 1);
  EXPECT_EQ(h.body_len, 1u);
}

TEST(FrameBuilder, MetadataLimitIs65535BytesInTotal) {
  // One entry filling the metadata exactly: 2 + 1 + 2 + 65530 = 65535.
  {
    FrameBuilder b(FrameType::kRequest, 1);
    EXPECT_TRUE(b.add_meta("k", std::string(65530, 'v')));
    EXPECT_FALSE(b.add_meta("", ""));  // 4 more bytes would not fit
    std::string f = b.finish();
    EXPECT_EQ(decode_header_unchecked(f.data()).meta_len, 65535);
    EXPECT_EQ(find_meta(std::string_view(f).substr(kHeaderSize), "k").size(), 65530u);
  }
  // One byte more is refused, and nothing is added.
  {
    FrameBuilder b(FrameType::kRequest, 1);
    EXPECT_FALSE(b.add_meta("k", std::string(65531, 'v')));
    EXPECT_TRUE(b.add_meta("a", "b"));
    std::string f = b.finish();
    EXPECT_EQ(decode_header_unchecked(f.data()).meta_len, 6);
  }
  // A key or value longer than a u16 can say.
  {
    FrameBuilder b(FrameType::kRequest, 1);
    EXPECT_FALSE(b.add_meta(std::string(65536, 'k'), ""));
    EXPECT_FALSE(b.add_meta("k", std::string(65536, 'v')));
    std::string f = b.finish();
    EXPECT_EQ(decode_header_unchecked(f.data()).meta_len, 0);
  }
}

TEST(FrameBuilder, BodyCanBeSerializedInPlaceWithMsgpack) {
  FrameBuilder b(FrameType::kRequest, 1);
  b.begin_body();
  serialization::MsgpackCodec::encode_args(b, 1, std::string("two"), 3.5);
  std::string f = b.finish();
  FrameHeader h = decode_header_unchecked(f.data());
  ASSERT_EQ(f.size(), kHeaderSize + h.body_len);
  auto args = serialization::MsgpackCodec::decode_args<int, std::string, double>(std::string_view(f).substr(kHeaderSize));
  ASSERT_TRUE(args.has_value()) << args.status().to_string();
  EXPECT_EQ(*args, std::make_tuple(1, std::string("two"), 3.5));
}

// The hex dumps of docs/protocol.md §9, byte for byte: what the consumer puts on
// the wire for Calculator.add(1, 2) (Reference::new_request + MsgpackCodec, then
// the channel patches request id 1 and the remaining timeout 3000 ms in), and
// what the provider answers (ServerCall::start_response + encode_value(3)).
TEST(FrameBuilder, DocumentedCalculatorAddExample) {
  FrameBuilder req(FrameType::kRequest, 1);
  req.header().serialization = static_cast<std::uint8_t>(SerializationId::kMsgpack);
  req.header().timeout_ms = 3000;
  ASSERT_TRUE(req.add_meta(meta_keys::kService, "Calculator"));
  ASSERT_TRUE(req.add_meta(meta_keys::kMethod, "add"));
  req.begin_body();
  serialization::MsgpackCodec::encode_args(req, 1, 2);
  std::string request = req.finish();
  EXPECT_EQ(hex(request),
            "7e4e0101" "0300" "0022" "0000000000000001" "00000003" "00000bb8"  // header
            "0007" "73657276696365" "000a" "43616c63756c61746f72"              // service=Calculator
            "0006" "6d6574686f64" "0003" "616464"                              // method=add
            "920102");                                                         // [1, 2]
  EXPECT_EQ(request.size(), 61u);

  FrameBuilder resp(FrameType::kResponse, 1);
  resp.header().serialization = static_cast<std::uint8_t>(SerializationId::kMsgpack);
  resp.begin_body();
  serialization::MsgpackCodec::encode_value(resp, 3);
  std::string response = resp.finish();
  EXPECT_EQ(hex(response), "7e4e0102" "0300" "0000" "0000000000000001" "00000001" "00000000" "03");

  // An error response: status UNIMPLEMENTED (12), body = the message text.
  FrameBuilder err(FrameType::kResponse, 1);
  err.header().serialization = static_cast<std::uint8_t>(SerializationId::kMsgpack);
  err.header().status_or_flags = static_cast<std::uint8_t>(StatusCode::kUnimplemented);
  err.begin_body();
  err.append_body("unknown method 'Calculator.mul'");
  std::string error = err.finish();
  EXPECT_EQ(hex(error.substr(0, kHeaderSize)), "7e4e0102" "030c" "0000" "0000000000000001" "0000001f" "00000000");
  EXPECT_EQ(error.substr(kHeaderSize), "unknown method 'Calculator.mul'");
}

// --- metadata parsing -----------------------------------------------------------

TEST(Metadata, EmptyMetadataHasNoEntries) {
  Status s(StatusCode::kInternal, "unset");
  EXPECT_TRUE(collect("", &s).empty());
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(find_meta("", "service").data(), nullptr);
}

TEST(Metadata, EntriesKeepOrderAndDuplicatesFindTheFirst) {
  std::string meta = bytes({0, 1, 'a', 0, 1, '1', 0, 1, 'b', 0, 0, 0, 1, 'a', 0, 1, '2', 0, 0, 0, 0});
  Status s;
  Entries e = collect(meta, &s);
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(e, (Entries{{"a", "1"}, {"b", ""}, {"a", "2"}, {"", ""}}));
  EXPECT_EQ(find_meta(meta, "a"), "1");
  EXPECT_EQ(find_meta(meta, ""), "");
  EXPECT_NE(find_meta(meta, "").data(), nullptr);
}

TEST(Metadata, KeysAndValuesAreBinarySafe) {
  FrameBuilder b(FrameType::kRequest, 1);
  std::string key("k\0y", 3), value("\0\xFF\n", 3);
  ASSERT_TRUE(b.add_meta(key, value));
  std::string f = b.finish();
  EXPECT_EQ(find_meta(std::string_view(f).substr(kHeaderSize), key), value);
}

struct BadMeta {
  const char* name;
  std::string meta;
  std::size_t visited_before_error;
};

TEST(Metadata, TruncatedOrForgedLengthsAreInvalidArgument) {
  const BadMeta kCases[] = {
      {"one byte of key length", bytes({0}), 0},
      {"key length only", bytes({0, 3}), 0},
      {"key runs past the end", bytes({0, 3, 'a', 'b'}), 0},
      {"key without value length", bytes({0, 1, 'a'}), 0},
      {"half a value length", bytes({0, 1, 'a', 0}), 0},
      {"value runs past the end", bytes({0, 1, 'a', 0, 2, 'x'}), 0},
      {"forged key length 0xFFFF", bytes({0xFF, 0xFF, 'a', 0, 0}), 0},
      {"forged value length 0xFFFF", bytes({0, 1, 'a', 0xFF, 0xFF, 'x'}), 0},
      {"good entry then garbage", bytes({0, 1, 'a', 0, 1, '1', 0x7F}), 1},
      {"good entry then forged", bytes({0, 1, 'a', 0, 1, '1', 0, 1, 'b', 0x80, 0x00}), 1},
  };
  for (const auto& c : kCases) {
    Status s;
    Entries e = collect(c.meta, &s);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_FALSE(s.message().empty()) << c.name;
    EXPECT_EQ(e.size(), c.visited_before_error) << c.name;  // entries before the bad one were visited
    EXPECT_EQ(find_meta(c.meta, "zzz").data(), nullptr) << c.name;
  }
}

TEST(Metadata, EveryTruncationOfValidMetadataIsDetected) {
  FrameBuilder b(FrameType::kRequest, 1);
  ASSERT_TRUE(b.add_meta("service", "Calculator"));
  ASSERT_TRUE(b.add_meta("", "v"));
  ASSERT_TRUE(b.add_meta("trace-id", ""));
  ASSERT_TRUE(b.add_meta("method", "add"));
  std::string f = b.finish();
  std::string meta = f.substr(kHeaderSize);
  // Entry boundaries: a prefix ending there is valid metadata with fewer entries.
  const std::size_t boundaries[] = {0, 21, 26, 38, meta.size()};
  for (std::size_t n = 0; n <= meta.size(); ++n) {
    Status s;
    Entries e = collect(std::string_view(meta).substr(0, n), &s);
    bool boundary = std::find(std::begin(boundaries), std::end(boundaries), n) != std::end(boundaries);
    if (boundary) {
      EXPECT_TRUE(s.is_ok()) << n;
    } else {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "prefix " << n;
    }
    for (const auto& [k, v] : e) EXPECT_LE(k.size() + v.size(), n);  // never reads past the end
  }
  EXPECT_EQ(collect(meta).size(), 4u);
}

}  // namespace
}  // namespace tern::protocol
