// Fuzz target: the stream core (src/stream/stream_core.h), which every codec
// (Tern stream frames, HTTP/2) feeds with the peer's events.
//
// The input is a program: each byte pair is one step, either an application
// action on the consumer or the provider (open, write, writes_done, finish,
// cancel, read, release), the delivery of queued events between them, or a
// hostile event (any kind, any stream id, any credit, any size) injected
// straight into one session as a broken or malicious peer would send it.
//
// Invariants, after every step:
//   - each stream ends at most once per side (Listener::on_closed);
//   - no inbox holds more messages than the window or more bytes than the
//     window plus one message;
//   - no session has more open streams than max_concurrent_streams;
//   - a session closes its connection at most once, with INTERNAL, and is
//     dead after it;
//   - a stream ends OK only where a finish with OK was sent or injected.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "stream/stream_core.h"

namespace {

using tern::Status;
using tern::StatusCode;
using namespace tern::stream;

constexpr Credit kWindow{4, 64};
constexpr std::uint32_t kMaxMessage = 100;
constexpr std::uint32_t kMaxStreams = 3;

StreamOptions options() {
  StreamOptions o;
  o.initial_window = kWindow;
  o.max_concurrent_streams = kMaxStreams;
  o.max_message_bytes = kMaxMessage;
  return o;
}

struct Side : Sink, Listener {
  explicit Side(Role role) : session(role, options(), *this, *this) {}

  Status send_open(StreamId id, const OpenInfo& info) override {
    forward([id, info](StreamSession& p) { p.on_open(id, info); });
    return Status();
  }
  void send_message(StreamId id, const std::string& bytes) override {
    FUZZ_CHECK(bytes.size() <= kMaxMessage, "sent a message over the limit");
    forward([id, bytes](StreamSession& p) { p.on_message(id, bytes); });
  }
  void send_half_close(StreamId id) override {
    forward([id](StreamSession& p) { p.on_half_close(id); });
  }
  void send_cancel(StreamId id, const Status& status) override {
    forward([id, status](StreamSession& p) { p.on_cancel(id, status); });
  }
  void send_window(StreamId id, Credit credit) override {
    FUZZ_CHECK(credit.messages <= kWindow.messages, "granted more messages than the window");
    forward([id, credit](StreamSession& p) { p.on_window(id, credit); });
  }
  void send_finish(StreamId id, const Status& status, const Metadata& trailers) override {
    if (status.is_ok()) {
      ok_allowed.insert(id);  // this side's own close, and the peer's
      if (peer_ok_allowed != nullptr) peer_ok_allowed->insert(id);
    }
    forward([id, status, trailers](StreamSession& p) { p.on_finish(id, status, trailers); });
  }
  void close_connection(const Status& status) override {
    FUZZ_CHECK(connection_closes == 0, "connection closed twice");
    FUZZ_CHECK(status.code() == StatusCode::kInternal, "connection closed without INTERNAL");
    ++connection_closes;
  }

  void on_stream_opened(StreamId id, const OpenInfo&) override { ids.insert(id); }
  void on_readable(StreamId) override {}
  void on_writable(StreamId) override {}
  void on_closed(StreamId id, const Status& status) override {
    FUZZ_CHECK(++closes[id] == 1, "a stream ended twice");
    FUZZ_CHECK(!status.is_ok() || ok_allowed.count(id) == 1, "a stream ended OK that no finish ended OK");
  }

  void forward(std::function<void(StreamSession&)> event) { out.push_back(std::move(event)); }

  StreamSession session;
  std::deque<std::function<void(StreamSession&)>> out;  // events for the peer
  std::set<StreamId> ids;                               // streams seen
  std::map<StreamId, int> closes;
  std::set<StreamId> ok_allowed;                 // streams some finish ended with OK
  std::set<StreamId>* peer_ok_allowed = nullptr;  // the other side's ok_allowed
  int connection_closes = 0;
};

void check(const Side& side) {
  FUZZ_CHECK(side.session.open_streams() <= kMaxStreams, "more open streams than allowed");
  if (side.connection_closes > 0) FUZZ_CHECK(side.session.dead(), "alive after closing its connection");
  for (StreamId id : side.ids) {
    FUZZ_CHECK(side.session.inbox_size(id) <= kWindow.messages, "inbox holds more messages than the window");
    FUZZ_CHECK(side.session.inbox_bytes(id) <= kWindow.bytes + kMaxMessage, "inbox holds more bytes than allowed");
  }
}

StreamId pick(const Side& side, std::uint8_t arg) {
  if (side.ids.empty() || (arg & 0x80) != 0) return arg & 0x0f;  // sometimes an id never seen
  auto it = side.ids.begin();
  std::advance(it, arg % side.ids.size());
  return *it;
}

void deliver(Side& from, Side& to, std::size_t n) {
  while (n-- > 0 && !from.out.empty()) {
    auto event = std::move(from.out.front());
    from.out.pop_front();
    event(to.session);
  }
}

void inject(Side& to, std::uint8_t kind, std::uint8_t arg) {
  const StreamId id = pick(to, arg);
  const std::uint32_t n = static_cast<std::uint32_t>(arg) * 3;
  switch (kind % 6) {
    case 0: to.session.on_open(id, {"S", "m", 0, std::chrono::milliseconds(0), {}}); break;
    case 1: to.session.on_message(id, std::string(n, 'h')); break;
    case 2: to.session.on_half_close(id); break;
    case 3: to.session.on_cancel(id, Status(StatusCode::kCancelled, "hostile")); break;
    case 4: to.session.on_window(id, Credit{arg & 0x40 ? 0x7fffffffu : n % 5, n}); break;
    case 5:
      if ((arg & 1) != 0) to.ok_allowed.insert(id);
      to.session.on_finish(id, arg & 1 ? Status::ok() : Status(StatusCode::kAborted, "x"), {});
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Side client(Role::kClient), server(Role::kServer);
  client.peer_ok_allowed = &server.ok_allowed;
  server.peer_ok_allowed = &client.ok_allowed;
  for (std::size_t i = 0; i + 1 < size; i += 2) {
    const std::uint8_t op = data[i], arg = data[i + 1];
    Side& side = (op & 0x10) != 0 ? server : client;
    Side& other = &side == &server ? client : server;
    const StreamId id = pick(side, arg);
    switch (op & 0x0f) {
      case 0: {
        auto opened = client.session.open({"S", "m", 0, std::chrono::milliseconds(0), {}});
        if (opened.ok()) client.ids.insert(*opened);
        break;
      }
      case 1: (void)side.session.write(id, std::string(arg % (kMaxMessage + 8), 'w')); break;
      case 2: (void)side.session.writes_done(id); break;
      case 3: (void)server.session.finish(pick(server, arg), arg & 1 ? Status::ok() : Status(StatusCode::kNotFound, "n")); break;
      case 4: (void)side.session.cancel(id); break;
      case 5: (void)side.session.read(id); break;
      case 6: side.session.release(id); break;
      case 7: deliver(other, side, 1 + arg % 4); break;
      case 8: inject(side, op >> 5, arg); break;
      case 9: side.session.on_connection_lost(Status(StatusCode::kUnavailable, "lost", true)); break;
      default: deliver(client, server, 1); deliver(server, client, 1); break;
    }
    check(client);
    check(server);
  }
  deliver(client, server, 64);
  deliver(server, client, 64);
  check(client);
  check(server);
  return 0;
}
