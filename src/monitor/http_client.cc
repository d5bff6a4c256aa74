// A blocking HTTP/1.1 GET and POST for the monitor's scraper and the tests:
// one io_context per call, bounded by a timeout. See tern/monitor/http.h.
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <cctype>
#include <functional>

#include "tern/monitor/http.h"

namespace tern::monitor {

Result<std::string> http_exchange(const HostPort& address, std::string_view raw_request,
                                  std::chrono::milliseconds timeout) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  asio::ip::tcp::resolver resolver(io);
  std::error_code ec;
  auto endpoints = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (ec) return Status(StatusCode::kUnavailable, "cannot resolve " + address.to_string() + ": " + ec.message());

  std::string request(raw_request);
  std::string response;
  char chunk[4096];
  Status result(StatusCode::kDeadlineExceeded, "no complete answer from " + address.to_string() + " within " +
                                                   std::to_string(timeout.count()) + " ms");
  bool done = false;
  std::function<void()> read_more = [&] {
    socket.async_read_some(asio::buffer(chunk), [&](std::error_code e, std::size_t n) {
      response.append(chunk, n);
      if (e == asio::error::eof) {
        result = Status();
        done = true;
      } else if (e) {
        result = Status(StatusCode::kUnavailable, "reading from " + address.to_string() + ": " + e.message());
        done = true;
      } else {
        read_more();
      }
    });
  };
  asio::async_connect(socket, endpoints, [&](std::error_code e, const asio::ip::tcp::endpoint&) {
    if (e) {
      result = Status(StatusCode::kUnavailable, "cannot connect to " + address.to_string() + ": " + e.message());
      done = true;
      return;
    }
    asio::async_write(socket, asio::buffer(request), [&](std::error_code we, std::size_t) {
      if (we) {
        result = Status(StatusCode::kUnavailable, "writing to " + address.to_string() + ": " + we.message());
        done = true;
        return;
      }
      read_more();
    });
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.run_one_until(deadline);
  }
  std::error_code ignored;
  socket.close(ignored);
  io.run();  // completes the aborted operations so nothing refers to this frame
  if (!result.is_ok()) {
    // A server that answered and then reset the connection still answered.
    if (!response.empty() && result.code() == StatusCode::kUnavailable) return response;
    return result;
  }
  return response;
}

namespace {

Result<HttpResponse> exchange(const HostPort& address, const std::string& req, std::chrono::milliseconds timeout) {
  auto raw = http_exchange(address, req, timeout);
  if (!raw) return raw.status();
  std::string_view text = *raw;
  auto head_end = text.find("\r\n\r\n");
  if (head_end == std::string_view::npos || text.substr(0, 9).substr(0, 5) != "HTTP/") {
    return Status(StatusCode::kInternal, "malformed HTTP response from " + address.to_string());
  }
  HttpResponse r;
  auto sp = text.find(' ');
  if (sp == std::string_view::npos || sp + 4 > head_end) {
    return Status(StatusCode::kInternal, "malformed HTTP status line from " + address.to_string());
  }
  r.status = std::atoi(std::string(text.substr(sp + 1, 3)).c_str());
  std::string_view headers = text.substr(0, head_end);
  auto pos = headers.find("\r\n");
  while (pos != std::string_view::npos) {
    auto next = headers.find("\r\n", pos + 2);
    std::string_view line = headers.substr(pos + 2, next == std::string_view::npos ? std::string_view::npos : next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name(line.substr(0, colon));
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      r.headers[name] = std::string(value);
    }
    pos = next;
  }
  if (auto it = r.headers.find("content-type"); it != r.headers.end()) r.content_type = it->second;
  r.body = std::string(text.substr(head_end + 4));
  return r;
}

}  // namespace

Result<HttpResponse> http_get(const HostPort& address, std::string_view target, std::chrono::milliseconds timeout) {
  std::string req = "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + address.to_string() +
                    "\r\nConnection: close\r\nUser-Agent: tern-monitor\r\n\r\n";
  return exchange(address, req, timeout);
}

Result<HttpResponse> http_post(const HostPort& address, std::string_view target, std::string_view body,
                               const std::map<std::string, std::string>& headers, std::string_view content_type,
                               std::chrono::milliseconds timeout) {
  std::string req = "POST " + std::string(target) + " HTTP/1.1\r\nHost: " + address.to_string() +
                    "\r\nConnection: close\r\nUser-Agent: tern-monitor\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  req += "\r\n";
  req += body;
  return exchange(address, req, timeout);
}

}  // namespace tern::monitor
