// The TCP transport's reads over a real loopback socket (sockets are the
// point here; src/net/tcp_transport.cc). Asio's reactor registers sockets
// edge-triggered, so a read that skipped a recv() after a short read would
// hang or lose the end of the stream (a change tried for issue #17 did, see
// bench/notes.md). These tests pin what any read path must keep: messages
// written only once the next read waits (each read woken by an edge), a
// pipelined stream read through a small buffer, the peer's close right
// after a short read, its close queued together with its last bytes after
// reads have been waiting, and a read pending when the transport closes.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "net/transport.h"

namespace tern::net {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kBuffer = 4096;  // Connection's own read buffer (kOwnReadBuffer)

// A connected pair on loopback: `peer` is a plain blocking socket the test
// writes with; `transport` is the accepted end, prepared as a Connection does.
struct Pair {
  asio::io_context io;
  asio::ip::tcp::socket peer{io};
  std::unique_ptr<Transport> transport;

  Pair() {
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    transport = make_tcp_transport(acceptor.accept());
    transport->prepare();
  }

  struct Read {
    std::error_code ec;
    std::size_t n = 0;
  };
  // One async_read_some into `buf`, run on this thread until it completes
  // (at most `patience` of real time: a read that misses its data hangs).
  // `then` runs once the read has been started and the loop polled (a read
  // with nothing to read yet is then waiting in the reactor), e.g. to write
  // what it should receive.
  template <typename Then = void (*)()>
  std::optional<Read> read_once(char* buf, std::size_t size, Then then = [] {},
                                std::chrono::milliseconds patience = 5s) {
    std::optional<Read> out;
    transport->async_read_some(buf, size, [&](std::error_code ec, std::size_t n) { out = Read{ec, n}; });
    io.restart();
    io.poll();
    then();
    auto until = std::chrono::steady_clock::now() + patience;
    while (!out && std::chrono::steady_clock::now() < until) io.run_one_for(10ms);
    return out;
  }
};

std::string message(std::mt19937& rng, std::size_t size) {
  std::string m(size, '\0');
  for (auto& c : m) c = static_cast<char>('a' + rng() % 26);
  return m;
}

TEST(TcpTransport, MessagesWrittenAfterEachReadCompletedAllArrive) {
  // Ping-pong: every read drains the socket (the message is shorter than the
  // buffer), and the next message is written only once the next read waits,
  // so each read must be woken by epoll's edge.
  Pair p;
  std::mt19937 rng(17);
  char buf[kBuffer];
  for (int round = 0; round < 2000; ++round) {
    std::string m = message(rng, 1 + rng() % 3000);
    bool written = false;
    auto write = [&] {
      if (!written) asio::write(p.peer, asio::buffer(m));
      written = true;
    };
    std::string got;
    while (got.size() < m.size()) {
      auto r = p.read_once(buf, sizeof buf, write);
      ASSERT_TRUE(r.has_value()) << "round " << round << ": no read completed after " << got.size() << " of "
                                 << m.size() << " bytes";
      ASSERT_FALSE(r->ec) << r->ec.message();
      ASSERT_GT(r->n, 0u);
      got.append(buf, r->n);
    }
    ASSERT_EQ(got, m) << "round " << round;
  }
}

TEST(TcpTransport, APipelinedStreamArrivesWholeAndInOrderThroughASmallBuffer) {
  // The peer writes 4 MiB in chunks of random sizes while the transport
  // reads: full reads, short reads and speculative reads all occur.
  Pair p;
  std::mt19937 rng(29);
  const std::string all = message(rng, 4 << 20);
  std::thread writer([&] {
    std::mt19937 sizes(31);
    for (std::size_t at = 0; at < all.size();) {
      std::size_t n = std::min<std::size_t>(all.size() - at, 1 + sizes() % 20000);
      asio::write(p.peer, asio::buffer(all.data() + at, n));
      at += n;
      if (sizes() % 8 == 0) std::this_thread::yield();  // let the reader drain the socket now and then
    }
  });
  std::string got;
  char buf[kBuffer];
  while (got.size() < all.size()) {
    auto r = p.read_once(buf, sizeof buf);
    if (!r || r->ec) break;
    got.append(buf, r->n);
  }
  writer.join();
  ASSERT_EQ(got.size(), all.size());
  EXPECT_TRUE(got == all) << "bytes reordered or corrupted";
}

TEST(TcpTransport, ThePeersCloseAfterAShortReadIsTheEndOfTheStream) {
  Pair p;
  char buf[kBuffer];
  asio::write(p.peer, asio::buffer(std::string("hello")));
  auto first = p.read_once(buf, sizeof buf);
  ASSERT_TRUE(first.has_value());
  ASSERT_FALSE(first->ec) << first->ec.message();
  EXPECT_EQ(std::string(buf, first->n), "hello");
  p.peer.close();
  auto end = p.read_once(buf, sizeof buf);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->ec, asio::error::eof);
  EXPECT_EQ(end->n, 0u);
}

TEST(TcpTransport, ACloseQueuedBehindTheLastBytesIsSeenAfterReadsHaveBeenWaiting) {
  // Reads have been waiting for edges (ping-pong). Then the peer's last
  // bytes and its FIN arrive before the next read is started: one edge for
  // both. A short read of those bytes does not mean the socket is drained:
  // the end of the stream is still queued, and no later edge announces it.
  Pair p;
  char buf[kBuffer];
  for (int round = 0; round < 16; ++round) {
    std::string m = "ping " + std::to_string(round);
    auto r = p.read_once(buf, sizeof buf, [&] { asio::write(p.peer, asio::buffer(m)); });
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(r->ec) << r->ec.message();
    ASSERT_EQ(std::string(buf, r->n), m);
  }
  asio::write(p.peer, asio::buffer(std::string("last")));
  p.peer.shutdown(asio::ip::tcp::socket::shutdown_send);
  // On loopback both are queued here before write() and shutdown() return
  // (the loopback device delivers in the sender's own softirq).
  std::string got;
  std::optional<Pair::Read> r;
  for (int reads = 0; reads < 4; ++reads) {
    r = p.read_once(buf, sizeof buf, [] {}, 2s);
    ASSERT_TRUE(r.has_value()) << "the end of the stream was never reported (after \"" << got << "\")";
    if (r->ec) break;
    got.append(buf, r->n);
  }
  EXPECT_EQ(got, "last");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ec, asio::error::eof);
}

TEST(TcpTransport, ClosingTheTransportAbortsAPendingRead) {
  Pair p;
  char buf[kBuffer];
  asio::write(p.peer, asio::buffer(std::string("x")));
  ASSERT_TRUE(p.read_once(buf, sizeof buf).has_value());  // a short read: the socket counts as drained
  std::optional<std::error_code> aborted;
  p.transport->async_read_some(buf, sizeof buf, [&](std::error_code ec, std::size_t) { aborted = ec; });
  p.io.restart();
  p.io.poll();
  EXPECT_FALSE(aborted.has_value()) << "completed with nothing to read";
  p.transport->close();
  p.io.restart();
  p.io.run_for(1s);
  ASSERT_TRUE(aborted.has_value());
  EXPECT_EQ(*aborted, asio::error::operation_aborted);
}

}  // namespace
}  // namespace tern::net
