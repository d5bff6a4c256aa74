// tern/channel.h - the consumer's connection to one provider endpoint: a
// multiplexed connection, the pending-call table and timeouts (DESIGN §4).
//
// Many calls share one connection; each carries a request id unique on that
// connection while pending; responses complete their call in any order.
// Every call passed to call() completes exactly once with one of:
//   OK / a remote status   the provider's response
//   DEADLINE_EXCEEDED      no response within the timeout (may_have_executed)
//   UNAVAILABLE            cannot connect (may_have_executed = false), or the
//                          connection was lost with the call in flight (true)
//   CANCELLED              the channel (consumer) was shut down
// A response arriving after its call completed (late, or never sent) is
// dropped and counted in stats().late_responses; it never completes another call.
// Timeouts use one timer per connection over per-timeout FIFO queues (no timer
// allocation per call) and fire within ~2 ms after the deadline.
//
// Completions run on the connection's IO thread (or inline in call() when the
// call fails before being sent): keep them short and never block in them.
// Thread safety: all methods may be called from any thread.
//
// Headers: no Asio. The loop is only named (asio::io_context is declared
// below), the IO threads are net::IoContextPool (tern/net/io_context_pool.h,
// include it to use ChannelPool::io()), and resolution, timers and sockets
// live in src/client.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tern/detail/unique_function.h"
#include "tern/dispatcher.h"
#include "tern/future.h"
#include "tern/protocol/decoder.h"
#include "tern/protocol/frame.h"
#include "tern/result.h"
#include "tern/status.h"
#include "tern/stream.h"
#include "tern/tls.h"
#include "tern/url.h"

namespace tern {

// The outcome of one call: a status and the response frame when one arrived
// (on OK its body is the result; on a remote error, the message). Local
// failures (timeout, connection lost, cancelled) have an empty frame. A
// compressed response (docs/protocol.md §5) has been decompressed: body() is
// the plain body, while frame.header keeps describing the frame as received
// (body_len the compressed length, byte 5's compression bit set).
struct CallResult {
  Status status;
  protocol::Frame frame;
  std::string_view body() const noexcept { return frame.body(); }
};

using CallCompletion = detail::UniqueFunction<void(CallResult&&)>;

struct ChannelOptions {
  // Streams (tern/stream.h) this consumer opens at once on one connection;
  // one more fails RESOURCE_EXHAUSTED locally, unsent. Match it to the
  // providers' ServerOptions::max_concurrent_streams. Default 100; at least 1.
  std::uint32_t max_concurrent_streams = 100;
  // Connect timeout. Default 3 s.
  std::chrono::milliseconds connect_timeout{3000};
  // Idle time before a heartbeat ping; 3 unanswered pings close the connection. Default 10 s.
  std::chrono::milliseconds heartbeat_interval{10000};
  // After a connection fails (connect refused or timed out, reset, failed
  // TLS handshake, heartbeat timeout; not a provider's goaway nor our own
  // shutdown) the channel reports itself unavailable (Channel::available())
  // for this long, so load balancers pick other providers instead of
  // re-dialling one that just broke: a provider killed mid-traffic can still
  // accept connections for a moment while it dies, and each such call would
  // fail again. As gRPC's reconnect backoff and brpc's exclusion of a broken
  // server. A successful connect ends it; a call made anyway (every provider
  // unavailable) dials at once. Default 1 s; 0 disables.
  std::chrono::milliseconds reconnect_backoff{1000};
  // Frame limits for responses.
  protocol::Limits limits{};
  // Dispatch strategy for the consumer's events (tern/dispatcher.h): with
  // "all", "message" or "connection", responses complete on a business pool
  // of `callback_threads` threads; with "execution" (default) or "direct", on
  // the IO thread that read them.
  std::string dispatcher = "execution";
  // Threads of the consumer's business pool (only created when the
  // dispatcher needs one). 0 = number of cores.
  std::size_t callback_threads = 0;
  // Diagnostic hook called on the thread that handles each event.
  DispatchObserver event_observer{};
  // TLS to the providers when tls.enabled (tern/tls.h): ca_file (or the
  // system trust store) verifies them, server_name names them, cert_file and
  // key_file are the client certificate for mutual TLS. connect_timeout
  // bounds connect plus handshake. A failed handshake fails the calls waiting
  // for that connection with UNAVAILABLE "TLS handshake with <peer> failed:
  // <reason>" (may_have_executed false). Default off.
  TlsOptions tls{};
  // The wire: "tern" (default) or "grpc" (gRPC over h2c, for grpc://
  // references and providers announced with protocol=grpc; docs/grpc.md).
  // ChannelPool::get() sets it per channel.
  std::string protocol = "tern";
};

}  // namespace tern

namespace asio {
class io_context;
}

namespace tern {

class Clock;  // src/base/clock.h (internal): a steady clock tests can advance

namespace net {
class IoContextPool;
class TlsContext;
}
namespace rpc {
class ChannelSession;
class ThreadPool;
}

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  // `pool` (may be null) runs the events the dispatcher sends to a business
  // pool; it must outlive the channel. `tls` is the loaded options.tls
  // (shared by a ChannelPool's channels); when options.tls.enabled and it is
  // null, the channel loads options.tls itself, and if that fails every call
  // fails with its INVALID_ARGUMENT (see status()).
  // `clock` (internal, src/base/clock.h; null = the steady clock) is the
  // channel's time: the reconnect backoff (available()), the deadlines of
  // calls waiting for a host name's resolution, and its connections'
  // sessions (rpc::SessionOptions::clock: call deadlines, the heartbeat
  // decision). It must outlive the channel; tests pass a FakeClock. With a
  // clock other than the steady clock, set heartbeat_interval to 0: the
  // heartbeat compares the clock with the connection's last read, which is
  // steady time (net::Connection::last_read).
  Channel(asio::io_context& loop, HostPort endpoint, ChannelOptions options, rpc::ThreadPool* pool = nullptr,
          std::shared_ptr<net::TlsContext> tls = nullptr, const Clock* clock = nullptr);
  ~Channel();

  // Sends `request` (a complete frame from FrameBuilder; its request id and
  // timeout fields are overwritten here) and completes `done` exactly once.
  // `timeout` must be > 0. Connects (or reconnects) on demand.
  // `control`, when given, can cancel the call while it is pending: it then
  // completes with CANCELLED at once and a cancel frame tells the provider.
  // `started`, when set, is when `timeout` began, read from this channel's
  // clock by the caller (a reference passes its attempt's start): the call's
  // deadline is then started + timeout and the channel does not read its
  // clock again (issue #17: a clock read costs up to ~30 ns on a VM).
  // Default (zero): the deadline is now + timeout. The wire carries
  // `timeout` as given either way.
  void call(std::string request, std::chrono::milliseconds timeout, CallCompletion done,
            const std::shared_ptr<CallControl>& control = nullptr,
            std::chrono::steady_clock::time_point started = {});

  // Sends a oneway request: no pending state, no response. Returns
  // UNAVAILABLE when the channel is shut down or its connection is known
  // broken and cannot be re-dialled; otherwise OK once queued.
  Status send_oneway(std::string request);

  // Opens a stream (tern/stream.h) on this channel's connection, connecting
  // on demand: service/method name it, `serialization` is the messages' id,
  // `timeout` the whole stream's deadline (0 = none), `metadata` the
  // attachments. Never fails here: a connection that cannot be made, a shut
  // down channel or the stream limit shows as the stream's final status.
  std::shared_ptr<RawStream> open_stream(std::string service, std::string method, std::uint8_t serialization,
                                         std::chrono::milliseconds timeout, StreamMetadata metadata);

  // Receives push frames (server-initiated, e.g. registry notifications) on
  // the IO thread. Replaces an earlier handler.
  void set_push_handler(std::function<void(const protocol::Frame&)> handler);

  // Fails every pending call with `reason` and refuses new ones.
  void shutdown(Status reason);

  const HostPort& endpoint() const noexcept { return endpoint_; }
  // OK, or why the channel cannot work (a TLS file that did not load).
  const Status& status() const noexcept { return status_; }
  // True when a connection is established right now (with TLS: handshake done).
  bool connected() const;
  // False for options.reconnect_backoff after a connection failed (see
  // ChannelOptions::reconnect_backoff) unless a connection succeeded since;
  // true otherwise, also before the first connect. The backoff is measured
  // on the channel's clock, which is read only while one is in progress.
  // Lock-free; thread-safe.
  bool available() const noexcept;

  struct Stats {
    std::uint64_t late_responses = 0;  // responses for no pending call
    std::uint64_t timeouts = 0;
    std::uint64_t connects = 0;        // connections dialled
    std::size_t pending = 0;           // calls in flight now
    // Deadline entries the connection's timer holds now: about `pending`
    // while responses come in call order; entries of finished calls behind
    // an older call still in flight stay until that call ends (response,
    // cancel or timeout), and are compacted once they outnumber the calls in
    // flight (2 x pending + 64 per timeout value, checked as calls finish).
    std::size_t deadline_entries = 0;
  };
  Stats stats() const;

 private:
  friend class rpc::ChannelSession;
  // A call (or oneway request) waiting for its host name to resolve.
  struct Waiting;
  // The outcome of resolving the endpoint: an Asio TCP endpoint or why not
  // (defined in channel.cc, so this header needs no Asio).
  struct Resolved;
  // Blocking: resolves a host name on the calling thread (without mu_); only
  // open_stream() uses it.
  std::shared_ptr<rpc::ChannelSession> session();
  // mu_ held: the live session, else one dialled at once to an address
  // literal; null when a host name must be resolved first.
  std::shared_ptr<rpc::ChannelSession> ready_session_locked();
  // mu_ held: dials `ep` (or a session failed with its status) as session_.
  std::shared_ptr<rpc::ChannelSession> dial_locked(const Resolved& ep);
  // Queues `w` until the host name resolves, starting one resolution for all
  // waiters (asynchronous: never on the caller's thread).
  void wait_for_resolution(std::shared_ptr<Waiting> w);
  void start_resolve();
  void on_resolved(Resolved ep);
  // Removes waiter `id` and completes it with `why`; false if it was gone.
  bool fail_waiting(std::uint64_t id, Status why);
  // Loop thread: arms waiter `id`'s timer for the time left until its
  // deadline on clock_, and fails it with DEADLINE_EXCEEDED once clock_ has
  // reached the deadline (fired earlier on that clock, e.g. a test clock that
  // stood still, it waits again while the waiter is listed). Keeps `w` alive.
  void arm_waiting_timer(std::uint64_t id, std::shared_ptr<Waiting> w);
  void fail_all_waiting(const Status& why);
  void observe(DispatchEvent e);
  void run_event(DispatchEvent e, detail::UniqueFunction<void()> fn);

  asio::io_context& loop_;
  HostPort endpoint_;
  ChannelOptions options_;
  DispatchPolicy policy_;
  rpc::ThreadPool* pool_ = nullptr;
  std::shared_ptr<net::TlsContext> tls_;  // null = plain TCP
  const Clock* clock_;                    // never null; see the constructor
  Status status_;                         // immutable after construction
  mutable std::mutex mu_;
  std::shared_ptr<rpc::ChannelSession> session_;  // guarded by mu_
  bool shut_down_ = false;                         // guarded by mu_
  Status shutdown_reason_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Waiting>> waiting_;  // guarded by mu_
  std::uint64_t next_waiting_ = 0;                                        // guarded by mu_
  bool resolving_ = false;                                                // guarded by mu_
  std::shared_ptr<std::function<void(const protocol::Frame&)>> push_handler_;  // guarded by mu_
  std::atomic<std::uint64_t> late_{0};
  std::atomic<std::uint64_t> timeouts_{0};
  std::atomic<std::uint64_t> connects_{0};
  // Ticks of clock_ (time_since_epoch) until which the channel is
  // unavailable (the reconnect backoff); 0 = available.
  std::atomic<std::int64_t> down_until_{0};
};

// Channels by endpoint, over a pool of IO threads: one multiplexed connection
// per provider endpoint, shared by every reference of one Client.
class ChannelPool {
 public:
  // `io_threads` 0 = number of cores. An unknown options.dispatcher falls
  // back to "execution" (validate with dispatch_policy() first). With
  // options.tls.enabled the TLS files are loaded here, once; a failure is
  // kept in status() and every channel's calls fail with it.
  // `clock` (null = the steady clock) is every channel's clock (see
  // Channel's constructor); it must outlive the pool. ClientCore passes
  // the client's.
  ChannelPool(std::size_t io_threads, ChannelOptions options, const Clock* clock = nullptr);
  ~ChannelPool();  // shutdown()

  // OK, or INVALID_ARGUMENT naming the TLS file that did not load and why.
  const Status& status() const noexcept { return status_; }

  // The channel to `endpoint`, created on first use.
  // The channel to `endpoint` speaking `protocol` ("tern" or "grpc"),
  // created on first use.
  std::shared_ptr<Channel> get(const HostPort& endpoint, std::string_view protocol = "tern");
  // Fails every pending call and open stream with CANCELLED "consumer shut
  // down" and stops the IO threads. Completions still queued when the
  // threads stop (a stream's end for its waiters and filters) run on the
  // calling thread before it returns.
  void shutdown();
  // The IO threads (complete type in tern/net/io_context_pool.h).
  net::IoContextPool& io() noexcept { return *io_; }

  // Totals over every channel of the pool.
  struct Stats {
    std::size_t channels = 0;           // channels (provider endpoints) known
    std::size_t open_connections = 0;   // channels connected now
    std::size_t pending = 0;            // calls in flight now
    std::uint64_t timeouts = 0;         // calls that timed out (monotonic)
    std::uint64_t late_responses = 0;   // responses for no pending call (monotonic)
  };
  // Thread-safe; takes each channel's lock briefly.
  Stats stats() const;

 private:
  std::unique_ptr<net::IoContextPool> io_;  // never null
  ChannelOptions options_;
  std::unique_ptr<rpc::ThreadPool> pool_;
  std::shared_ptr<net::TlsContext> tls_;
  const Clock* clock_ = nullptr;  // handed to every channel; null = the steady clock
  Status status_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Channel>> channels_;
  bool shut_down_ = false;
};

}  // namespace tern
