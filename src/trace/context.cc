// W3C Trace Context: traceparent parsing and formatting, random ids
// (tern/trace/context.h), and the sampler (tern/trace/sampler.h).
#include "tern/trace/context.h"

#include <array>
#include <chrono>
#include <cstring>
#include <random>

#include "tern/trace/sampler.h"
#include "tern/trace/span.h"

namespace tern::trace {

namespace {

// The two lowercase hex digits of every byte value, so formatting takes one
// lookup per byte instead of one per digit (a consumer formats 50 digits per
// traced call; issue #17's profile had the formatting at 0.8 % of its CPU).
constexpr auto kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> t{};
  for (std::size_t b = 0; b < 256; ++b) {
    t[2 * b] = kHex[b >> 4];
    t[2 * b + 1] = kHex[b & 0xF];
  }
  return t;
}();

// Writes the low `digits` hex digits of v (`digits` even), most significant first.
void put_hex(std::uint64_t v, char* out, int digits) noexcept {
  for (int i = digits - 2; i >= 0; i -= 2) {
    std::memcpy(out + i, &kHexPairs[2 * (v & 0xFF)], 2);
    v >>= 8;
  }
}

// Digit values of lowercase hex ('0'-'9', 'a'-'f'; the spec forbids
// uppercase in traceparent); 0x10 marks every other byte.
constexpr auto kHexValue = [] {
  std::array<std::uint8_t, 256> t{};
  t.fill(0x10);
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - 'a' + 10);
  return t;
}();

// Branch-free per digit: a provider parses 50 random hex digits per traced
// request, and the two-range compare mispredicted on about half of them
// (6.5 % of the provider's CPU at 64 calls in flight, perf, issue #17).
bool read_hex(std::string_view s, std::uint64_t* out) noexcept {
  std::uint64_t v = 0;
  unsigned bad = 0;
  for (char c : s) {
    unsigned d = kHexValue[static_cast<unsigned char>(c)];
    bad |= d;
    v = (v << 4) | (d & 0xF);
  }
  if (bad & 0x10) return false;
  *out = v;
  return true;
}

// splitmix64: a small, fast generator; seeded per thread.
struct IdGenerator {
  std::uint64_t state;
  IdGenerator() {
    std::random_device rd;
    state = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::uint64_t next_nonzero() noexcept {
    std::uint64_t v = next();
    while (v == 0) v = next();
    return v;
  }
};

IdGenerator& generator() {
  thread_local IdGenerator g;
  return g;
}

}  // namespace

std::string TraceId::hex() const {
  std::string s(32, '0');
  put_hex(hi, s.data(), 16);
  put_hex(lo, s.data() + 16, 16);
  return s;
}

std::string SpanId::hex() const {
  std::string s(16, '0');
  put_hex(value, s.data(), 16);
  return s;
}

std::optional<SpanContext> parse_traceparent(std::string_view t) noexcept {
  if (t.size() < kTraceparentSize) return std::nullopt;
  std::uint64_t version = 0;
  if (!read_hex(t.substr(0, 2), &version) || version == 0xFF) return std::nullopt;
  if (version == 0 && t.size() != kTraceparentSize) return std::nullopt;
  // Higher versions: parse the version-00 fields; anything after must start with '-'.
  if (t.size() > kTraceparentSize && t[kTraceparentSize] != '-') return std::nullopt;
  if (t[2] != '-' || t[35] != '-' || t[52] != '-') return std::nullopt;
  SpanContext c;
  std::uint64_t flags = 0;
  if (!read_hex(t.substr(3, 16), &c.trace_id.hi) || !read_hex(t.substr(19, 16), &c.trace_id.lo) ||
      !read_hex(t.substr(36, 16), &c.span_id.value) || !read_hex(t.substr(53, 2), &flags)) {
    return std::nullopt;
  }
  if (!c.trace_id.valid() || !c.span_id.valid()) return std::nullopt;
  c.flags = static_cast<std::uint8_t>(flags);
  return c;
}

void format_traceparent(const SpanContext& c, char* out) noexcept {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  put_hex(c.trace_id.hi, out + 3, 16);
  put_hex(c.trace_id.lo, out + 19, 16);
  out[35] = '-';
  put_hex(c.span_id.value, out + 36, 16);
  out[52] = '-';
  put_hex(c.flags, out + 53, 2);
}

std::string format_traceparent(const SpanContext& c) {
  std::string s(kTraceparentSize, '\0');
  format_traceparent(c, s.data());
  return s;
}

bool forwardable_tracestate(std::string_view text) noexcept {
  if (text.size() > kMaxTracestate) return false;
  for (char c : text) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

TraceId new_trace_id() noexcept {
  auto& g = generator();
  TraceId id{g.next(), g.next()};
  while (!id.valid()) id.lo = g.next();
  return id;
}

SpanId new_span_id() noexcept { return SpanId{generator().next_nonzero()}; }

std::uint64_t unix_nanos_now() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// ---------------------------------------------------------------------------
// Sampler

bool should_sample(const SamplerOptions& options, const std::optional<SpanContext>& parent,
                   const TraceId& trace_id) noexcept {
  if (options.parent_based && parent && parent->valid()) return parent->sampled();
  switch (options.kind) {
    case SamplerKind::kAlways: return true;
    case SamplerKind::kNever: return false;
    case SamplerKind::kRatio: {
      double r = options.ratio;
      if (!(r > 0.0)) return false;  // also NaN
      if (r >= 1.0) return true;
      constexpr std::uint64_t kMask = (std::uint64_t{1} << 56) - 1;
      auto threshold = static_cast<std::uint64_t>(r * static_cast<double>(std::uint64_t{1} << 56));
      return (trace_id.lo & kMask) < threshold;
    }
  }
  return false;
}

Result<SamplerKind> parse_sampler_kind(std::string_view text) {
  if (text == "always") return SamplerKind::kAlways;
  if (text == "never") return SamplerKind::kNever;
  if (text == "ratio") return SamplerKind::kRatio;
  return Status(StatusCode::kInvalidArgument,
                "unknown sampler '" + std::string(text) + "' (expected always, never or ratio)");
}

std::string_view sampler_kind_name(SamplerKind kind) noexcept {
  switch (kind) {
    case SamplerKind::kAlways: return "always";
    case SamplerKind::kNever: return "never";
    case SamplerKind::kRatio: return "ratio";
  }
  return "always";
}

}  // namespace tern::trace
