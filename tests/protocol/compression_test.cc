// Body compression formats (tern/protocol/compression.h): round trips, the
// byte-5 bits compress_frame sets, the threshold, and bounded decompression
// of bombs and corrupt input.
#include "tern/protocol/compression.h"

#include <gtest/gtest.h>

#include <zstd.h>

#include <random>
#include <string>

#include "tern/protocol/frame.h"

namespace {

using tern::StatusCode;
using tern::protocol::Compression;
namespace protocol = tern::protocol;

std::string text(std::size_t n) {
  std::string s;
  while (s.size() < n) s += "the quick brown fox jumps over the lazy dog ";
  s.resize(n);
  return s;
}

std::string frame(protocol::FrameType type, std::string_view body) {
  protocol::FrameBuilder b(type, 7);
  b.add_meta("service", "S");
  b.add_meta("method", "m");
  b.begin_body();
  b.append_body(body);
  return b.finish();
}

TEST(Compression, NamesParse) {
  EXPECT_EQ(protocol::parse_compression("zstd").value(), Compression::kZstd);
  EXPECT_EQ(protocol::parse_compression("lz4").value(), Compression::kLz4);
  EXPECT_EQ(protocol::parse_compression("none").value(), Compression::kNone);
  auto bad = protocol::parse_compression("gzip");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "unknown compression 'gzip' (none, zstd or lz4)");
  EXPECT_EQ(protocol::compression_name(Compression::kLz4), "lz4");
}

TEST(Compression, RoundTripsBothAlgorithms) {
  for (Compression c : {Compression::kZstd, Compression::kLz4}) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{1} << 20}) {
      std::string plain = text(n);
      std::string packed = protocol::compress(c, plain);
      if (n >= 1000) {
        EXPECT_LT(packed.size(), plain.size() / 4) << protocol::compression_name(c) << " " << n;
      }
      auto back = protocol::decompress(c, packed, 64u << 20);
      ASSERT_TRUE(back.has_value()) << protocol::compression_name(c) << " " << n << ": " << back.status();
      EXPECT_EQ(*back, plain);
    }
  }
}

TEST(Compression, Lz4CarriesItsSizeBigEndian) {
  std::string packed = protocol::compress(Compression::kLz4, text(0x010203));
  ASSERT_GE(packed.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(packed[0]), 0x00);
  EXPECT_EQ(static_cast<unsigned char>(packed[1]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(packed[2]), 0x02);
  EXPECT_EQ(static_cast<unsigned char>(packed[3]), 0x03);
}

TEST(Compression, ZstdDeclaresItsContentSize) {
  std::string packed = protocol::compress(Compression::kZstd, text(5000));
  EXPECT_EQ(ZSTD_getFrameContentSize(packed.data(), packed.size()), 5000u);
}

TEST(Compression, BombsAreRefusedBeforeAllocating) {
  // 64 MiB of zeros compress to a few KiB; the limit is 1 MiB.
  std::string zeros(64u << 20, '\0');
  std::string z = protocol::compress(Compression::kZstd, zeros);
  std::string l = protocol::compress(Compression::kLz4, zeros);
  ASSERT_LT(z.size(), 64u * 1024);
  ASSERT_LT(l.size(), 512u * 1024);
  zeros.clear();
  zeros.shrink_to_fit();
  auto rz = protocol::decompress(Compression::kZstd, z, 1u << 20);
  ASSERT_FALSE(rz.has_value());
  EXPECT_EQ(rz.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rz.status().message(), "zstd body of 67108864 bytes over the limit of 1048576 bytes");
  auto rl = protocol::decompress(Compression::kLz4, l, 1u << 20);
  ASSERT_FALSE(rl.has_value());
  EXPECT_EQ(rl.status().message(), "lz4 body of 67108864 bytes over the limit of 1048576 bytes");
  // A forged lz4 prefix claiming 4 GiB - 1 is refused on its 4 bytes.
  auto forged = protocol::decompress(Compression::kLz4, std::string("\xFF\xFF\xFF\xFF\x00", 5), 64u << 20);
  EXPECT_EQ(forged.status().message(), "lz4 body of 4294967295 bytes over the limit of 67108864 bytes");
}

TEST(Compression, CorruptInputIsInvalidArgument) {
  std::mt19937 rng(42);
  std::string junk(300, '\0');
  for (auto& ch : junk) ch = static_cast<char>(rng());
  auto a = protocol::decompress(Compression::kZstd, junk, 1u << 20);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.status().message().rfind("corrupt zstd body: ", 0), 0u) << a.status();

  // A valid zstd frame with its last bytes damaged, or with bytes after it.
  std::string good = protocol::compress(Compression::kZstd, text(10000));
  std::string damaged = good;
  for (std::size_t i = damaged.size() / 2; i < damaged.size(); ++i) damaged[i] = static_cast<char>(~damaged[i]);
  auto b = protocol::decompress(Compression::kZstd, damaged, 1u << 20);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.status().message().rfind("corrupt zstd body: ", 0), 0u) << b.status();
  auto c = protocol::decompress(Compression::kZstd, good + "x", 1u << 20);
  EXPECT_EQ(c.status().message(), "corrupt zstd body: bytes after the frame");

  std::string lz = protocol::compress(Compression::kLz4, text(10000));
  auto d = protocol::decompress(Compression::kLz4, lz.substr(0, lz.size() / 2), 1u << 20);
  EXPECT_EQ(d.status().message(), "corrupt lz4 body: malformed block");
  auto e = protocol::decompress(Compression::kLz4, "\x00\x01", 1u << 20);
  EXPECT_EQ(e.status().message(), "corrupt lz4 body: shorter than its size prefix");
  std::string prefix_lies = lz;
  prefix_lies[3] = static_cast<char>(prefix_lies[3] + 1);  // declares one byte more than the block holds
  auto f = protocol::decompress(Compression::kLz4, prefix_lies, 1u << 20);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.status().message().rfind("corrupt lz4 body: ", 0), 0u) << f.status();
}

TEST(Compression, CompressFrameSetsTheRequestFlagAboveTheThreshold) {
  std::string body = text(2000);
  std::string f = frame(protocol::FrameType::kRequest, body);
  std::string small = f;
  EXPECT_FALSE(protocol::compress_frame(small, Compression::kZstd, 2001));  // below the threshold
  EXPECT_EQ(small, f);
  ASSERT_TRUE(protocol::compress_frame(f, Compression::kZstd, 2000));  // at the threshold
  auto h = protocol::decode_header_unchecked(f.data());
  EXPECT_EQ(h.status_or_flags, protocol::flags::kCompressedZstd);
  EXPECT_EQ(h.request_id, 7u);
  EXPECT_LT(h.body_len, 200u);
  EXPECT_EQ(f.size(), protocol::kHeaderSize + h.meta_len + h.body_len);
  EXPECT_EQ(protocol::find_meta(std::string_view(f).substr(protocol::kHeaderSize, h.meta_len), "method"), "m");
  auto back = protocol::decompress(Compression::kZstd, std::string_view(f).substr(protocol::kHeaderSize + h.meta_len),
                                   1u << 20);
  EXPECT_EQ(back.value(), body);

  std::string oneway = frame(protocol::FrameType::kOneway, body);
  ASSERT_TRUE(protocol::compress_frame(oneway, Compression::kLz4, 0));
  EXPECT_EQ(protocol::decode_header_unchecked(oneway.data()).status_or_flags, protocol::flags::kCompressedLz4);
}

TEST(Compression, CompressFrameSetsTheResponseBitsNextToTheStatus) {
  std::string f = frame(protocol::FrameType::kResponse, text(4096));
  ASSERT_TRUE(protocol::compress_frame(f, Compression::kLz4, 1024));
  auto h = protocol::decode_header_unchecked(f.data());
  EXPECT_EQ(h.status_or_flags, 0x80);
  EXPECT_EQ(h.status(), StatusCode::kOk);
  EXPECT_EQ(protocol::response_compression(h.status_or_flags), Compression::kLz4);
  std::string z = frame(protocol::FrameType::kResponse, text(4096));
  ASSERT_TRUE(protocol::compress_frame(z, Compression::kZstd, 1024));
  EXPECT_EQ(protocol::decode_header_unchecked(z.data()).status_or_flags, 0x40);
}

TEST(Compression, IncompressibleAndEmptyBodiesStayAsTheyAre) {
  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (auto& ch : noise) ch = static_cast<char>(rng());
  std::string f = frame(protocol::FrameType::kRequest, noise);
  std::string copy = f;
  EXPECT_FALSE(protocol::compress_frame(f, Compression::kZstd, 0));
  EXPECT_FALSE(protocol::compress_frame(f, Compression::kLz4, 0));
  EXPECT_EQ(f, copy);
  std::string empty = frame(protocol::FrameType::kRequest, "");
  EXPECT_FALSE(protocol::compress_frame(empty, Compression::kZstd, 0));
  EXPECT_FALSE(protocol::compress_frame(empty, Compression::kNone, 0));
}

TEST(Compression, Byte5Readers) {
  bool both = false;
  EXPECT_EQ(protocol::request_compression(0x01, &both), Compression::kZstd);
  EXPECT_FALSE(both);
  EXPECT_EQ(protocol::request_compression(0x02, &both), Compression::kLz4);
  protocol::request_compression(0x03, &both);
  EXPECT_TRUE(both);
  EXPECT_EQ(protocol::request_compression(0x00), Compression::kNone);
  EXPECT_EQ(protocol::response_compression(0x40), Compression::kZstd);
  EXPECT_EQ(protocol::response_compression(0x0C), Compression::kNone);  // UNIMPLEMENTED, plain
  protocol::FrameHeader h;
  h.status_or_flags = 0x40 | 5;
  EXPECT_EQ(h.status(), StatusCode::kNotFound);
}

}  // namespace
