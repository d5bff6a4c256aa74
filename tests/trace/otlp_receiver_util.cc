// The test OTLP receiver (otlp_receiver_util.h): POSIX sockets, poll() with a
// short timeout so the destructor can stop it.
#include "otlp_receiver_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace testutil {

OtlpReceiver::OtlpReceiver() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("bind/listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

OtlpReceiver::~OtlpReceiver() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<OtlpReceiver::Request> OtlpReceiver::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void OtlpReceiver::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void OtlpReceiver::handle(int fd) {
  std::string data;
  char buf[65536];
  auto read_more = [&]() -> bool {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return false;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    data.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more()) return;
  }
  std::string head = data.substr(0, head_end);
  Request req;
  std::size_t sp1 = head.find(' ');
  std::size_t sp2 = head.find(' ', sp1 + 1);
  req.method = head.substr(0, sp1);
  req.target = head.substr(sp1 + 1, sp2 - sp1 - 1);
  std::size_t content_length = 0;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos < head.size()) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") content_length = std::stoul(value);
      if (name == "content-type") req.content_type = value;
    }
    pos = next;
  }
  std::string body = data.substr(head_end + 4);
  while (body.size() < content_length) {
    data.clear();
    if (!read_more()) return;
    body += data;
  }
  req.body = body.substr(0, content_length);
  {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(req));
  }
  const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
  (void)::write(fd, answer.data(), answer.size());
}

}  // namespace testutil
