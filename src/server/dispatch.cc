// Where a request runs: the `adaptive` dispatcher's bookkeeping (see
// tern/dispatcher.h and src/server/adaptive_placement.h).
#include <chrono>
#include <string>

#include "server/server_impl.h"
#include "tern/log.h"

namespace tern {

void Server::Impl::note_placement(const ServerCall& call, server_impl::AdaptivePlacement& placement, bool on_io,
                                  std::chrono::nanoseconds took) {
  using Change = server_impl::AdaptivePlacement::Change;
  Change change = placement.record(on_io, took);
  if (change == Change::kNone) return;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  if (change == Change::kPromoted) {
    adaptive_promotions.fetch_add(1, std::memory_order_relaxed);
    TERN_LOG(kDebug, "adaptive dispatcher: {}.{} ran {} times in a row under {} us on the business pool; its "
             "requests now run on the IO thread", call.service(), call.method(),
             placement.runs_needed(),
             options.adaptive.promote_below.count());
    return;
  }
  adaptive_demotions.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t next = placement.runs_needed();
  TERN_LOG(kWarn, "adaptive dispatcher: {}.{} held an IO thread for {} us (over {} us); its requests run on the "
           "business pool again{}", call.service(), call.method(), us, options.adaptive.demote_above.count(),
           next ? " until " + std::to_string(next) + " runs in a row are short" : std::string(" from now on"));
}

}  // namespace tern
