// A test OTLP/HTTP receiver: a real HTTP/1.1 server on a free loopback port
// that accepts POSTs (the monitor's HttpServer is GET-only), keeps each
// request, and answers 200 "{}". One thread, one connection at a time.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace testutil {

class OtlpReceiver {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::string content_type;
    std::string body;
  };

  OtlpReceiver();   // binds 127.0.0.1:0 and starts serving
  ~OtlpReceiver();  // stops
  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() const;

 private:
  void serve();
  void handle(int fd);
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace testutil
