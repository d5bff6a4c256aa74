// tern/buffer_pool.h - large frame buffers kept for reuse.
//
// A 1 MiB call used to allocate fresh 1 MiB buffers for the received frame,
// the encoded response and the encoded request, on both sides. glibc serves
// such sizes from mmap or from a thread arena it trims on free, so every call
// faulted in and zeroed its pages again: a quarter of the provider's CPU at
// 1 MiB (perf, issue #17). The pool keeps the buffers of finished frames and
// hands them to the next ones, in the spirit of brpc's IOBuf block cache and
// coro_rpc's per-connection buffers.
//
// Only buffers of at least kMinPooled bytes of capacity are kept, at most
// kMaxPooled each, kBudget bytes in all (the rest are freed as usual), so the
// memory an idle process keeps after large-message traffic is bounded by
// kBudget. Small frames never touch the pool.
//
// Users: FrameDecoder (a large frame's payload), FrameBuilder (growing past
// kMinPooled), Frame's destructor and Connection (a written frame) give
// their buffers back.
//
// Thread safety: all functions may be called from any thread (one mutex,
// taken only for buffers of kMinPooled bytes or more).
#pragma once

#include <cstddef>
#include <string>

namespace tern {

class BufferPool {
 public:
  static constexpr std::size_t kMinPooled = 64 * 1024;         // bytes of capacity
  static constexpr std::size_t kMaxPooled = 16 * 1024 * 1024;  // larger buffers are freed
  static constexpr std::size_t kBudget = 32 * 1024 * 1024;     // bytes kept in all

  // An empty string whose capacity is at least `capacity` bytes when the
  // pool holds such a buffer (the smallest that fits); otherwise an empty
  // string with no allocation (the caller reserves what it wants). Never
  // allocates.
  static std::string take(std::size_t capacity) noexcept;

  // Gives `s` back: kept when its capacity is within [kMinPooled,
  // kMaxPooled] and the budget allows, else freed. `s` is left empty.
  static void give(std::string&& s) noexcept;

  // Bytes of capacity held now (for tests and metrics).
  static std::size_t held_bytes() noexcept;
  // Drops every held buffer (tests).
  static void clear() noexcept;
};

}  // namespace tern
