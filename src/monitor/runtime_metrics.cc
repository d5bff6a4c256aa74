// Server and channel-pool figures as scrape-time samples. See
// tern/monitor/runtime_metrics.h.
#include "tern/monitor/runtime_metrics.h"

namespace tern::monitor {

namespace {

void add(std::vector<Sample>& out, const char* name, MetricType type, const char* help, double value,
         std::vector<std::pair<std::string, std::string>> labels = {}) {
  out.push_back(Sample{name, type, help, std::move(labels), value});
}

double d(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace

void collect_server_metrics(const Server& server, std::vector<Sample>& out) {
  auto s = server.stats();
  constexpr auto kGauge = MetricType::kGauge;
  constexpr auto kCounter = MetricType::kCounter;
  add(out, "tern_provider_open_connections", kGauge, "Consumer connections open now.", d(s.connections));
  add(out, "tern_provider_requests_received_total", kCounter, "Requests and oneway requests received.",
      d(s.requests));
  add(out, "tern_provider_pool_threads", kGauge, "Business thread pool threads alive.", d(s.pool_threads));
  add(out, "tern_provider_pool_active_threads", kGauge, "Business thread pool threads running a handler.",
      d(s.pool_active));
  add(out, "tern_provider_pool_queued_requests", kGauge, "Requests waiting in the business thread pool's queue.",
      d(s.pool_queued));
  add(out, "tern_provider_shed_total", kCounter,
      "Requests dropped before their handler ran: the caller was gone or the deadline passed while queued.",
      d(s.shed));
  const char* rejected_help = "Requests answered at once without running their handler, by reason.";
  add(out, "tern_provider_rejected_total", kCounter, rejected_help, d(s.rejected_overload), {{"reason", "overload"}});
  add(out, "tern_provider_rejected_total", kCounter, rejected_help, d(s.rejected_in_flight), {{"reason", "in_flight"}});
  add(out, "tern_provider_rejected_total", kCounter, rejected_help, d(s.duplicate_ids), {{"reason", "duplicate_id"}});
  add(out, "tern_provider_rejected_total", kCounter, rejected_help, d(s.rejected_limit), {{"reason", "method_limit"}});
  add(out, "tern_provider_rejected_connections_total", kCounter,
      "Consumer connections closed at accept because max_connections were open.", d(s.rejected_connections));
}

void collect_channel_metrics(const ChannelPool& channels, std::vector<Sample>& out) {
  auto s = channels.stats();
  add(out, "tern_consumer_open_connections", MetricType::kGauge, "Provider connections open now.",
      d(s.open_connections));
  add(out, "tern_consumer_pending_calls", MetricType::kGauge, "Calls sent and waiting for their response.",
      d(s.pending));
  add(out, "tern_consumer_timeouts_total", MetricType::kCounter, "Calls that timed out waiting for a response.",
      d(s.timeouts));
  add(out, "tern_consumer_late_responses_total", MetricType::kCounter,
      "Responses that arrived after their call had ended (timed out or cancelled).", d(s.late_responses));
}

CollectorHandle watch_server(AdminServer& admin, const Server& server) {
  const Server* s = &server;
  auto id = admin.collectors().add([s](std::vector<Sample>& out) { collect_server_metrics(*s, out); });
  return CollectorHandle(&admin.collectors(), id);
}

CollectorHandle watch_client(AdminServer& admin, Client& client) {
  const ChannelPool* channels = &client.channels();
  auto id = admin.collectors().add([channels](std::vector<Sample>& out) { collect_channel_metrics(*channels, out); });
  return CollectorHandle(&admin.collectors(), id);
}

}  // namespace tern::monitor
