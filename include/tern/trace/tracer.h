// tern/trace/tracer.h - where a process's spans go: the sampler, the /rpcz
// store and the OTLP/HTTP exporter (a bounded queue drained in batches by one
// background thread). See docs/tracing.md.
//
// Every Client and Server traces by default (ClientOptions::tracing,
// ServerOptions::tracing): their filters (tern/trace/trace_filter.h) read and
// write `traceparent` / `tracestate` on every call. Spans are only recorded
// when the call is sampled AND the tracer has somewhere to put them (an OTLP
// endpoint or rpcz); otherwise a call costs id generation and one header.
//
//   tern::trace::TracerOptions t;
//   t.service_name = "checkout";
//   t.otlp_endpoint = "http://127.0.0.1:4318";   // an OpenTelemetry collector / Jaeger
//   t.rpcz = true;                                 // the admin server's /rpcz page
//   tern::trace::Tracer::set_global(std::make_shared<tern::trace::Tracer>(t));
//   tern::Client client;                           // its calls use the global tracer
//
// A Client or Server takes the global tracer when it is created
// (ClientOptions::tracer / ServerOptions::tracer override it), so set it first.
//
// Thread safety: every method may be called from any thread. record() never
// blocks on the network: when the queue is full the span is dropped and
// counted (stats().dropped).
// Lifetime: the destructor calls shutdown(): the exporter thread sends what is
// queued for at most shutdown_timeout (plus the one POST in progress, itself
// bounded by export_timeout), then stops; spans still queued then are counted
// as dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tern/status.h"
#include "tern/trace/rpcz.h"
#include "tern/trace/sampler.h"
#include "tern/trace/span.h"

namespace tern::trace {

struct TracerOptions {
  // The resource attribute service.name of exported spans. Default "tern".
  std::string service_name = "tern";
  // Which new traces are sampled; parent-based by default (sampler.h).
  SamplerOptions sampler{};
  // OTLP/HTTP collector base URL ("http://host:4318"); spans are POSTed to
  // <otlp_endpoint>/v1/traces as JSON. Empty (default): nothing is exported
  // and no exporter thread runs.
  std::string otlp_endpoint;
  // Spans waiting for export, at most. A span recorded while the queue is
  // full is dropped and counted. Default 2048, at least 1.
  std::size_t queue_capacity = 2048;
  // Spans per POST, at most. Default 512, at least 1.
  std::size_t max_batch = 512;
  // A span waits at most this long before its batch is sent. Default 1 s.
  std::chrono::milliseconds max_delay{1000};
  // One POST's limit. Default 5 s.
  std::chrono::milliseconds export_timeout{5000};
  // shutdown() sends what is queued for at most this long. Default 2 s.
  std::chrono::milliseconds shutdown_timeout{2000};
  // Keep sampled spans for the admin server's /rpcz page. Default false.
  bool rpcz = false;
  // /rpcz: recent spans kept (default 256) and slowest spans kept (default 64).
  std::size_t rpcz_recent = 256;
  std::size_t rpcz_slow = 64;
  // The exporter's sender: POSTs a JSON body to the URL. Default (empty):
  // post_otlp() over libcurl (tern/trace/otlp.h). A test seam.
  std::function<Status(const std::string& url, const std::string& body)> sender;
};

struct TracerStats {
  std::uint64_t recorded = 0;        // spans handed to record()
  std::uint64_t dropped = 0;         // spans lost: queue full, or still queued at shutdown
  std::uint64_t exported = 0;        // spans in POSTs that succeeded
  std::uint64_t export_failures = 0; // spans in POSTs that failed (not retried)
  std::uint64_t queued = 0;          // spans waiting now
};

class Tracer {
 public:
  // Starts the exporter thread when options.otlp_endpoint is set.
  explicit Tracer(TracerOptions options = {});
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  const TracerOptions& options() const noexcept { return options_; }
  // True when sampled spans have somewhere to go (an endpoint, or rpcz).
  // When false the filters record nothing and allocate nothing per call.
  bool recording() const noexcept { return recording_; }

  // Hands one finished span over: into the /rpcz store (when on) and the
  // export queue (when exporting). Never blocks on I/O; drops and counts when
  // the queue is full or the tracer is shut down.
  void record(SpanData span);

  // Waits until every span recorded before the call has been sent (or failed
  // or was dropped), at most `timeout`. True when the queue drained in time.
  bool flush(std::chrono::milliseconds timeout);

  // Stops the exporter (see the Lifetime note above). Idempotent.
  void shutdown();

  TracerStats stats() const;
  // The /rpcz store; nullptr when options.rpcz is false.
  const RpczStore* rpcz() const noexcept { return rpcz_.get(); }

  // The process-wide tracer Clients and Servers take at creation when their
  // options name none. Initially a tracer with default options (propagation,
  // nothing recorded). Never null.
  static std::shared_ptr<Tracer> global();
  // Replaces it (nullptr restores a default one). Existing Clients and
  // Servers keep the tracer they took.
  static void set_global(std::shared_ptr<Tracer> tracer);

 private:
  void run();
  bool send_batch(std::vector<SpanData>& batch);

  TracerOptions options_;
  bool recording_ = false;
  std::string url_;
  std::unique_ptr<RpczStore> rpcz_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // wakes the exporter
  std::condition_variable idle_cv_;  // wakes flush()
  std::vector<SpanData> queue_;      // guarded by mu_
  std::size_t in_flight_ = 0;        // guarded by mu_: spans taken, being sent
  std::uint64_t flush_requests_ = 0; // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool stopped_ = false;             // guarded by mu_
  std::chrono::steady_clock::time_point oldest_{};  // guarded by mu_: when queue_ became non-empty
  std::atomic<std::uint64_t> recorded_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> exported_{0};
  std::atomic<std::uint64_t> export_failures_{0};
  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace tern::trace
