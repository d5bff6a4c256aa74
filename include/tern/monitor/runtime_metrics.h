// tern/monitor/runtime_metrics.h - a provider's and a consumer's runtime
// figures on /metrics, read at scrape time (tern/monitor/collector.h):
//
//   auto admin = tern::monitor::enable_admin(options, "127.0.0.1:0").value();
//   tern::Provider provider(options);
//   ... provider.start();
//   auto watch = tern::monitor::watch_server(*admin, provider.server());  // keep while the server lives
//
// From Server::stats() (provider side):
//   tern_provider_open_connections          gauge    consumer connections open now
//   tern_provider_requests_received_total   counter  requests and oneways received
//   tern_provider_pool_threads              gauge    business-pool threads alive
//   tern_provider_pool_active_threads       gauge    business-pool threads running a handler
//   tern_provider_pool_queued_requests      gauge    requests waiting for a business thread
//   tern_provider_shed_total                counter  requests dropped before running: caller gone
//                                                    or deadline passed while queued
//   tern_provider_rejected_total{reason}    counter  requests answered at once without running:
//                                                    reason="overload" (pool queue full),
//                                                    "in_flight" (max_in_flight_per_connection),
//                                                    "duplicate_id"
//   tern_provider_rejected_connections_total counter connections closed at accept (max_connections)
// From ChannelPool::stats() (consumer side):
//   tern_consumer_open_connections          gauge    provider connections open now
//   tern_consumer_pending_calls             gauge    calls waiting for a response
//   tern_consumer_timeouts_total            counter  calls that timed out
//   tern_consumer_late_responses_total      counter  responses that arrived after their call ended
// Errors by status code are the per-method tern_{provider,consumer}_errors_total{code}
// of the metrics filters (tern/monitor/metrics.h).
//
// Several servers (or clients) watched by one AdminServer add up to one
// process-wide series. Thread safety: any thread.
#pragma once

#include "tern/client.h"
#include "tern/monitor/admin_server.h"
#include "tern/monitor/collector.h"
#include "tern/server.h"

namespace tern::monitor {

// Appends `server`'s samples (above). `server` must outlive every call.
void collect_server_metrics(const Server& server, std::vector<Sample>& out);
// Appends the samples of `channels` (above). `channels` must outlive every call.
void collect_channel_metrics(const ChannelPool& channels, std::vector<Sample>& out);

// Adds `server`'s collector to `admin` until the handle is destroyed. The
// handle must be destroyed before `server` and before `admin`.
[[nodiscard]] CollectorHandle watch_server(AdminServer& admin, const Server& server);
// Adds `client`'s channel collector to `admin` until the handle is destroyed.
// The handle must be destroyed before `client` and before `admin`.
[[nodiscard]] CollectorHandle watch_client(AdminServer& admin, Client& client);

}  // namespace tern::monitor
