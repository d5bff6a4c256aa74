// The tiny HTTP/1.1 server behind the admin endpoint and the dashboard.
// One thread, one io_context; each connection reads one request head (and a
// POST's Content-Length body), gets one response, and is closed. See
// tern/monitor/http.h.
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "net/listen_address.h"
#include "tern/log.h"
#include "tern/monitor/http.h"

namespace tern::monitor {

std::string_view http_reason(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 || std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) return false;
  }
  return true;
}

// Parses the request head (without the final blank line). False when malformed.
bool parse_head(std::string_view head, HttpRequest* out) {
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return false;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty() || target.front() != '/') return false;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return false;
  }
  out->method = std::string(method);
  out->target = std::string(target);
  auto q = target.find('?');
  out->path = std::string(target.substr(0, q));
  out->query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    auto e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    if (h.empty()) continue;
    auto colon = h.find(':');
    if (colon == std::string_view::npos || !is_token(h.substr(0, colon))) return false;
    std::string name = lower(h.substr(0, colon));
    std::string value(trim(h.substr(colon + 1)));
    // Two Content-Lengths that differ frame the body ambiguously (request
    // smuggling): refused as RFC 9112 6.3 asks.
    if (auto it = out->headers.find(name); it != out->headers.end() && name == "content-length" && it->second != value) {
      return false;
    }
    out->headers[std::move(name)] = std::move(value);
  }
  return true;
}

std::string serialize(const HttpResponse& r, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(http_reason(r.status)) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n";
  for (auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

HttpResponse text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

// Handlers capture `this` raw: the io_context (and every pending handler) is
// owned by Impl and the thread is joined before Impl goes away.
struct HttpServer::Impl {
  HttpServerOptions options;
  std::unordered_map<std::string, HttpHandler> routes;       // GET and HEAD
  std::unordered_map<std::string, HttpHandler> post_routes;  // POST
  asio::io_context io;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
  std::thread thread;
  std::mutex mu;
  bool started = false;
  bool stopped = false;
  HostPort bound;

  // The answer to a request whose method or path has no handler, decided
  // from the head alone (before a body is read); nullopt when there is one.
  std::optional<HttpResponse> refuse(const HttpRequest& req) const {
    const bool get = routes.count(req.path) > 0, post = post_routes.count(req.path) > 0;
    const bool known_method = req.method == "GET" || req.method == "HEAD" || req.method == "POST";
    if (known_method && !get && !post) return text(404, "not found: " + req.path + "\n");
    if (req.method == "POST" ? post : (known_method && get)) return std::nullopt;
    std::string allow = get ? (post ? "GET, HEAD, POST" : "GET, HEAD") : (post ? "POST" : "GET, HEAD");
    auto r = text(405, "method " + req.method + " not allowed for " + req.path + " (allowed: " + allow + ")\n");
    r.headers["Allow"] = allow;
    return r;
  }

  HttpResponse dispatch(const HttpRequest& req) {
    if (auto refused = refuse(req)) return *refused;
    const auto& table = req.method == "POST" ? post_routes : routes;
    try {
      return table.at(req.path)(req);
    } catch (const std::exception& e) {
      return text(500, std::string("handler failed: ") + e.what() + "\n");
    }
  }

  void accept() {
    acceptor->async_accept([self = this](std::error_code ec, asio::ip::tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor->is_open()) return;
      if (!ec) self->serve(std::move(socket));
      self->accept();
    });
  }

  struct Conn {
    explicit Conn(asio::ip::tcp::socket s, std::size_t max) : socket(std::move(s)), buf(max), timer(socket.get_executor()) {}
    asio::ip::tcp::socket socket;
    asio::streambuf buf;
    asio::steady_timer timer;
    HttpRequest req;
    bool head_only = false;
    std::string out;
  };

  static void drain(const std::shared_ptr<Conn>& c) {
    c->buf.consume(c->buf.size());
    c->socket.async_read_some(c->buf.prepare(512), [c](std::error_code ec, std::size_t) {
      if (ec) {
        c->timer.cancel();
        std::error_code ignored;
        c->socket.close(ignored);
        return;
      }
      drain(c);
    });
  }

  void serve(asio::ip::tcp::socket socket) {
    auto c = std::make_shared<Conn>(std::move(socket), options.max_request_bytes);
    // Bounds the whole request: head and body.
    c->timer.expires_after(options.read_timeout);
    c->timer.async_wait([c](std::error_code ec) {
      if (!ec) {
        std::error_code ignored;
        c->socket.close(ignored);
      }
    });
    asio::async_read_until(c->socket, c->buf, "\r\n\r\n", [self = this, c](std::error_code ec, std::size_t n) {
      if (ec == asio::error::not_found) {
        respond(c, text(431, "request head too large\n"));
        return;
      }
      if (ec) {
        c->timer.cancel();
        return;  // closed, reset or timed out: nothing to answer
      }
      std::string head(asio::buffers_begin(c->buf.data()),
                       asio::buffers_begin(c->buf.data()) + static_cast<std::ptrdiff_t>(n - 4));
      c->buf.consume(n);  // what is left is the start of a body
      if (!parse_head(head, &c->req)) {
        respond(c, text(400, "bad request\n"));
        return;
      }
      c->head_only = c->req.method == "HEAD";
      if (auto refused = self->refuse(c->req)) {
        respond(c, std::move(*refused));
        return;
      }
      if (c->req.method != "POST") {
        respond(c, self->dispatch(c->req));
        return;
      }
      self->read_body(c);
    });
  }

  // A POST's body: exactly Content-Length bytes, part of which may already
  // be in the buffer behind the head.
  void read_body(const std::shared_ptr<Conn>& c) {
    const auto& h = c->req.headers;
    if (h.count("transfer-encoding")) {
      respond(c, text(501, "Transfer-Encoding is not supported; send a Content-Length body\n"));
      return;
    }
    auto cl = h.find("content-length");
    if (cl == h.end()) {
      respond(c, text(411, "a POST needs a Content-Length\n"));
      return;
    }
    std::size_t length = 0;
    const std::string& v = cl->second;
    auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), length);
    if (v.empty() || err != std::errc() || end != v.data() + v.size()) {
      respond(c, text(400, "malformed Content-Length \"" + v + "\"\n"));
      return;
    }
    if (length > options.max_body_bytes) {
      respond(c, text(413, "request body of " + std::to_string(length) + " bytes is over the limit of " +
                               std::to_string(options.max_body_bytes) + "\n"));
      return;
    }
    const std::size_t have = std::min(length, c->buf.size());
    c->req.body.assign(asio::buffers_begin(c->buf.data()),
                       asio::buffers_begin(c->buf.data()) + static_cast<std::ptrdiff_t>(have));
    c->buf.consume(have);
    if (have == length) {
      respond(c, dispatch(c->req));
      return;
    }
    c->req.body.resize(length);
    asio::async_read(c->socket, asio::buffer(c->req.body.data() + have, length - have),
                     [self = this, c](std::error_code ec, std::size_t) {
                       if (ec) {
                         c->timer.cancel();
                         return;  // closed, reset or timed out mid-body
                       }
                       respond(c, self->dispatch(c->req));
                     });
  }

  static void respond(const std::shared_ptr<Conn>& c, const HttpResponse& resp) {
    c->timer.cancel();
    c->out = serialize(resp, c->head_only);
    asio::async_write(c->socket, asio::buffer(c->out), [c](std::error_code ec2, std::size_t) {
      std::error_code ignored;
      if (ec2) {
        c->socket.close(ignored);
        return;
      }
      // Half-close, then discard what the client still sends until it
      // closes (bounded by the timer): closing with unread input would
      // reset the connection and could destroy the response in flight.
      c->socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      c->timer.expires_after(std::chrono::seconds(1));
      c->timer.async_wait([c](std::error_code te) {
        if (!te) {
          std::error_code ignored2;
          c->socket.close(ignored2);
        }
      });
      drain(c);
    });
  }
};

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
}

HttpServer::~HttpServer() { shutdown(); }

void HttpServer::route(std::string path, HttpHandler handler) { impl_->routes[std::move(path)] = std::move(handler); }

void HttpServer::post_route(std::string path, HttpHandler handler) {
  impl_->post_routes[std::move(path)] = std::move(handler);
}

Status HttpServer::start() {
  auto& im = *impl_;
  std::lock_guard lock(im.mu);
  if (im.started) return Status(StatusCode::kFailedPrecondition, "http server already started");
  auto listen = net::parse_listen_address(im.options.listen, net::HostNames::kResolve);
  if (!listen) return listen.status();
  const asio::ip::tcp::endpoint& ep = listen->endpoint;
  std::error_code ec;
  auto acc = std::make_unique<asio::ip::tcp::acceptor>(im.io);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status(StatusCode::kUnavailable, "cannot listen on " + im.options.listen + ": " + ec.message());
  auto local = acc->local_endpoint();
  im.bound.host = local.address().is_unspecified() ? im.options.announce_host : local.address().to_string();
  im.bound.port = local.port();
  im.acceptor = std::move(acc);
  im.started = true;
  im.accept();
  im.thread = std::thread([self = impl_.get()] {
    auto guard = asio::make_work_guard(self->io);
    self->io.run();
  });
  return Status();
}

HostPort HttpServer::address() const {
  std::lock_guard lock(impl_->mu);
  return impl_->bound;
}

void HttpServer::shutdown() {
  auto& im = *impl_;
  std::lock_guard lock(im.mu);
  if (!im.started || im.stopped) {
    im.stopped = true;
    return;
  }
  im.stopped = true;
  im.io.stop();
  if (im.thread.joinable()) im.thread.join();
  std::error_code ignored;
  im.acceptor->close(ignored);
}

}  // namespace tern::monitor
