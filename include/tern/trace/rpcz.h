// tern/trace/rpcz.h - the memory behind the admin server's /rpcz page, in
// the spirit of brpc's rpcz: the most recent spans and the slowest spans,
// each list of fixed capacity, so memory stays bounded however many calls
// pass. Fed by the Tracer (tern/trace/tracer.h) with every sampled span
// when TracerOptions::rpcz is on.
//
// Thread safety: add() and snapshot() may be called concurrently from any
// thread (one mutex, held for a move into a ring slot or a copy out).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tern/trace/span.h"

namespace tern::trace {

class RpczStore {
 public:
  // Keeps at most `recent` latest spans and the `slow` slowest ones seen
  // (0 disables a list).
  RpczStore(std::size_t recent, std::size_t slow);

  void add(const SpanData& span);

  struct Snapshot {
    std::vector<SpanData> recent;  // newest first
    std::vector<SpanData> slow;    // slowest first
    std::uint64_t total = 0;       // spans ever added
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  std::size_t recent_cap_;
  std::size_t slow_cap_;
  std::vector<SpanData> ring_;  // recent, a ring of recent_cap_ slots
  std::size_t next_ = 0;        // next ring slot to write
  std::vector<SpanData> slow_;  // min-heap by duration, at most slow_cap_
  std::uint64_t total_ = 0;
};

// Renderings of a snapshot for /rpcz. `enabled` false renders a note on how
// to turn rpcz on. trace_filter, when not empty, keeps only the spans of that
// trace id (32 hex digits), so /rpcz?trace=<id> shows one trace.
std::string render_rpcz_text(const RpczStore::Snapshot& snapshot, bool enabled, std::string_view trace_filter = {});
std::string render_rpcz_html(const RpczStore::Snapshot& snapshot, bool enabled, std::string_view trace_filter = {});
std::string render_rpcz_json(const RpczStore::Snapshot& snapshot, bool enabled, std::string_view trace_filter = {});

}  // namespace tern::trace
