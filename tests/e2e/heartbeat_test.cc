// The heartbeat timeout (src/rpc/session.h): when nothing was read for
// `heartbeat_interval` a ping is sent; after 3 pings unanswered the
// connection is closed with UNAVAILABLE "heartbeat timeout: <peer> stopped
// answering". Each side against a real peer over loopback that reads
// everything and answers nothing (a frozen process, a one-way network), with
// a short interval; the waits are bounded and wait for the outcome itself.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <string>
#include <thread>

#include "loopback.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/protocol/decoder.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;
using Clock = std::chrono::steady_clock;

namespace {

using testutil::wait_until;

constexpr auto kInterval = 100ms;

// The frames in `bytes`, counted by type; a protocol error is a test failure.
std::map<tern::protocol::FrameType, int> frame_types(std::string_view bytes) {
  std::map<tern::protocol::FrameType, int> n;
  tern::protocol::FrameDecoder decoder;
  tern::Status s = decoder.feed(bytes, [&](tern::protocol::Frame&& f) { ++n[f.header.type]; });
  EXPECT_TRUE(s.is_ok()) << s;
  return n;
}

// A peer on 127.0.0.1 that accepts one connection, reads everything and
// writes nothing, on a thread of its own (for at most 20 s). `received` may
// be read once `closed` is true.
class SilentPeer {
 public:
  SilentPeer() : port_(acceptor_.local_endpoint().port()) {
    acceptor_.async_accept(socket_, [this](std::error_code ec) {
      if (!ec) read();
    });
    thread_ = std::thread([this] { io_.run_for(20s); });
  }
  ~SilentPeer() {
    io_.stop();
    thread_.join();
  }
  int port() const { return port_; }

  std::atomic<bool> closed{false};  // the other side closed (EOF or reset)
  std::string received;

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buf_), [this](std::error_code ec, std::size_t n) {
      received.append(buf_.data(), n);
      if (ec) {
        closed = true;
        return;
      }
      read();
    });
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  asio::ip::tcp::socket socket_{io_};
  int port_;
  std::array<char, 4096> buf_{};
  std::thread thread_;
};

tern::ClientOptions pinging_client() {
  auto co = testutil::one_io();
  co.channel.heartbeat_interval = kInterval;
  return co;
}

// A call pending on a connection whose provider stopped answering fails
// UNAVAILABLE "heartbeat timeout" after the three unanswered pings (the
// timeout of the call itself is far away), and the connection is closed.
TEST(Heartbeat, ConsumerDeclaresASilentProviderDeadAfterThreeUnansweredPings) {
  SilentPeer peer;
  tern::Client client(pinging_client());
  auto o = testutil::failfast();
  o.timeout = 10s;
  auto calc = client.refer<Calculator>(testutil::direct({peer.port()}), o).value();
  auto t0 = Clock::now();
  auto f = calc.async_call<&Calculator::add>(1, 2);
  ASSERT_TRUE(f.wait_for(5s)) << "not declared dead within 5 s";
  auto took = Clock::now() - t0;
  auto r = f.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "heartbeat timeout: 127.0.0.1:" + std::to_string(peer.port()) + " stopped answering");
  EXPECT_TRUE(r.status().may_have_executed());  // the request was sent
  // Pings after 1, 2 and 3 idle intervals from the connect (after t0), the
  // close at the fourth tick; the upper bound leaves room for a slow machine.
  EXPECT_GE(took, 4 * kInterval);
  EXPECT_LT(took, 10 * kInterval);
  std::printf("measured: a silent provider declared dead after %.0f ms (heartbeat_interval %lld ms)\n",
              std::chrono::duration<double, std::milli>(took).count(), static_cast<long long>(kInterval.count()));

  ASSERT_TRUE(wait_until([&] { return peer.closed.load(); }, 3s)) << "the connection stayed open";
  auto frames = frame_types(peer.received);
  EXPECT_EQ(frames[tern::protocol::FrameType::kRequest], 1);
  EXPECT_EQ(frames[tern::protocol::FrameType::kPing], 3);
  EXPECT_EQ(frames.size(), 2u);  // nothing else
  auto ch = client.channels().get(tern::HostPort{"127.0.0.1", static_cast<std::uint16_t>(peer.port())});
  EXPECT_FALSE(ch->connected());
  EXPECT_EQ(ch->stats().pending, 0u);
  EXPECT_EQ(ch->stats().timeouts, 0u);  // not the call's own deadline
}

// The control: a provider that answers the pings keeps the connection
// through a call much longer than the heartbeat timeout (the handler's sleep
// of 8 intervals is the behaviour under test).
TEST(Heartbeat, AnsweredPingsKeepALongCallAlive) {
  auto server = testutil::start_server();
  tern::Client client(pinging_client());
  auto o = testutil::failfast();
  o.timeout = 10s;
  auto calc = client.refer<Calculator>(testutil::direct(*server), o).value();
  const int ms = static_cast<int>(8 * kInterval.count());
  auto r = calc.call<&Calculator::sleep_ms>(ms);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, "slept " + std::to_string(ms));
  auto ch = client.channels().get(tern::HostPort{"127.0.0.1", static_cast<std::uint16_t>(server->port())});
  EXPECT_TRUE(ch->connected());
  EXPECT_EQ(ch->stats().connects, 1u);  // the one connection lasted
  server->shutdown(100ms);
}

// The provider's side: a consumer that connected and stopped answering gets
// three pings, then its connection is closed.
TEST(Heartbeat, ProviderClosesASilentConsumerAfterThreeUnansweredPings) {
  tern::ServerOptions so;
  so.heartbeat_interval = kInterval;
  auto server = testutil::start_server(so);
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(server->port())});
  ASSERT_TRUE(wait_until([&] { return server->stats().connections == 1; }, 3s));
  auto t0 = Clock::now();
  // Reads until the server closes (0: EOF; -1: reset), for at most 5 s.
  std::string received;
  std::array<char, 4096> buf{};
  const auto deadline = t0 + 5s;
  ssize_t n = 1;
  while (n > 0 && Clock::now() < deadline) {
    pollfd p{s.native_handle(), POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
    n = ::recv(s.native_handle(), buf.data(), buf.size(), 0);
    if (n > 0) received.append(buf.data(), static_cast<std::size_t>(n));
  }
  auto took = Clock::now() - t0;
  ASSERT_LE(n, 0) << "the connection stayed open for 5 s";
  auto frames = frame_types(received);
  EXPECT_EQ(frames[tern::protocol::FrameType::kPing], 3);
  EXPECT_EQ(frames.size(), 1u);  // pings only
  // Pings after 1, 2 and 3 idle intervals from the accept (a little before
  // t0: the wait for `connections` polls every 5 ms), the close at the fourth.
  EXPECT_GE(took, 4 * kInterval - 20ms);
  EXPECT_LT(took, 10 * kInterval);
  std::printf("measured: a silent consumer's connection closed after %.0f ms (heartbeat_interval %lld ms)\n",
              std::chrono::duration<double, std::milli>(took).count(), static_cast<long long>(kInterval.count()));
  EXPECT_TRUE(wait_until([&] { return server->stats().connections == 0; }, 3s)) << server->stats().connections;
  server->shutdown(100ms);
}

}  // namespace
