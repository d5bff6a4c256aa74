// net::Connection: the close reason is known to senders as soon as send()
// refuses (a call racing with a failed connect or TLS handshake names the
// cause instead of a generic "connection closed").
#include "tern/net/connection.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>
#include <string>

namespace tern::net {
namespace {

struct Recorder : Connection::Handler {
  void on_data(Connection&, std::string_view) override {}
  void on_close(Connection&, const Status& reason, bool connected) override {
    seen = reason;
    was_connected = connected;
    ++closes;
  }
  Status seen;
  bool was_connected = true;
  int closes = 0;
};

// A loopback port nobody listens on: bound, then closed.
unsigned short closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  unsigned short port = a.local_endpoint().port();
  a.close();
  return port;
}

TEST(Connection, CloseReasonIsKnownBeforeTheLoopRunsTheClose) {
  asio::io_context loop;  // not running: the close is still queued below
  auto conn = Connection::dial(loop, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 1), {});
  auto rec = std::make_shared<Recorder>();
  conn->set_handler(rec);
  EXPECT_TRUE(conn->close_reason().is_ok());
  conn->close(Status(StatusCode::kResourceExhausted, "write queue full"));
  EXPECT_FALSE(conn->send("frame"));
  EXPECT_EQ(conn->close_reason().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(conn->close_reason().message(), "write queue full");
  // A later reason does not replace the first.
  conn->close(Status(StatusCode::kUnavailable, "second"));
  EXPECT_EQ(conn->close_reason().message(), "write queue full");
  loop.run();
  EXPECT_EQ(rec->closes, 1);
  EXPECT_EQ(rec->seen.message(), "write queue full");
  EXPECT_FALSE(rec->was_connected);
}

TEST(Connection, FailedConnectIsTheCloseReasonSendersSee) {
  asio::io_context loop;
  unsigned short port = closed_port();
  auto conn = Connection::dial(loop, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), {});
  auto rec = std::make_shared<Recorder>();
  conn->set_handler(rec);
  conn->start();
  loop.run();  // connect refused, closed; nothing else keeps the loop busy
  ASSERT_EQ(rec->closes, 1);
  EXPECT_FALSE(conn->send("frame"));
  Status why = conn->close_reason();
  EXPECT_EQ(why.code(), StatusCode::kUnavailable);
  EXPECT_EQ(why.message().rfind("cannot connect to 127.0.0.1:" + std::to_string(port) + ": ", 0), 0u) << why;
  EXPECT_EQ(why.message(), rec->seen.message());
}

}  // namespace
}  // namespace tern::net
