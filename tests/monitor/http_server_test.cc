// HttpServer's POST routes (tern/monitor/http.h): the body arrives whole,
// also when it is larger than the head buffer or comes in pieces; requests
// it cannot serve get their exact status and never a crash.
#include "tern/monitor/http.h"

#include <gtest/gtest.h>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <random>
#include <string>
#include <thread>
#include <vector>

namespace tern::monitor {
namespace {

using std::chrono::milliseconds;

class HttpPost : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions o;
    o.max_body_bytes = 64 * 1024;
    server_ = std::make_unique<HttpServer>(o);
    // Echoes the body's size and its first and last byte.
    server_->post_route("/echo", [](const HttpRequest& req) {
      std::string edges = req.body.empty() ? "" : std::string(1, req.body.front()) + req.body.back();
      return HttpResponse{200, "text/plain", std::to_string(req.body.size()) + " " + edges, {}};
    });
    server_->route("/page", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "page", {}}; });
    ASSERT_TRUE(server_->start().is_ok());
  }

  std::string status_line(const std::string& raw) {
    auto r = http_exchange(server_->address(), raw, milliseconds(2000));
    EXPECT_TRUE(r.has_value()) << r.status();
    return r.has_value() ? r->substr(0, r->find("\r\n")) : "";
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpPost, BodiesOfAnySizeUpToTheLimitArriveWhole) {
  for (std::size_t n : {std::size_t{0}, std::size_t{2}, std::size_t{300}, std::size_t{20000}, std::size_t{64 * 1024}}) {
    std::string body(n, 'x');
    if (n > 0) {
      body.front() = '<';
      body.back() = '>';
    }
    auto r = http_post(server_->address(), "/echo", body);
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, std::to_string(n) + (n > 0 ? " <>" : " ")) << n;
  }
}

TEST_F(HttpPost, ABodySentInPiecesArrivesWhole) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  auto hp = server_->address();
  s.connect({asio::ip::make_address(hp.host), hp.port});
  asio::write(s, asio::buffer(std::string("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n<abc")));
  std::this_thread::sleep_for(milliseconds(20));  // make the pieces separate reads (correct either way)
  asio::write(s, asio::buffer(std::string("defgh>")));
  std::string out;
  std::error_code ec;
  asio::read(s, asio::dynamic_buffer(out), ec);
  EXPECT_EQ(out.substr(0, out.find("\r\n")), "HTTP/1.1 200 OK");
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), "10 <>");
}

TEST_F(HttpPost, RequestsItCannotServeGetTheirStatus) {
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\n\r\n"), "HTTP/1.1 411 Length Required");
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\nContent-Length: ten\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"), "HTTP/1.1 413 Content Too Large");
  // Two different lengths: ambiguous framing, refused (RFC 9112 6.3); the same one twice is fine.
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 60\r\n\r\nab"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"),
            "HTTP/1.1 200 OK");
  EXPECT_EQ(status_line("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            "HTTP/1.1 501 Not Implemented");
  EXPECT_EQ(status_line("POST /page HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(status_line("GET /echo HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(status_line("PUT /echo HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(status_line("POST /nothing HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), "HTTP/1.1 404 Not Found");
  // A body shorter than announced: the connection times out (read_timeout)
  // or the client gives up; either way the server keeps serving.
  auto r = http_exchange(server_->address(), "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", milliseconds(200));
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(status_line("GET /page HTTP/1.1\r\n\r\n"), "HTTP/1.1 200 OK");
}

// Garbage never stops the server: random heads and bodies (fixed seed),
// each answered or dropped, then a normal request still works.
TEST_F(HttpPost, RandomRequestsNeverStopTheServer) {
  std::mt19937 rng(19);
  const std::vector<std::string> pieces{"POST ", "GET ", "/echo", "/page", " HTTP/1.1", "\r\n", "\r\n\r\n",
                                        "Content-Length: ", "7", "999999", "-", "Transfer-Encoding: chunked",
                                        ":", " ", "\0", "\xff", "{\"a\":1}", "x"};
  for (int i = 0; i < 200; ++i) {
    std::string raw;
    const int n = static_cast<int>(rng() % 12) + 1;
    for (int k = 0; k < n; ++k) raw += pieces[rng() % pieces.size()];
    if (i % 2 == 0) raw += "\r\n\r\n0123456789";  // half of them with a complete head
    (void)http_exchange(server_->address(), raw, milliseconds(20));  // may time out: the request is incomplete
  }
  auto r = http_post(server_->address(), "/echo", "<ok>");
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(r->body, "4 <>");
}

}  // namespace
}  // namespace tern::monitor
