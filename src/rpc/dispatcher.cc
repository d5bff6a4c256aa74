// The five dispatch strategies of DESIGN §5 as data, plus `adaptive` (issue #17).
#include "tern/dispatcher.h"

namespace tern {

std::string_view dispatch_event_name(DispatchEvent e) noexcept {
  switch (e) {
    case DispatchEvent::kRequest: return "request";
    case DispatchEvent::kResponse: return "response";
    case DispatchEvent::kConnect: return "connect";
    case DispatchEvent::kDisconnect: return "disconnect";
    case DispatchEvent::kHeartbeat: return "heartbeat";
  }
  return "?";
}

Result<DispatchPolicy> dispatch_policy(std::string_view name) {
  DispatchPolicy p;
  p.name = std::string(name);
  //                    request response connect disconnect heartbeat
  if (name == "all") {
    p.on_pool = {true, true, true, true, true};
  } else if (name == "direct") {
    p.on_pool = {false, false, false, false, false};
  } else if (name == "message") {
    p.on_pool = {true, true, false, false, false};
  } else if (name == "execution") {
    p.on_pool = {true, false, false, false, false};
  } else if (name == "connection") {
    p.on_pool = {true, true, false, false, false};
    p.ordered_connection_events = true;
  } else if (name == "adaptive") {
    p.on_pool = {true, false, false, false, false};
    p.adaptive_requests = true;
  } else {
    return Status(StatusCode::kInvalidArgument,
                  "unknown dispatcher '" + std::string(name) + "' (adaptive, all, direct, message, execution, connection)");
  }
  return p;
}

Status validate_adaptive_options(const AdaptiveDispatchOptions& o) {
  if (o.promote_below.count() <= 0 || o.promote_below > o.demote_above || o.promote_below > o.demote_mean_above) {
    return Status(StatusCode::kInvalidArgument,
                  "adaptive dispatcher: promote_below (" + std::to_string(o.promote_below.count()) +
                      " us) must be > 0 and at most demote_above (" + std::to_string(o.demote_above.count()) +
                      " us) and demote_mean_above (" + std::to_string(o.demote_mean_above.count()) + " us)");
  }
  return Status();
}

}  // namespace tern
