// gRPC provider side, hostile peer (issue #16 "Bad input"): raw TCP sockets
// send HTTP/2 bytes crafted here (frames by hand, header blocks with
// nghttp2's HPACK deflater) and read the provider's frames back with a tiny
// frame parser and nghttp2's HPACK inflater. Each case checks the exact
// HTTP/2 or gRPC error the spec names, on that stream or connection only,
// and that other streams (stream-level errors) and another connection keep
// working. docs/grpc.md "Robustness" has the table.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using tern::Status;
using tern::StatusCode;

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kRst = 0x3, kSettings = 0x4, kPing = 0x6, kGoaway = 0x7,
                       kContinuation = 0x9;
constexpr std::uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload,
                  std::optional<std::uint32_t> length = std::nullopt) {
  std::uint32_t len = length.value_or(static_cast<std::uint32_t>(payload.size()));
  std::string f{static_cast<char>(len >> 16), static_cast<char>(len >> 8), static_cast<char>(len),
                static_cast<char>(type), static_cast<char>(flags)};
  f += be32(stream & 0x7fffffffu);
  f.append(payload);
  return f;
}

// A gRPC message: uncompressed flag, u32 length, bytes.
std::string grpc_message(std::string_view m) { return std::string(1, '\0') + be32(static_cast<std::uint32_t>(m.size())) + std::string(m); }

struct Frame {
  std::uint8_t type = 0, flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// What came back on one stream.
struct StreamSeen {
  std::vector<Headers> header_blocks;  // response headers, then trailers (or one Trailers-Only block)
  std::string data;
  std::optional<std::uint32_t> rst;
  bool ended = false;  // END_STREAM from the provider
  std::optional<std::string> header(std::string_view name) const {
    for (auto it = header_blocks.rbegin(); it != header_blocks.rend(); ++it) {
      for (auto& [k, v] : *it) {
        if (k == name) return v;
      }
    }
    return std::nullopt;
  }
  std::optional<int> grpc_status() const {
    auto v = header("grpc-status");
    return v ? std::optional<int>(std::stoi(*v)) : std::nullopt;
  }
};

// One raw HTTP/2 connection to the provider.
class RawH2 {
 public:
  explicit RawH2(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    nghttp2_hd_deflate_new(&deflater_, 4096);
    nghttp2_hd_inflate_new(&inflater_);
  }
  ~RawH2() {
    if (fd_ >= 0) ::close(fd_);
    nghttp2_hd_deflate_del(deflater_);
    nghttp2_hd_inflate_del(inflater_);
  }
  RawH2(const RawH2&) = delete;
  RawH2& operator=(const RawH2&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Preface and an empty SETTINGS; then the provider's SETTINGS is acked and
  // a PING round trip makes sure the provider has our ACK.
  void handshake() {
    ASSERT_TRUE(send(std::string(kPreface) + frame(kSettings, 0, 0, "")));
    ASSERT_TRUE(wait([&] { return server_settings_seen_; })) << "no SETTINGS from the provider";
    ping_roundtrip();
  }
  void ping_roundtrip() {
    const int before = ping_acks_;
    ASSERT_TRUE(send(frame(kPing, 0, 0, "12345678")));
    ASSERT_TRUE(wait([&] { return ping_acks_ > before; })) << "no PING ACK";
  }

  std::string header_block(const Headers& h) {
    std::vector<nghttp2_nv> nva;
    for (auto& [k, v] : h) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(k.data())),
                     reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(out.data()), out.size(), nva.data(),
                                      nva.size());
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }

  static Headers request(std::string path = "/bad.Echo/Echo", std::string content_type = "application/grpc") {
    return {{":method", "POST"},   {":scheme", "http"}, {":path", std::move(path)}, {":authority", "tern"},
            {"content-type", std::move(content_type)}, {"te", "trailers"}};
  }

  bool headers(std::uint32_t id, const Headers& h, bool end_stream) {
    return send(frame(kHeaders, kEndHeaders | (end_stream ? kEndStream : 0), id, header_block(h)));
  }
  bool data(std::uint32_t id, std::string_view bytes, bool end_stream) {
    return send(frame(kData, end_stream ? kEndStream : 0, id, bytes));
  }
  // A whole unary call: headers, one message, END_STREAM.
  bool unary(std::uint32_t id, std::string_view message) {
    return headers(id, request(), false) && data(id, grpc_message(message), true);
  }
  // The call `id` came back OK with `message` echoed.
  void expect_echo(std::uint32_t id, std::string_view message) {
    ASSERT_TRUE(wait([&] { return streams[id].ended || streams[id].rst || closed; })) << "stream " << id;
    EXPECT_FALSE(streams[id].rst.has_value()) << "stream " << id << " reset";
    EXPECT_EQ(streams[id].grpc_status(), 0) << "stream " << id << " " << streams[id].header("grpc-message").value_or("");
    EXPECT_EQ(streams[id].data, grpc_message(message)) << "stream " << id;
  }

  // Reads and handles frames until `cond` holds, the connection closes or
  // `timeout` passes; the result is cond().
  template <typename Cond>
  bool wait(Cond&& cond, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
      if (closed) return cond();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return cond();
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        continue;
      }
      in_.append(buf, static_cast<std::size_t>(n));
      parse();
    }
    return true;
  }
  // Waits for the provider to close the connection (EOF or reset).
  bool wait_closed(std::chrono::milliseconds timeout = 5s) {
    return wait([&] { return closed; }, timeout);
  }

  bool answer_pings = true;
  bool closed = false;
  std::optional<std::uint32_t> goaway_code;
  std::optional<std::uint32_t> goaway_last_stream;
  std::map<std::uint32_t, std::uint32_t> settings;  // the provider's
  std::map<std::uint32_t, StreamSeen> streams;

 private:
  void parse() {
    while (in_.size() >= 9) {
      std::uint32_t len = (static_cast<std::uint8_t>(in_[0]) << 16) | (static_cast<std::uint8_t>(in_[1]) << 8) |
                          static_cast<std::uint8_t>(in_[2]);
      if (in_.size() < 9 + len) return;
      Frame f;
      f.type = static_cast<std::uint8_t>(in_[3]);
      f.flags = static_cast<std::uint8_t>(in_[4]);
      f.stream = u32(in_.data() + 5) & 0x7fffffffu;
      f.payload = in_.substr(9, len);
      in_.erase(0, 9 + len);
      handle(f);
    }
  }
  static std::uint32_t u32(const char* p) {
    return (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[0])) << 24) |
           (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[2])) << 8) | static_cast<std::uint8_t>(p[3]);
  }
  void handle(const Frame& f) {
    switch (f.type) {
      case kSettings:
        if ((f.flags & kAck) == 0) {
          for (std::size_t i = 0; i + 6 <= f.payload.size(); i += 6) {
            settings[(static_cast<std::uint8_t>(f.payload[i]) << 8) | static_cast<std::uint8_t>(f.payload[i + 1])] =
                u32(f.payload.data() + i + 2);
          }
          server_settings_seen_ = true;
          send(frame(kSettings, kAck, 0, ""));
        }
        break;
      case kPing:
        if (f.flags & kAck) {
          ++ping_acks_;
        } else if (answer_pings) {
          send(frame(kPing, kAck, 0, f.payload));
        }
        break;
      case kGoaway:
        goaway_last_stream = u32(f.payload.data()) & 0x7fffffffu;
        goaway_code = u32(f.payload.data() + 4);
        break;
      case kRst:
        streams[f.stream].rst = u32(f.payload.data());
        break;
      case kHeaders: {
        std::string block = f.payload;
        std::size_t off = 0;
        if (f.flags & 0x8) off = 1 + static_cast<std::uint8_t>(block[0]);  // PADDED (Tern does not pad)
        if (f.flags & 0x20) off += 5;                                         // PRIORITY
        ASSERT_TRUE(f.flags & kEndHeaders) << "the test parser expects whole header blocks";
        streams[f.stream].header_blocks.push_back(inflate(block.substr(off)));
        if (f.flags & kEndStream) streams[f.stream].ended = true;
        break;
      }
      case kData:
        streams[f.stream].data += f.payload;
        if (f.flags & kEndStream) streams[f.stream].ended = true;
        // Give the flow-control credit back (connection and stream).
        if (!f.payload.empty()) {
          send(frame(0x8, 0, 0, be32(static_cast<std::uint32_t>(f.payload.size()))));
          send(frame(0x8, 0, f.stream, be32(static_cast<std::uint32_t>(f.payload.size()))));
        }
        break;
      default:
        break;
    }
  }
  Headers inflate(std::string_view block) {
    Headers out;
    auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
    std::size_t left = block.size();
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
      EXPECT_GE(n, 0) << "HPACK from the provider does not decode";
      if (n < 0) return out;
      in += n;
      left -= static_cast<std::size_t>(n);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        out.emplace_back(std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                         std::string(reinterpret_cast<char*>(nv.value), nv.valuelen));
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater_);
        return out;
      }
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) return out;
    }
  }

  int fd_ = -1;
  bool connected_ = false;
  bool server_settings_seen_ = false;
  int ping_acks_ = 0;
  std::string in_;
  nghttp2_hd_deflater* deflater_ = nullptr;
  nghttp2_hd_inflater* inflater_ = nullptr;
};

constexpr std::uint32_t kMaxBody = 64u << 10;  // the provider's limits.max_body

class GrpcBadInput : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  void start(std::chrono::milliseconds heartbeat) {
    if (server) server->shutdown(100ms);
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 2;  // a stalled connection's loop must not be the healthy one's only loop either way
    so.limits.max_body = kMaxBody;
    if (heartbeat.count() > 0) so.heartbeat_interval = heartbeat;
    server = std::make_unique<tern::Server>(so);
    ASSERT_TRUE(server
                    ->add_method("bad.Echo", "Echo",
                                 [](tern::ServerCall& call) {
                                   auto b = call.start_response();
                                   b.append_body(call.body());
                                   call.respond(std::move(b));
                                 })
                    .is_ok());
    ASSERT_TRUE(server->start().is_ok());
    port = server->port();
  }
  void TearDown() override {
    if (server) server->shutdown(100ms);
  }
  // A fresh connection completes a unary call: the provider still serves.
  void expect_other_connection_works() {
    RawH2 other(port);
    ASSERT_TRUE(other.connected());
    other.handshake();
    ASSERT_TRUE(other.unary(1, "still here"));
    other.expect_echo(1, "still here");
  }
  // `c` got GOAWAY(`code`) and was closed.
  static void expect_goaway_closed(RawH2& c, std::uint32_t code) {
    EXPECT_TRUE(c.wait_closed()) << "the provider did not close the connection";
    ASSERT_TRUE(c.goaway_code.has_value()) << "no GOAWAY";
    EXPECT_EQ(*c.goaway_code, code) << nghttp2_http2_strerror(*c.goaway_code);
  }

  std::unique_ptr<tern::Server> server;
  int port = 0;
};

// ---- malformed frames: connection error, GOAWAY, closed -------------------

TEST_F(GrpcBadInput, DataOnStreamZeroIsConnectionProtocolError) {
  RawH2 c(port);
  c.handshake();
  ASSERT_TRUE(c.send(frame(kData, 0, 0, "hello")));
  expect_goaway_closed(c, NGHTTP2_PROTOCOL_ERROR);
  expect_other_connection_works();
}

TEST_F(GrpcBadInput, FrameOverMaxFrameSizeIsFrameSizeError) {
  RawH2 c(port);
  c.handshake();
  ASSERT_TRUE(c.headers(1, RawH2::request(), false));
  // 16385 > SETTINGS_MAX_FRAME_SIZE (16384, the provider's default).
  ASSERT_TRUE(c.send(frame(kData, 0, 1, std::string(16385, 'x'))));
  expect_goaway_closed(c, NGHTTP2_FRAME_SIZE_ERROR);
  expect_other_connection_works();
}

TEST_F(GrpcBadInput, SettingsWithBadLengthIsFrameSizeError) {
  RawH2 c(port);
  c.handshake();
  ASSERT_TRUE(c.send(frame(kSettings, 0, 0, std::string(5, '\0'))));  // not a multiple of 6
  expect_goaway_closed(c, NGHTTP2_FRAME_SIZE_ERROR);
  expect_other_connection_works();
}

TEST_F(GrpcBadInput, SettingsWithInvalidValueIsProtocolError) {
  RawH2 c(port);
  c.handshake();
  // SETTINGS_ENABLE_PUSH = 2 (only 0 and 1 are valid, RFC 9113 §6.5.2).
  ASSERT_TRUE(c.send(frame(kSettings, 0, 0, std::string("\x00\x02", 2) + be32(2))));
  expect_goaway_closed(c, NGHTTP2_PROTOCOL_ERROR);
  expect_other_connection_works();
}

TEST_F(GrpcBadInput, BadPrefaceIsClosed) {
  RawH2 c(port);
  ASSERT_TRUE(c.send("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
  EXPECT_TRUE(c.wait_closed());
  expect_other_connection_works();
}

// ---- HPACK bomb ------------------------------------------------------------

TEST_F(GrpcBadInput, HpackBombIsRefusedOnItsStreamOnly) {
  RawH2 c(port);
  c.handshake();
  // The provider advertises the header list it accepts.
  ASSERT_EQ(c.settings.count(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 1u);
  const std::uint32_t advertised = c.settings[NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE];
  EXPECT_EQ(advertised, tern::protocol::Limits{}.max_meta);
  // Hand-made header block: the request headers (literal, not indexed),
  // then "x-bomb: <4000 x 'a'>" with incremental indexing (dynamic table
  // index 62), then 12000 one-byte references to it: a 16 KB frame that
  // decodes to ~48 MB of headers.
  std::string block;
  for (auto& [k, v] : RawH2::request()) {
    block += '\x10';  // literal without indexing, new name
    block += static_cast<char>(k.size());
    block += k;
    block += static_cast<char>(v.size());
    block += v;
  }
  const std::string big(4000, 'a');
  block += '\x40';  // literal with incremental indexing, new name
  block += static_cast<char>(6);
  block += "x-bomb";
  block += '\x7f';  // 7-bit prefix integer: 127 + ...
  {
    std::uint32_t rest = static_cast<std::uint32_t>(big.size()) - 127;
    while (rest >= 128) {
      block += static_cast<char>((rest & 0x7f) | 0x80);
      rest >>= 7;
    }
    block += static_cast<char>(rest);
  }
  block += big;
  const std::size_t refs = 16384 - block.size();
  block.append(refs, static_cast<char>(0x80 | 62));  // indexed: dynamic entry 62
  ASSERT_TRUE(c.send(frame(kHeaders, kEndHeaders | kEndStream, 1, block)));
  ASSERT_TRUE(c.wait([&] { return c.streams[1].ended || c.streams[1].rst.has_value() || c.closed; }));
  ASSERT_FALSE(c.closed) << "a header list over the limit is a stream error, not the connection's";
  // gRPC's answer for metadata over the limit: RESOURCE_EXHAUSTED on that stream.
  EXPECT_EQ(c.streams[1].grpc_status(), static_cast<int>(StatusCode::kResourceExhausted))
      << c.streams[1].header("grpc-message").value_or("");
  // The same connection (its HPACK state included) still serves: the
  // provider's dynamic table took "x-bomb", so our deflater must not be
  // out of step; use a fresh, literal-only request.
  std::string plain;
  for (auto& [k, v] : RawH2::request()) {
    plain += '\x00';
    plain += static_cast<char>(k.size());
    plain += k;
    plain += static_cast<char>(v.size());
    plain += v;
  }
  ASSERT_TRUE(c.send(frame(kHeaders, kEndHeaders, 3, plain)));
  ASSERT_TRUE(c.data(3, grpc_message("after the bomb"), true));
  c.expect_echo(3, "after the bomb");
  expect_other_connection_works();
}

// ---- gRPC request headers ----------------------------------------------------

TEST_F(GrpcBadInput, WrongContentTypeIsHttp415) {
  RawH2 c(port);
  c.handshake();
  ASSERT_TRUE(c.headers(1, RawH2::request("/bad.Echo/Echo", "text/plain"), false));
  ASSERT_TRUE(c.data(1, grpc_message("x"), true));
  ASSERT_TRUE(c.wait([&] { return c.streams[1].ended || c.streams[1].rst.has_value(); }));
  EXPECT_EQ(c.streams[1].header(":status"), "415");
  EXPECT_EQ(c.streams[1].grpc_status(), static_cast<int>(StatusCode::kInternal));
  // The request not ended when the answer went out: nothing more is wanted of it.
  ASSERT_TRUE(c.headers(3, RawH2::request("/bad.Echo/Echo", "text/plain"), false));
  ASSERT_TRUE(c.wait([&] { return c.streams[3].rst.has_value() || c.closed; }));
  EXPECT_EQ(c.streams[3].header(":status"), "415");
  EXPECT_EQ(c.streams[3].rst, std::optional<std::uint32_t>(NGHTTP2_NO_ERROR));
  ASSERT_TRUE(c.unary(5, "next"));
  c.expect_echo(5, "next");
}

TEST_F(GrpcBadInput, MissingTeIsAccepted) {
  // PROTOCOL-HTTP2.md lists "te: trailers" in Request-Headers to detect
  // proxies that drop trailers; like grpc-go, Tern does not refuse a request
  // without it (docs/grpc.md).
  RawH2 c(port);
  c.handshake();
  Headers h = RawH2::request();
  h.pop_back();  // te
  ASSERT_TRUE(c.headers(1, h, false));
  ASSERT_TRUE(c.data(1, grpc_message("no te"), true));
  c.expect_echo(1, "no te");
}

TEST_F(GrpcBadInput, TeOtherThanTrailersIsStreamProtocolError) {
  // RFC 9113 §8.2.2: te in HTTP/2 may only be "trailers": a malformed
  // request, RST_STREAM(PROTOCOL_ERROR) on that stream.
  RawH2 c(port);
  c.handshake();
  Headers h = RawH2::request();
  h.back().second = "gzip";
  ASSERT_TRUE(c.headers(1, h, false));
  ASSERT_TRUE(c.wait([&] { return c.streams[1].rst.has_value() || c.closed; }));
  EXPECT_EQ(c.streams[1].rst, std::optional<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  ASSERT_TRUE(c.unary(3, "next"));
  c.expect_echo(3, "next");
}

// ---- oversize message ----------------------------------------------------------

TEST_F(GrpcBadInput, OversizeMessageIsResourceExhaustedOnItsStream) {
  RawH2 c(port);
  c.handshake();
  ASSERT_TRUE(c.headers(1, RawH2::request(), false));
  // A prefix announcing kMaxBody + 1 bytes, and the first bytes of it.
  ASSERT_TRUE(c.data(1, std::string(1, '\0') + be32(kMaxBody + 1) + std::string(1000, 'z'), false));
  ASSERT_TRUE(c.wait([&] { return c.streams[1].rst.has_value() || c.closed; }));
  ASSERT_FALSE(c.closed);
  EXPECT_EQ(c.streams[1].grpc_status(), static_cast<int>(StatusCode::kResourceExhausted))
      << c.streams[1].header("grpc-message").value_or("");
  // The rest of the request is not wanted (RFC 9113 §8.1).
  EXPECT_EQ(c.streams[1].rst, std::optional<std::uint32_t>(NGHTTP2_NO_ERROR));
  // The peer goes on sending the rest of it: dropped, the connection goes on.
  ASSERT_TRUE(c.data(1, std::string(8000, 'z'), true));
  ASSERT_TRUE(c.unary(3, "after"));
  c.expect_echo(3, "after");
  EXPECT_FALSE(c.goaway_code.has_value());
}

// ---- stream flood --------------------------------------------------------------

TEST_F(GrpcBadInput, StreamsOverMaxConcurrentAreRefused) {
  RawH2 c(port);
  c.handshake();
  ASSERT_EQ(c.settings.count(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 1u);
  const std::uint32_t max = c.settings[NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS];
  ASSERT_GT(max, 0u);
  ASSERT_LT(max, 1000u);
  const std::uint32_t opened = max + 20;
  // Open them all (HEADERS without END_STREAM: every one stays open).
  std::string burst;
  for (std::uint32_t i = 0; i < opened; ++i) {
    burst += frame(kHeaders, kEndHeaders, 1 + 2 * i, c.header_block(RawH2::request()));
  }
  ASSERT_TRUE(c.send(burst));
  // The excess is refused, each on its own stream.
  ASSERT_TRUE(c.wait([&] {
    std::uint32_t refused = 0;
    for (auto& [id, s] : c.streams) refused += s.rst.has_value();
    return refused >= opened - max;
  })) << "not all excess streams refused; closed " << c.closed << ", GOAWAY "
         << (c.goaway_code ? nghttp2_http2_strerror(*c.goaway_code) : "none");
  ASSERT_FALSE(c.goaway_code.has_value()) << "GOAWAY " << nghttp2_http2_strerror(*c.goaway_code);
  std::uint32_t refused = 0;
  for (std::uint32_t i = 0; i < opened; ++i) {
    auto& s = c.streams[1 + 2 * i];
    if (!s.rst) continue;
    ++refused;
    EXPECT_EQ(*s.rst, static_cast<std::uint32_t>(NGHTTP2_REFUSED_STREAM)) << "stream " << 1 + 2 * i;
    EXPECT_GE(i, max) << "an admitted stream was refused";
  }
  EXPECT_EQ(refused, opened - max);
  // The admitted ones complete.
  std::string rest;
  for (std::uint32_t i = 0; i < max; ++i) rest += frame(kData, kEndStream, 1 + 2 * i, grpc_message("m" + std::to_string(i)));
  ASSERT_TRUE(c.send(rest));
  for (std::uint32_t i = 0; i < max; ++i) c.expect_echo(1 + 2 * i, "m" + std::to_string(i));
  // And the connection takes new streams once they are done.
  const std::uint32_t next = 1 + 2 * opened;
  ASSERT_TRUE(c.unary(next, "later"));
  c.expect_echo(next, "later");
}

TEST_F(GrpcBadInput, RejectedStreamsDoNotHoldConcurrencySlots) {
  // Streams answered at once (here HTTP 415) whose requests the peer never
  // ends are reset with NO_ERROR, so they do not keep the connection's
  // MAX_CONCURRENT_STREAMS slots.
  RawH2 c(port);
  c.handshake();
  const std::uint32_t max = c.settings[NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS];
  ASSERT_GT(max, 0u);
  std::string burst;
  for (std::uint32_t i = 0; i < max; ++i) {
    burst += frame(kHeaders, kEndHeaders, 1 + 2 * i, c.header_block(RawH2::request("/bad.Echo/Echo", "text/plain")));
  }
  ASSERT_TRUE(c.send(burst));
  ASSERT_TRUE(c.wait([&] {
    for (std::uint32_t i = 0; i < max; ++i) {
      if (!c.streams[1 + 2 * i].rst) return false;
    }
    return true;
  }));
  for (std::uint32_t i = 0; i < max; ++i) {
    EXPECT_EQ(c.streams[1 + 2 * i].rst, std::optional<std::uint32_t>(NGHTTP2_NO_ERROR)) << "stream " << 1 + 2 * i;
  }
  const std::uint32_t next = 1 + 2 * max;
  ASSERT_TRUE(c.unary(next, "a slot is free"));
  c.expect_echo(next, "a slot is free");
}

// ---- slowloris -------------------------------------------------------------
// (heartbeat_interval 100 ms here; the default is 10 s)

class GrpcBadInputSlow : public GrpcBadInput {
 protected:
  static constexpr auto kHeartbeat = 100ms;
  void SetUp() override { start(kHeartbeat); }
};

TEST_F(GrpcBadInputSlow, PrefaceThenNothingIsClosed) {
  RawH2 c(port);
  c.answer_pings = false;  // a peer that is gone (or pretends to be)
  ASSERT_TRUE(c.send(std::string(kPreface) + frame(kSettings, 0, 0, "")));
  const auto t0 = std::chrono::steady_clock::now();
  // Idle heartbeat_interval, then HTTP/2 PINGs; 3 unanswered close.
  ASSERT_TRUE(c.wait_closed(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 3 * kHeartbeat);
  expect_other_connection_works();
}

TEST_F(GrpcBadInputSlow, IdleConnectionAnsweringPingsStaysOpen) {
  RawH2 c(port);
  c.handshake();
  EXPECT_FALSE(c.wait_closed(8 * kHeartbeat));  // ping-answering idle peers are kept, as gRPC's keepalive does
  ASSERT_TRUE(c.unary(1, "alive"));
  c.expect_echo(1, "alive");
}

TEST_F(GrpcBadInputSlow, StalledHeaderBlockIsClosed) {
  RawH2 healthy(port);
  healthy.handshake();
  RawH2 c(port);
  c.handshake();
  c.answer_pings = false;
  // HEADERS without END_HEADERS; the CONTINUATION never comes.
  ASSERT_TRUE(c.send(frame(kHeaders, 0, 1, c.header_block(RawH2::request()))));
  ASSERT_TRUE(c.wait_closed(10s));
  // The other connection, open all along, still serves.
  ASSERT_TRUE(healthy.unary(1, "fine"));
  healthy.expect_echo(1, "fine");
}

TEST_F(GrpcBadInputSlow, TrickledHeaderBlockBytesAreClosed) {
  // Slowloris proper: the CONTINUATION's payload arrives a byte at a time,
  // so the connection is never idle; the header-block deadline closes it.
  RawH2 c(port);
  c.handshake();
  ASSERT_TRUE(c.send(frame(kHeaders, 0, 1, c.header_block(RawH2::request()))));
  ASSERT_TRUE(c.send(frame(kContinuation, 0, 1, "", 4000)));  // announces 4000 bytes
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 4000 && !closed; ++i) {
    if (!c.send(std::string(1, '\x90'))) break;  // indexed static 16: accept-encoding: gzip, deflate
    closed = c.wait_closed(kHeartbeat / 4);
  }
  EXPECT_TRUE(closed || c.wait_closed(1s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, kHeartbeat);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10 * kHeartbeat);
  expect_other_connection_works();
}

TEST_F(GrpcBadInputSlow, TrickledContinuationsAreClosed) {
  // The peer keeps the connection "alive" with empty CONTINUATION frames
  // but never ends the header block: closed once the block is older than
  // the heartbeat interval, although bytes keep coming.
  RawH2 c(port);
  c.handshake();
  ASSERT_TRUE(c.send(frame(kHeaders, 0, 1, c.header_block(RawH2::request()))));
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - t0 < 10s) {
    if (!c.send(frame(kContinuation, 0, 1, ""))) break;
    closed = c.wait_closed(kHeartbeat / 4);
  }
  EXPECT_TRUE(closed || c.wait_closed(1s));
  expect_other_connection_works();
}

}  // namespace
