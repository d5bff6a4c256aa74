// W3C traceparent parsing and formatting, and the sampler (tern/trace/context.h,
// tern/trace/sampler.h).
#include "tern/trace/context.h"

#include <gtest/gtest.h>

#include "tern/trace/sampler.h"

using namespace tern::trace;

namespace {
// The spec's example.
constexpr std::string_view kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}  // namespace

TEST(TraceContext, ParsesTheSpecExample) {
  auto c = parse_traceparent(kExample);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->trace_id.hi, 0x4bf92f3577b34da6ULL);
  EXPECT_EQ(c->trace_id.lo, 0xa3ce929d0e0e4736ULL);
  EXPECT_EQ(c->span_id.value, 0x00f067aa0ba902b7ULL);
  EXPECT_EQ(c->flags, 0x01);
  EXPECT_TRUE(c->sampled());
  EXPECT_EQ(c->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_id.hex(), "00f067aa0ba902b7");
  EXPECT_EQ(format_traceparent(*c), kExample);
}

TEST(TraceContext, NotSampledFlagAndOtherFlagBitsRoundTrip) {
  auto c = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->sampled());
  auto d = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->sampled());
  EXPECT_EQ(format_traceparent(*d), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
}

TEST(TraceContext, RejectsInvalidHeaders) {
  const char* bad[] = {
      "",
      "00",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff is invalid
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // all-zero parent id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",   // uppercase hex
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    // trace id too short
      "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",  // trace id too long
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",    // parent id too short
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",    // flags too short
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // version 00 with extra text
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xyz",
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",   // wrong separators
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version not hex
      "00-4bf92f3577b34da6a3ce929d0e0e47z6-00f067aa0ba902b7-01",   // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // future version: char 55 must be '-'
  };
  for (const char* b : bad) EXPECT_FALSE(parse_traceparent(b).has_value()) << b;
}

// Every byte value at every hex position: only '0'-'9' and 'a'-'f' parse,
// and the parsed ids carry the digit's value at that position.
TEST(TraceContext, EveryByteAtEveryHexPositionIsCheckedByTheParser) {
  const std::string good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  int accepted = 0, refused = 0;
  for (std::size_t pos = 0; pos < good.size(); ++pos) {
    if (good[pos] == '-') continue;
    for (int b = 0; b < 256; ++b) {
      std::string t = good;
      t[pos] = static_cast<char>(b);
      bool hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f');
      auto c = parse_traceparent(t);
      if (!hex) {
        EXPECT_FALSE(c.has_value()) << pos << " " << b;
        ++refused;
        continue;
      }
      ASSERT_TRUE(c.has_value()) << pos << " " << b;
      ++accepted;
      EXPECT_EQ(parse_traceparent(format_traceparent(*c)), c);  // round trip
      if (pos >= 3 && pos < 19) {
        int digit = b <= '9' ? b - '0' : b - 'a' + 10;
        EXPECT_EQ((c->trace_id.hi >> (4 * (18 - pos))) & 0xF, static_cast<std::uint64_t>(digit));
      }
    }
  }
  EXPECT_EQ(accepted, 52 * 16);  // 52 hex positions (55 bytes, 3 dashes)
  EXPECT_EQ(refused, 52 * 240);
}

TEST(TraceContext, AcceptsHigherVersionsByTheirVersion00Prefix) {
  auto c = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->span_id.value, 0x00f067aa0ba902b7ULL);
  EXPECT_TRUE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").has_value());
}

TEST(TraceContext, FormatsLowercaseFixedWidth) {
  SpanContext c{TraceId{0x1, 0xABCDEF}, SpanId{0x2A}, 0};
  EXPECT_EQ(format_traceparent(c), "00-00000000000000010000000000abcdef-000000000000002a-00");
  EXPECT_EQ(parse_traceparent(format_traceparent(c)), c);
}

TEST(TraceContext, NewIdsAreValidAndDistinct) {
  TraceId a = new_trace_id(), b = new_trace_id();
  EXPECT_TRUE(a.valid());
  EXPECT_NE(a, b);
  SpanId x = new_span_id(), y = new_span_id();
  EXPECT_TRUE(x.valid());
  EXPECT_NE(x, y);
}

TEST(TraceContext, Tracestate) {
  EXPECT_TRUE(forwardable_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
  EXPECT_FALSE(forwardable_tracestate(std::string(kMaxTracestate + 1, 'a')));
  EXPECT_FALSE(forwardable_tracestate("a=b\r\nx: y"));
}

// ---- sampler ----

TEST(Sampler, AlwaysAndNever) {
  TraceId id{1, 2};
  EXPECT_TRUE(should_sample({SamplerKind::kAlways, 1.0, true}, std::nullopt, id));
  EXPECT_FALSE(should_sample({SamplerKind::kNever, 1.0, true}, std::nullopt, id));
}

TEST(Sampler, RatioIsDecidedByTheLow56BitsOfTheTraceId) {
  SamplerOptions half{SamplerKind::kRatio, 0.5, true};
  // 2^55 is exactly the threshold for 0.5: below it sampled, at it not.
  EXPECT_TRUE(should_sample(half, std::nullopt, TraceId{0xFFFFFFFFFFFFFFFFULL, (1ULL << 55) - 1}));
  EXPECT_FALSE(should_sample(half, std::nullopt, TraceId{0, 1ULL << 55}));
  // The top byte of the low half does not count.
  EXPECT_TRUE(should_sample(half, std::nullopt, TraceId{0, 0xFF00000000000001ULL}));
  EXPECT_FALSE(should_sample({SamplerKind::kRatio, 0.0, true}, std::nullopt, TraceId{0, 1}));
  EXPECT_TRUE(should_sample({SamplerKind::kRatio, 1.0, true}, std::nullopt, TraceId{0, (1ULL << 56) - 1}));
  // Over a fixed sequence of ids (splitmix-like spread), 0.25 keeps about a quarter.
  SamplerOptions quarter{SamplerKind::kRatio, 0.25, true};
  int kept = 0;
  std::uint64_t x = 12345;
  for (int i = 0; i < 4000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    kept += should_sample(quarter, std::nullopt, TraceId{0, x}) ? 1 : 0;
  }
  EXPECT_GT(kept, 900);
  EXPECT_LT(kept, 1100);
}

TEST(Sampler, ParentBasedFollowsTheIncomingFlag) {
  TraceId id{0, 1ULL << 55};  // a 0.5 ratio alone would not sample it
  SpanContext sampled{id, SpanId{7}, kSampledFlag};
  SpanContext unsampled{id, SpanId{7}, 0};
  SamplerOptions never{SamplerKind::kNever, 1.0, true};
  EXPECT_TRUE(should_sample(never, sampled, id));
  SamplerOptions always{SamplerKind::kAlways, 1.0, true};
  EXPECT_FALSE(should_sample(always, unsampled, id));
  // Not parent-based: the root rule decides.
  SamplerOptions half{SamplerKind::kRatio, 0.5, false};
  EXPECT_FALSE(should_sample(half, sampled, id));
  EXPECT_TRUE(should_sample({SamplerKind::kAlways, 1.0, false}, unsampled, id));
}

TEST(Sampler, ParsesKinds) {
  EXPECT_EQ(parse_sampler_kind("ratio").value(), SamplerKind::kRatio);
  EXPECT_EQ(parse_sampler_kind("never").value(), SamplerKind::kNever);
  EXPECT_EQ(parse_sampler_kind("always").value(), SamplerKind::kAlways);
  EXPECT_EQ(parse_sampler_kind("sometimes").status().code(), tern::StatusCode::kInvalidArgument);
}
