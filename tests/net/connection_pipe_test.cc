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

struct Pair {
  std::shared_ptr<Connection> client, server;
  std::shared_ptr<Recorder> client_rec = std::make_shared<Recorder>();
  std::shared_ptr<Recorder> server_rec = std::make_shared<Recorder>();
  ~Pair() {
    if (client) client->close();
    if (server) server->close();
  }
};

// A dialled client and an adopted server over one pipe on `loop`; reads cut
// to `read_size` bytes on both ends (0: as much as there is).
Pair make_pair(asio::io_context& loop, Connection::Options client_options = {},
               Connection::Options server_options = {}, std::size_t read_size = 0) {
  auto [c, s] = make_memory_pipe(loop, loop);
  if (read_size > 0) {
    c->set_read_sizes([read_size] { return read_size; });
    s->set_read_sizes([read_size] { return read_size; });
  }
  Pair p;
  p.client = Connection::dial(std::move(c), client_options);
  p.server = Connection::adopt(std::move(s), server_options);
  p.client->set_handler(p.client_rec);
  p.server->set_handler(p.server_rec);
  return p;
}

TEST(ConnectionPipe, BytesBothWaysAndEachSideReportsItsCloseOnce) {
  LoopThread io;
  Pair p = make_pair(io.loop(), {}, {}, 1);
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
  Pair p = make_pair(io.loop(), o);
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
  Pair p = make_pair(io.loop(), co, so, 1);
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
  Pair p = make_pair(io.loop(), co, so, 7);
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
