// Body compression end to end (docs/protocol.md §5): typed calls round trip
// with zstd and lz4; the wire frames carry the flag only at or above the
// threshold (checked on raw sockets: a raw consumer against a real provider,
// a raw provider under a real consumer); bombs and corrupt bodies fail only
// their call, with INVALID_ARGUMENT (provider) or INTERNAL (consumer), while
// the connection keeps serving.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "loopback.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/protocol/compression.h"
#include "tern/protocol/decoder.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;
namespace protocol = tern::protocol;
using protocol::Compression;
using tern::StatusCode;

namespace {

constexpr std::uint32_t kMaxBody = 1u << 20;  // the provider's limit in these tests

// A blocking TCP connection speaking frames (POSIX sockets with a receive timeout,
// so a missing answer fails the test instead of hanging it).
class RawConnection {
 public:
  explicit RawConnection(int fd) : fd_(fd) { set_timeout(); }
  static RawConnection dial(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return RawConnection(fd);
  }
  RawConnection(RawConnection&& o) noexcept : fd_(std::exchange(o.fd_, -1)), decoder_(o.decoder_) {}
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      off += static_cast<std::size_t>(n);
    }
  }
  // The next frame; a frame with type 0 when the peer closed or went silent for 5 s.
  protocol::Frame read() {
    while (frames_.empty()) {
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        protocol::Frame none;
        none.header.type = static_cast<protocol::FrameType>(0);
        return none;
      }
      auto s = decoder_.feed(std::string_view(buf, static_cast<std::size_t>(n)),
                             [&](protocol::Frame&& f) { frames_.push_back(std::move(f)); });
      EXPECT_TRUE(s.is_ok()) << s;
    }
    protocol::Frame f = std::move(frames_.front());
    frames_.erase(frames_.begin());
    return f;
  }

 private:
  void set_timeout() {
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  int fd_;
  protocol::FrameDecoder decoder_;
  std::vector<protocol::Frame> frames_;
};

std::string long_name(std::size_t n) {
  std::string s;
  while (s.size() < n) s += "tern compresses repetitive bodies well; ";
  s.resize(n);
  return s;
}

// A Calculator request frame as a consumer would build it, MessagePack body.
template <typename... A>
std::string request(std::uint64_t id, std::string_view method, std::string_view accept, const A&... args) {
  protocol::FrameBuilder b(protocol::FrameType::kRequest, id);
  b.header().serialization = tern::serialization::MsgpackCodec::kId;
  b.add_meta("service", "testsvc::Calculator");
  b.add_meta("method", method);
  if (!accept.empty()) b.add_meta(protocol::meta_keys::kAcceptCompression, accept);
  b.begin_body();
  tern::serialization::MsgpackCodec::encode_args(b, args...);
  return b.finish();
}

// Replaces a request frame's body by `body` with request flags `flags`.
std::string with_body(std::string frame, std::string_view body, std::uint8_t flags) {
  auto h = protocol::decode_header_unchecked(frame.data());
  frame.resize(protocol::kHeaderSize + h.meta_len);
  frame.append(body);
  h.body_len = static_cast<std::uint32_t>(body.size());
  h.status_or_flags = flags;
  protocol::encode_header(h, frame.data());
  return frame;
}

struct CompressionFixture : testutil::LoopbackFixture {
  void SetUp() override {
    tern::ServerOptions so;
    so.limits.max_body = kMaxBody;
    so.compression_threshold = 1024;
    start(so, [](tern::Server& s) {
      ASSERT_TRUE(s.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
    });
  }
  tern::Proxy<Calculator> proxy(const std::string& compression, std::size_t threshold = 1024) {
    tern::ReferenceOptions o;
    o.compression = compression;
    o.compression_threshold = threshold;
    return client->refer<Calculator>(url, o).value();
  }
};

TEST_F(CompressionFixture, TypedCallsRoundTripWithEachAlgorithm) {
  for (const char* alg : {"zstd", "lz4", "none"}) {
    auto calc = proxy(alg, 64);
    std::string name = long_name(200000);
    auto r = calc.call<&Calculator::greet>(name);
    ASSERT_TRUE(r.has_value()) << alg << ": " << r.status();
    EXPECT_EQ(*r, "hello, " + name) << alg;
    EXPECT_EQ(calc.call<&Calculator::add>(40, 2).value(), 42) << alg;  // small: sent plain
    std::vector<std::string> words(5000, "word");
    words.push_back("other");
    auto h = calc.call<&Calculator::histogram>(words);
    ASSERT_TRUE(h.has_value()) << alg << ": " << h.status();
    EXPECT_EQ(h->at("word"), 5000) << alg;
    EXPECT_EQ(h->at("other"), 1) << alg;
    auto f = calc.async_call<&Calculator::greet>(name).get();
    ASSERT_TRUE(f.has_value()) << alg;
    EXPECT_EQ(f->size(), name.size() + 7) << alg;
    ASSERT_TRUE(calc.oneway<&Calculator::count>(3).is_ok());
  }
}

TEST_F(CompressionFixture, UnknownCompressionIsRefusedAtReferenceCreation) {
  tern::ReferenceOptions o;
  o.compression = "brotli";
  auto r = client->reference("testsvc::Calculator", url, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "unknown compression 'brotli' (none, zstd or lz4)");
}

TEST_F(CompressionFixture, ProviderCompressesResponsesOverItsThresholdForConsumersThatAccept) {
  auto conn = RawConnection::dial(server->port());
  std::string big = long_name(5000);
  // Accepts lz4, response of 5007+ bytes: compressed with lz4 (bit 0x80).
  conn.send(request(1, "greet", "lz4", big));
  auto f = conn.read();
  ASSERT_EQ(f.header.type, protocol::FrameType::kResponse);
  EXPECT_EQ(f.header.request_id, 1u);
  EXPECT_EQ(f.header.status_or_flags, protocol::flags::kResponseLz4);
  EXPECT_LT(f.header.body_len, 1000u);
  auto plain = protocol::decompress(Compression::kLz4, f.body(), kMaxBody);
  ASSERT_TRUE(plain.has_value()) << plain.status();
  EXPECT_EQ(tern::serialization::MsgpackCodec::decode_value<std::string>(*plain).value(), "hello, " + big);
  // Below the threshold: plain, even though the consumer accepts.
  conn.send(request(2, "greet", "zstd", std::string("x")));
  f = conn.read();
  EXPECT_EQ(f.header.status_or_flags, 0);
  EXPECT_EQ(tern::serialization::MsgpackCodec::decode_value<std::string>(f.body()).value(), "hello, x");
  // A consumer that does not accept compression never gets it.
  conn.send(request(3, "greet", "", big));
  f = conn.read();
  EXPECT_EQ(f.header.status_or_flags, 0);
  EXPECT_EQ(f.header.body_len, 5007u + 3u);  // msgpack str 16 header (3 bytes)
  // A compressed request makes the answer compressed the same way, no metadata needed.
  std::string plain_req = request(4, "greet", "", big);
  ASSERT_TRUE(protocol::compress_frame(plain_req, Compression::kZstd, 0));
  EXPECT_EQ(protocol::decode_header_unchecked(plain_req.data()).status_or_flags, protocol::flags::kCompressedZstd);
  conn.send(plain_req);
  f = conn.read();
  EXPECT_EQ(f.header.status_or_flags, protocol::flags::kResponseZstd);
  plain = protocol::decompress(Compression::kZstd, f.body(), kMaxBody);
  EXPECT_EQ(tern::serialization::MsgpackCodec::decode_value<std::string>(plain.value()).value(), "hello, " + big);
}

TEST_F(CompressionFixture, BombsAndCorruptBodiesFailTheirCallOnlyAndTheConnectionKeepsServing) {
  auto conn = RawConnection::dial(server->port());
  std::string base = request(0, "greet", "", std::string("unused"));
  struct Case {
    std::string body;
    std::uint8_t flags;
    std::string message;
  };
  // 16 MiB of zeros: a few hundred bytes compressed, 16x over the 1 MiB limit.
  std::string zeros(16u << 20, '\0');
  std::vector<Case> cases = {
      {protocol::compress(Compression::kZstd, zeros), protocol::flags::kCompressedZstd,
       "zstd body of 16777216 bytes over the limit of 1048576 bytes"},
      {protocol::compress(Compression::kLz4, zeros), protocol::flags::kCompressedLz4,
       "lz4 body of 16777216 bytes over the limit of 1048576 bytes"},
      {std::string("\xFF\xFF\xFF\xF0garbage", 11), protocol::flags::kCompressedLz4,
       "lz4 body of 4294967280 bytes over the limit of 1048576 bytes"},
      {std::string("\x00\x00\x01\x00garbage!", 12), protocol::flags::kCompressedLz4, "corrupt lz4 body: "},
      {"definitely not zstd", protocol::flags::kCompressedZstd, "corrupt zstd body: not a zstd frame"},
      {protocol::compress(Compression::kZstd, long_name(3000)) + "tail", protocol::flags::kCompressedZstd,
       "corrupt zstd body: bytes after the frame"},
      {protocol::compress(Compression::kZstd, long_name(3000)), 0x03,
       "request flags name both zstd and lz4 compression"},
  };
  zeros.clear();
  std::uint64_t id = 10;
  for (const auto& c : cases) {
    std::string frame = with_body(base, c.body, c.flags);
    auto h = protocol::decode_header_unchecked(frame.data());
    h.request_id = id;
    protocol::encode_header(h, frame.data());
    conn.send(frame);
    auto f = conn.read();
    ASSERT_EQ(f.header.type, protocol::FrameType::kResponse) << c.message;
    EXPECT_EQ(f.header.request_id, id) << c.message;
    EXPECT_EQ(f.header.status(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(f.body().substr(0, c.message.size()), c.message);
    if (c.message.back() != ' ') {
      EXPECT_EQ(f.body(), c.message);
    }
    // The same connection answers the next call.
    conn.send(request(id + 1, "add", "", 20, 22));
    f = conn.read();
    ASSERT_EQ(f.header.type, protocol::FrameType::kResponse) << c.message;
    EXPECT_EQ(f.header.status(), StatusCode::kOk) << c.message;
    EXPECT_EQ(tern::serialization::MsgpackCodec::decode_value<int>(f.body()).value(), 42);
    id += 2;
  }
  EXPECT_EQ(server->stats().connections, 1u);
  EXPECT_EQ(server->stats().handler_errors, 0u);
}

// The bytes metrics (filters) count what crossed the wire: compressed sizes.
struct ServerBytes : tern::ServerFilter {
  void on_response(tern::ServerContext& c, const tern::Status&, std::chrono::nanoseconds) override {
    request = c.request_bytes();
    response = c.response_bytes();
  }
  std::atomic<std::uint64_t> request{0}, response{0};
};
struct ClientBytes : tern::ClientFilter {
  void on_response(std::string_view, std::string_view, const tern::Status&, std::chrono::nanoseconds,
                   const tern::CallBytes& b) override {
    sent = b.sent;
    received = b.received;
  }
  std::atomic<std::uint64_t> sent{0}, received{0};
};

TEST(CompressionBytes, FiltersCountCompressedWireBytes) {
  auto server_bytes = std::make_shared<ServerBytes>();
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.filters.push_back(server_bytes);
  tern::Server server(so);
  ASSERT_TRUE(server.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  auto client_bytes = std::make_shared<ClientBytes>();
  tern::ClientOptions co;
  co.io_threads = 1;
  co.filters.push_back(client_bytes);
  tern::Client client(co);
  tern::ReferenceOptions o;
  o.compression = "lz4";
  auto calc = client.refer<Calculator>(testutil::direct(server), o).value();
  std::string name = long_name(100000);
  EXPECT_EQ(calc.call<&Calculator::greet>(name).value(), "hello, " + name);
  // The provider's filter runs after the response left: wait for it.
  EXPECT_TRUE(testutil::wait_until([&] { return server_bytes->response.load() != 0; }, 1s));
  EXPECT_GT(server_bytes->request.load(), 24u);
  EXPECT_LT(server_bytes->request.load(), 2000u);  // 100 KB of text, compressed
  EXPECT_GT(server_bytes->response.load(), 24u);
  EXPECT_LT(server_bytes->response.load(), 2000u);
  EXPECT_EQ(client_bytes->sent.load(), server_bytes->request.load());
  EXPECT_EQ(client_bytes->received.load(), server_bytes->response.load());
  server.shutdown(100ms);
}

// A provider made of a raw socket: records each request frame and answers
// greet with "ok", or with a response whose compressed body is corrupt.
class RawProvider {
 public:
  RawProvider() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawProvider() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::vector<protocol::FrameHeader> headers() {
    std::lock_guard lock(mu_);
    return headers_;
  }
  std::vector<std::string> metas() {
    std::lock_guard lock(mu_);
    return metas_;
  }
  std::atomic<bool> corrupt_next{false};

 private:
  void serve() {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    RawConnection conn(fd);
    for (;;) {
      protocol::Frame f = conn.read();
      if (static_cast<int>(f.header.type) == 0) return;  // the consumer closed (or went silent for 5 s)
      if (f.header.type != protocol::FrameType::kRequest) continue;
      {
        std::lock_guard lock(mu_);
        headers_.push_back(f.header);
        metas_.emplace_back(f.meta());
      }
      protocol::FrameBuilder b(protocol::FrameType::kResponse, f.header.request_id);
      b.header().serialization = f.header.serialization;
      b.begin_body();
      if (corrupt_next.exchange(false)) {
        b.append_body("this is not a zstd frame at all");
        std::string out = b.finish();
        out[5] = static_cast<char>(protocol::flags::kResponseZstd);
        conn.send(out);
      } else {
        tern::serialization::MsgpackCodec::encode_value(b, std::string("ok"));
        conn.send(b.finish());
      }
    }
  }
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<protocol::FrameHeader> headers_;
  std::vector<std::string> metas_;
};

TEST(CompressionWire, ConsumerCompressesRequestsFromTheThresholdOn) {
  RawProvider provider;
  tern::Client client(tern::ClientOptions{.io_threads = 1});
  tern::ReferenceOptions o;
  o.compression = "zstd";
  o.compression_threshold = 1000;
  o.cluster = "failfast";
  auto calc = client.refer<Calculator>(testutil::direct({provider.port()}), o).value();
  // MessagePack of ["<n chars>"]: 1 (array) + 3 (str 16 header) + n bytes.
  EXPECT_EQ(calc.call<&Calculator::greet>(long_name(995)).value(), "ok");   // 999 bytes: plain
  EXPECT_EQ(calc.call<&Calculator::greet>(long_name(996)).value(), "ok");   // 1000 bytes: compressed
  EXPECT_EQ(calc.call<&Calculator::greet>(long_name(50000)).value(), "ok");
  auto headers = provider.headers();
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].status_or_flags, 0);
  EXPECT_EQ(headers[0].body_len, 999u);
  EXPECT_EQ(headers[1].status_or_flags, protocol::flags::kCompressedZstd);
  EXPECT_LT(headers[1].body_len, 1000u);
  EXPECT_EQ(headers[2].status_or_flags, protocol::flags::kCompressedZstd);
  EXPECT_LT(headers[2].body_len, 1000u);
  // Every request says the consumer reads zstd responses.
  for (const auto& meta : provider.metas()) {
    EXPECT_EQ(protocol::find_meta(meta, protocol::meta_keys::kAcceptCompression), "zstd");
  }
  // A corrupt compressed response fails that call with INTERNAL; the next works.
  provider.corrupt_next = true;
  auto bad = calc.call<&Calculator::greet>("x");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_EQ(bad.status().message(), "response: corrupt zstd body: not a zstd frame");
  EXPECT_EQ(calc.call<&Calculator::greet>("y").value(), "ok");
}

TEST(CompressionWire, WithoutTheOptionNothingIsCompressedOrAnnounced) {
  RawProvider provider;
  tern::Client client(tern::ClientOptions{.io_threads = 1});
  auto calc = client.refer<Calculator>(testutil::direct({provider.port()})).value();
  EXPECT_EQ(calc.call<&Calculator::greet>(long_name(100000)).value(), "ok");
  auto headers = provider.headers();
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].status_or_flags, 0);
  EXPECT_EQ(headers[0].body_len, 100006u);  // fixarray, str 32 header (5 bytes), the text
  EXPECT_EQ(protocol::find_meta(provider.metas()[0], protocol::meta_keys::kAcceptCompression).data(), nullptr);
}

}  // namespace
