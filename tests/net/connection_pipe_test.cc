// net::Connection over the in-memory pipe (src/net/memory_transport.h): the
// connection's own contract (bytes both ways, close reported once on each
// side with its reason, frames queued before the connect, the write queue
// limit, a refused connect) and its TLS layer (handshake, data and failures)
// without a socket, with reads cut down to single bytes.
#include "tern/net/connection.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>

#include "net/memory_transport.h"
#include "loop_thread.h"
#include "tern/net/tls_context.h"
#include "test_certs.h"

namespace tern::net {
namespace {

using namespace std::chrono_literals;
using tern::testing::LoopThread;
using tern::testing::wait_until;

struct Recorder : Connection::Handler {
  void on_connected(Connection&) override {
    std::lock_guard lock(mu);
    ++connects;
  }
  void on_data(Connection&, std::string_view data) override {
    std::lock_guard lock(mu);
    bytes.append(data);
  }
  void on_close(Connection&, const Status& r, bool connected) override {
    std::lock_guard lock(mu);
    ++closes;
    reason = r;
    was_connected = connected;
  }
  std::string received() {
    std::lock_guard lock(mu);
    return bytes;
  }
  int close_count() {
    std::lock_guard lock(mu);
    return closes;
  }
  int connect_count() {
    std::lock_guard lock(mu);
    return connects;
  }
  std::mutex mu;
  std::string bytes;
  int connects = 0;
  int closes = 0;
  Status reason;
  bool was_connected = false;
};

// A dialled client and an adopted server over one pipe on `loop`; reads cut
// to `read_size` bytes on both ends (0: as much as there is).
struct Pair {
  Pair(asio::io_context& loop, Connection::Options client_options = {}, Connection::Options server_options = {},
       std::size_t read_size = 0) {
    auto [c, s] = make_memory_pipe(loop, loop);
    if (read_size > 0) {
      c->set_read_sizes([read_size] { return read_size; });
      s->set_read_sizes([read_size] { return read_size; });
    }
    client = Connection::dial(std::move(c), client_options);
    server = Connection::adopt(std::move(s), server_options);
    client->set_handler(client_rec);
    server->set_handler(server_rec);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  // Both closed before the loop goes (a pending read holds its connection).
  ~Pair() {
    client->close();
    server->close();
    EXPECT_TRUE(wait_until([&] { return client_rec->close_count() == 1 && server_rec->close_count() == 1; }));
  }

  std::shared_ptr<Recorder> client_rec = std::make_shared<Recorder>();
  std::shared_ptr<Recorder> server_rec = std::make_shared<Recorder>();
  std::shared_ptr<Connection> client, server;
};

TEST(MemoryPipe, ReadsWaitsAndClose) {
  asio::io_context loop;
  auto [a, b] = make_memory_pipe(loop, loop, "a", "b");
  EXPECT_EQ(a->remote_text(), "b");
  EXPECT_EQ(b->local_text(), "b");
  b->set_read_sizes([] { return std::size_t(2); });
  char buf[8];
  std::error_code ec;
  EXPECT_EQ(b->read_some(buf, sizeof buf, ec), 0u);
  EXPECT_EQ(ec, asio::error::would_block);
  std::error_code waited = asio::error::timed_out;
  b->async_wait_readable([&](std::error_code e) { waited = e; });
  EXPECT_EQ(a->try_write("hello", 5), 5);
  EXPECT_EQ(waited, asio::error::timed_out);  // posted, not run inline
  loop.run();
  loop.restart();
  EXPECT_EQ(waited, std::error_code());
  EXPECT_EQ(b->available(), 5u);
  EXPECT_EQ(b->read_some(buf, sizeof buf, ec), 2u);
  EXPECT_EQ(std::string(buf, 2), "he");
  EXPECT_EQ(b->read_some(buf, 1, ec), 1u);  // the reader's size wins when smaller
  EXPECT_EQ(b->read_some(buf, sizeof buf, ec), 2u);
  EXPECT_EQ(std::string(buf, 2), "lo");
  std::error_code wrote = asio::error::timed_out;
  std::string more = "!";
  asio::const_buffer one(more.data(), more.size());
  a->async_write(std::span<const asio::const_buffer>(&one, 1), [&](std::error_code e) { wrote = e; });
  a->close();
  EXPECT_FALSE(a->is_open());
  loop.run();
  loop.restart();
  EXPECT_EQ(wrote, std::error_code());
  EXPECT_EQ(b->read_some(buf, sizeof buf, ec), 1u);  // written before the close: still delivered
  EXPECT_EQ(b->read_some(buf, sizeof buf, ec), 0u);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(b->try_write("x", 1), 1);  // to a closed peer: discarded
  waited = asio::error::timed_out;
  b->async_wait_readable([&](std::error_code e) { waited = e; });
  loop.run();
  loop.restart();
  EXPECT_EQ(waited, std::error_code());  // eof is readable
  b->close();
  b->async_wait_readable([&](std::error_code e) { waited = e; });
  loop.run();
  EXPECT_EQ(waited, asio::error::operation_aborted);
  EXPECT_EQ(b->try_write("x", 1), -1);
}

// The read path switches between a wait plus reads into the IO thread's
// buffer and reads into the connection's own 4 KiB buffer (after small
// reads): small messages one at a time, a 100 KiB blob, small ones again,
// then the peer's close: every byte arrives once, in order, and the close
// reason is the peer's.
TEST(ConnectionPipe, SmallAndLargeReadsInAnyOrderDeliverEveryByteOnce) {
  LoopThread io;
  Pair p(io.loop());
  p.client->start();
  p.server->start();
  ASSERT_TRUE(wait_until([&] { return p.client->connected(); }));
  std::string sent;
  auto send_and_wait = [&](std::string m) {
    sent += m;
    ASSERT_TRUE(p.client->send(std::move(m)));
    ASSERT_TRUE(wait_until([&] { return p.server_rec->received().size() == sent.size(); }));
  };
  for (int i = 0; i < 50; ++i) send_and_wait("m" + std::to_string(i) + ";");
  std::string blob(100 * 1024, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>('a' + i % 26);
  send_and_wait(blob);
  for (int i = 0; i < 50; ++i) send_and_wait(std::string(static_cast<std::size_t>(1 + i * 97 % 5000), 'x'));
  send_and_wait(blob);
  send_and_wait("end");
  EXPECT_EQ(p.server_rec->received(), sent);
  p.client->close();
  ASSERT_TRUE(wait_until([&] { return p.server_rec->close_count() == 1; }));
  std::lock_guard lock(p.server_rec->mu);
  EXPECT_EQ(p.server_rec->reason.message(), "connection closed by peer pipe:client");
}

TEST(ConnectionPipe, BytesBothWaysAndEachSideReportsItsCloseOnce) {
  LoopThread io;
  Pair p(io.loop(), {}, {}, 1);
  EXPECT_TRUE(p.server->connected());   // accepted plain: ready at once
  EXPECT_FALSE(p.client->connected());  // dialled: after the connect
  EXPECT_FALSE(p.client->tls());
  ASSERT_TRUE(p.client->send("queued before the connect"));
  p.client->start();
  p.server->start();
  ASSERT_TRUE(wait_until([&] { return p.client->connected(); }));
  ASSERT_TRUE(p.server->send("hello "));
  ASSERT_TRUE(p.server->send("client", true));
  ASSERT_TRUE(wait_until([&] { return p.client_rec->received() == "hello client"; }));
  ASSERT_TRUE(wait_until([&] { return p.server_rec->received() == "queued before the connect"; }));
  EXPECT_EQ(p.client_rec->connect_count(), 1);
  EXPECT_EQ(p.server_rec->connect_count(), 0);  // accepted plain connections are not announced
  EXPECT_EQ(p.client->remote_text(), "pipe:server");
  EXPECT_EQ(p.server->remote_text(), "pipe:client");

  p.client->close(Status(StatusCode::kCancelled, "bye"));
  ASSERT_TRUE(wait_until([&] { return p.client_rec->close_count() == 1 && p.server_rec->close_count() == 1; }));
  EXPECT_EQ(p.client_rec->reason.code(), StatusCode::kCancelled);
  EXPECT_EQ(p.client_rec->reason.message(), "bye");
  EXPECT_TRUE(p.client_rec->was_connected);
  EXPECT_EQ(p.server_rec->reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(p.server_rec->reason.message(), "connection closed by peer pipe:client");
  EXPECT_TRUE(p.server_rec->was_connected);
  EXPECT_FALSE(p.client->is_open());
  EXPECT_FALSE(p.server->is_open());
  EXPECT_FALSE(p.server->send("late"));
  p.client->close(Status(StatusCode::kInternal, "again"));  // idempotent
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(p.client_rec->close_count(), 1);
  EXPECT_EQ(p.client->close_reason().message(), "bye");
}

TEST(ConnectionPipe, ARefusedConnectClosesUnavailableNotConnected) {
  LoopThread io;
  auto [c, s] = make_memory_pipe(io.loop(), io.loop());
  c->set_connect_error(asio::error::connection_refused);
  auto conn = Connection::dial(std::move(c), {});
  auto rec = std::make_shared<Recorder>();
  conn->set_handler(rec);
  conn->start();
  ASSERT_TRUE(wait_until([&] { return rec->close_count() == 1; }));
  EXPECT_EQ(rec->reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(rec->reason.message(),
            "cannot connect to pipe:server: " + std::error_code(asio::error::connection_refused).message());
  EXPECT_FALSE(rec->was_connected);
  EXPECT_EQ(rec->connect_count(), 0);
}

TEST(ConnectionPipe, TheWriteQueueLimitClosesResourceExhausted) {
  LoopThread io;
  Connection::Options o;
  o.max_write_queue = 10;
  Pair p(io.loop(), o);
  EXPECT_TRUE(p.client->send("123456"));  // not connected yet: queued
  EXPECT_EQ(p.client->queued_bytes(), 6u);
  EXPECT_FALSE(p.client->send("7890a"));  // 11 > 10
  Status why = p.client->close_reason();
  EXPECT_EQ(why.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(why.message(), "write queue to pipe:server exceeded 10 bytes (peer not reading)");
  p.client->start();
  ASSERT_TRUE(wait_until([&] { return p.client_rec->close_count() == 1; }));
  EXPECT_EQ(p.client_rec->reason.message(), why.message());
  EXPECT_FALSE(p.client_rec->was_connected);
}

// ---------------------------------------------------------------------------
// TLS over the pipe

// Reads `end` until the other end closed (true) or 5 s passed.
bool closed_by_peer(MemoryTransport& end) {
  return wait_until([&] {
    char buf[4096];
    std::error_code ec;
    while (end.read_some(buf, sizeof buf, ec) > 0) {
    }
    return ec == asio::error::eof;
  });
}

std::shared_ptr<TlsContext> server_tls() {
  TlsOptions t;
  t.cert_file = testcerts::pki().server_cert;
  t.key_file = testcerts::pki().server_key;
  auto ctx = TlsContext::create(t, TlsContext::Role::kServer);
  EXPECT_TRUE(ctx.ok()) << ctx.status().to_string();
  return *ctx;
}

std::shared_ptr<TlsContext> client_tls(const std::string& ca) {
  TlsOptions t;
  t.ca_file = ca;
  t.server_name = "localhost";
  auto ctx = TlsContext::create(t, TlsContext::Role::kClient);
  EXPECT_TRUE(ctx.ok()) << ctx.status().to_string();
  return *ctx;
}

TEST(ConnectionPipeTls, HandshakeAndDataWithEveryRecordSplitIntoBytes) {
  LoopThread io;
  Connection::Options co;
  co.tls = client_tls(testcerts::pki().ca);
  Connection::Options so;
  so.tls = server_tls();
  Pair p(io.loop(), co, so, 1);
  EXPECT_TRUE(p.client->tls());
  EXPECT_FALSE(p.server->connected());  // accepted TLS: after the handshake
  ASSERT_TRUE(p.client->send("request before the handshake"));
  p.client->start();
  p.server->start();
  ASSERT_TRUE(wait_until([&] { return p.client->connected() && p.server->connected(); }));
  EXPECT_EQ(p.client_rec->connect_count(), 1);
  EXPECT_EQ(p.server_rec->connect_count(), 1);
  std::string big(100000, 'q');  // several TLS records
  ASSERT_TRUE(p.server->send(big));
  ASSERT_TRUE(wait_until([&] { return p.server_rec->received() == "request before the handshake"; }, 30s));
  ASSERT_TRUE(wait_until([&] { return p.client_rec->received().size() == big.size(); }, 30s));
  EXPECT_EQ(p.client_rec->received(), big);
  p.server->close(Status(StatusCode::kCancelled, "done"));
  ASSERT_TRUE(wait_until([&] { return p.client_rec->close_count() == 1; }));
  EXPECT_EQ(p.client_rec->reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(p.client_rec->reason.message(), "connection closed by peer pipe:server");
  EXPECT_TRUE(p.client_rec->was_connected);
}

TEST(ConnectionPipeTls, AServerSignedByAnUntrustedCaFailsTheHandshake) {
  LoopThread io;
  Connection::Options co;
  co.tls = client_tls(testcerts::pki().other_ca);
  Connection::Options so;
  so.tls = server_tls();
  Pair p(io.loop(), co, so, 7);
  ASSERT_TRUE(p.client->send("never sent"));
  p.client->start();
  p.server->start();
  ASSERT_TRUE(wait_until([&] { return p.client_rec->close_count() == 1 && p.server_rec->close_count() == 1; }));
  EXPECT_EQ(p.client_rec->reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(p.client_rec->reason.message(),
            "TLS handshake with pipe:server failed: certificate verify failed (unable to get local issuer "
            "certificate)");
  EXPECT_FALSE(p.client_rec->was_connected);
  EXPECT_EQ(p.server_rec->reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(p.server_rec->reason.message(), "TLS handshake with pipe:client failed: tlsv1 alert unknown ca");
  EXPECT_FALSE(p.server_rec->was_connected);
  EXPECT_EQ(p.server_rec->received(), "");
}

TEST(ConnectionPipeTls, ASilentClientIsClosedAfterTheHandshakeTimeout) {
  LoopThread io;
  auto [c, s] = make_memory_pipe(io.loop(), io.loop());
  Connection::Options so;
  so.tls = server_tls();
  so.connect_timeout = 100ms;
  auto server = Connection::adopt(std::move(s), so);
  auto rec = std::make_shared<Recorder>();
  server->set_handler(rec);
  server->start();
  ASSERT_TRUE(wait_until([&] { return rec->close_count() == 1; }));
  EXPECT_EQ(rec->reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(rec->reason.message(), "TLS handshake with pipe:client timed out after 100 ms");
  EXPECT_FALSE(rec->was_connected);
  EXPECT_TRUE(closed_by_peer(*c));
}

TEST(ConnectionPipeTls, APlainTextClientFailsTheServersHandshake) {
  LoopThread io;
  auto [c, s] = make_memory_pipe(io.loop(), io.loop());
  Connection::Options so;
  so.tls = server_tls();
  auto server = Connection::adopt(std::move(s), so);
  auto rec = std::make_shared<Recorder>();
  server->set_handler(rec);
  server->start();
  std::string plain(64, '\x7e');
  c->try_write(plain.data(), plain.size());
  ASSERT_TRUE(wait_until([&] { return rec->close_count() == 1; }));
  EXPECT_EQ(rec->reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(rec->reason.message(), "TLS handshake with pipe:client failed: wrong version number");
  EXPECT_FALSE(rec->was_connected);
  EXPECT_EQ(rec->received(), "");
  EXPECT_TRUE(closed_by_peer(*c));
}

}  // namespace
}  // namespace tern::net
