// Per-call observers of the consumer filters (src/proxy/call_observers.h).
#include "proxy/call_observers.h"

#include <algorithm>

#include "tern/protocol/frame.h"

namespace tern {

namespace {

// Several filters observing one call (rare): each hears every event, in order.
class ObserverList final : public ClientCallObserver {
 public:
  void add(std::unique_ptr<ClientCallObserver> o) { list_.push_back(std::move(o)); }
  void on_attempt(std::string_view peer, AttemptKind kind) override {
    for (auto& o : list_) o->on_attempt(peer, kind);
  }
  void on_end(const Status& status, std::chrono::nanoseconds latency, const CallBytes& bytes) override {
    for (auto& o : list_) o->on_end(status, latency, bytes);
  }

 private:
  std::vector<std::unique_ptr<ClientCallObserver>> list_;
};

std::unique_ptr<ClientCallObserver> observe(const std::vector<std::shared_ptr<ClientFilter>>& filters,
                                            const ClientCallStart& start) {
  std::unique_ptr<ClientCallObserver> first;
  std::unique_ptr<ObserverList> many;
  for (const auto& f : filters) {
    auto o = f->observe(start);
    if (!o) continue;
    if (many) {
      many->add(std::move(o));
    } else if (!first) {
      first = std::move(o);
    } else {
      many = std::make_unique<ObserverList>();
      many->add(std::move(first));
      many->add(std::move(o));
    }
  }
  if (many) return many;
  return first;
}

}  // namespace

std::unique_ptr<ClientCallObserver> observe_call(const std::vector<std::shared_ptr<ClientFilter>>& filters,
                                                 std::string_view service, std::string_view method,
                                                 const std::string& request) {
  if (filters.empty() || request.size() < protocol::kHeaderSize) return nullptr;
  // Header bytes 6..7: the metadata length, big-endian (docs/protocol.md).
  std::size_t meta_len = (static_cast<std::size_t>(static_cast<unsigned char>(request[6])) << 8) |
                         static_cast<unsigned char>(request[7]);
  std::string_view meta = std::string_view(request).substr(protocol::kHeaderSize);
  if (meta.size() > meta_len) meta = meta.substr(0, meta_len);
  return observe(filters, ClientCallStart{service, method, meta});
}

std::unique_ptr<ClientCallObserver> observe_stream(const std::vector<std::shared_ptr<ClientFilter>>& filters,
                                                   std::string_view service, std::string_view method,
                                                   const std::vector<std::pair<std::string, std::string>>& md) {
  if (filters.empty()) return nullptr;
  std::string meta;  // the wire form observe() reads (keys and values past 64 KiB are cut)
  auto put = [&](std::string_view s) {
    std::size_t n = std::min<std::size_t>(s.size(), 0xFFFF);
    meta += static_cast<char>(n >> 8);
    meta += static_cast<char>(n & 0xFF);
    meta.append(s.substr(0, n));
  };
  for (const auto& kv : md) {
    put(kv.first);
    put(kv.second);
  }
  return observe(filters, ClientCallStart{service, method, meta});
}

}  // namespace tern
