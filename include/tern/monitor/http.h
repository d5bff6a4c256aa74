// tern/monitor/http.h - the smallest HTTP/1.1 needed by the monitor: a
// server for the admin endpoint and the `tern monitor` dashboard, and a
// client for scraping and tests. Not a general web server: one request per
// connection (the response carries Connection: close), GET/HEAD routes and
// POST routes with a Content-Length body (bounded; no chunked encoding), no
// TLS.
//
//   tern::monitor::HttpServer http({.listen = "127.0.0.1:0"});
//   http.route("/health", [](const tern::monitor::HttpRequest&) { return tern::monitor::HttpResponse{200, "text/plain", "ok\n"}; });
//   http.start();                        // http.address() is the bound host:port
//
// Answers the server gives by itself:
//   400 Bad Request          malformed request line or header, HTTP version
//                            other than 1.x, a malformed Content-Length
//   404 Not Found            no route for the path
//   405 Method Not Allowed   a method the path has no route for (Allow lists them)
//   411 Length Required      a POST without Content-Length
//   413 Content Too Large    a body over max_body_bytes
//   431 Request Header Fields Too Large   request head over max_request_bytes
//   500 Internal Server Error   a handler threw
//   501 Not Implemented      a request with Transfer-Encoding (chunked bodies)
// A client that sends nothing within read_timeout is disconnected (the head
// and the body must each arrive within it).
//
// Thread safety: route() before start(); handlers run one at a time on the
// server's own thread, so they must not block for long. start()/shutdown()/
// address() from any thread; shutdown() is idempotent and also runs in the
// destructor. Handlers may still run until shutdown() returns, never after.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "tern/result.h"
#include "tern/url.h"

namespace tern::monitor {

struct HttpRequest {
  std::string method;  // "GET", "HEAD" or "POST"
  std::string target;  // "/status?x=1"
  std::string path;    // "/status" (not decoded)
  std::string query;   // "x=1"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;    // POST: exactly Content-Length bytes; empty otherwise
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;  // extra response headers; the client fills in all received ones (lower-cased names)
};

using HttpHandler = std::function<HttpResponse(const HttpRequest& request)>;

struct HttpServerOptions {
  // "host:port"; port 0 picks a free one (read it back with address()).
  // Default "127.0.0.1:0".
  std::string listen = "127.0.0.1:0";
  // Host reported by address() when listening on a wildcard address.
  // Default "127.0.0.1".
  std::string announce_host = "127.0.0.1";
  // Largest request head (request line + headers) accepted. Default 8 KiB.
  std::size_t max_request_bytes = 8192;
  // Largest POST body accepted (413 above). Default 64 KiB.
  std::size_t max_body_bytes = 64 * 1024;
  // A connection that has not sent a complete request head within this is closed. Default 5 s.
  std::chrono::milliseconds read_timeout{5000};
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();  // shutdown()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves GET and HEAD of `path` (exact match, query ignored) with
  // `handler`. Before start().
  void route(std::string path, HttpHandler handler);
  // Serves POST of `path` with `handler` (request.body holds the body).
  // Before start(). A path may have both a GET and a POST route.
  void post_route(std::string path, HttpHandler handler);

  // Binds and starts the server thread. UNAVAILABLE when the address cannot
  // be bound, INVALID_ARGUMENT for a malformed address, FAILED_PRECONDITION
  // when already started.
  Status start();
  // The bound address (announce_host for wildcard listens). Valid after start().
  HostPort address() const;
  void shutdown();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// "200 OK", "404 Not Found", ... (reason phrase of the codes above; "Unknown" otherwise).
std::string_view http_reason(int status) noexcept;

// Sends `raw_request` as is to `address` and returns the raw bytes received
// until the server closed the connection. UNAVAILABLE when it cannot connect
// or the connection fails, DEADLINE_EXCEEDED after `timeout`. For tests and
// the scraper.
Result<std::string> http_exchange(const HostPort& address, std::string_view raw_request,
                                  std::chrono::milliseconds timeout);

// GET http://address/target. The response (any status; check .status) or
// http_exchange()'s errors, INTERNAL for a response that does not parse.
Result<HttpResponse> http_get(const HostPort& address, std::string_view target,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

// POST `body` (with Content-Length and `content_type`) to
// http://address/target, adding `headers` (name -> value, sent as given).
// Returns as http_get().
Result<HttpResponse> http_post(const HostPort& address, std::string_view target, std::string_view body,
                               const std::map<std::string, std::string>& headers = {},
                               std::string_view content_type = "application/json",
                               std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

}  // namespace tern::monitor
