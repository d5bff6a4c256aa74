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
// Small buffers (issue #17): a 16-byte echo used to allocate the received
// frame's payload and the response frame's buffer on every call. take_local()
// and recycle() keep up to kLocalSlots buffers of [kMinLocal, kMaxLocal]
// bytes of capacity per thread (at most kLocalSlots * kMaxLocal bytes per
// thread, freed when the thread exits), so a frame decoded, handled and
// answered on one IO thread reuses the buffers of the previous one. Buffers
// that cross threads (decoded on an IO thread, dropped on a business thread)
// land in the cache of the thread that drops them; the bound holds there too.
//
// AddressSanitizer: a recycled buffer would hide a use-after-free from ASan
// (a view into a destroyed frame would read the next frame's bytes, not
// freed memory). Built with ASan (__SANITIZE_ADDRESS__ or
// __has_feature(address_sanitizer)), every buffer the pool or a thread's
// cache keeps has its bytes (capacity and terminator) poisoned with
// ASAN_POISON_MEMORY_REGION until take()/take_local() hands it out again, so
// such a read is reported as a use-after-poison, with the stack of the
// access. The pool itself only moves, swaps and asks the capacity of a kept
// string (none of which reads its bytes) and unpoisons a buffer before it
// frees one (a cache full of larger buffers, thread exit, clear()).
// tests/protocol/decoder_test.cc (BufferPoolAsanDeathTest) checks it.
// Without ASan the poisoning compiles to nothing.
//
// Thread safety: all functions may be called from any thread (one mutex,
// taken only for buffers of kMinPooled bytes or more; the small-buffer cache
// is the calling thread's own).
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

  // A string of exactly `size` bytes taken from the pool like take(), with
  // unspecified contents (bytes of the frame that used the buffer before), or
  // an empty string when the pool holds none that fits. The pool keeps a
  // buffer's size when it is given back, so when that size was at least
  // `size` no byte is written here: a decoder that reads a large body
  // straight into the buffer does not zero 1 MiB first (std::string::resize
  // would; 3 % of the consumer's CPU at 1 MiB, issue #17). The caller must
  // overwrite every byte before reading any. Never allocates.
  static std::string take_sized(std::size_t size) noexcept;

  // Gives `s` back: kept (with its size, for take_sized()) when its
  // capacity is within [kMinPooled, kMaxPooled] and the budget allows, else
  // freed. `s` is left empty.
  static void give(std::string&& s) noexcept;

  // Per-thread small-buffer cache (see above).
  static constexpr std::size_t kMinLocal = 32;         // bytes of capacity (past SSO)
  static constexpr std::size_t kMaxLocal = 16 * 1024;  // larger small buffers are freed
  static constexpr std::size_t kLocalSlots = 4;

  // An empty string from the calling thread's cache whose capacity is at
  // least `capacity` bytes (the smallest that fits), or an empty string with
  // no allocation when none fits. Never allocates.
  static std::string take_local(std::size_t capacity) noexcept;

  // Gives `s` back wherever it fits: give() for kMinPooled bytes or more,
  // else the calling thread's cache (within [kMinLocal, kMaxLocal], replacing
  // a smaller buffer when the cache is full), else freed. `s` is left empty.
  static void recycle(std::string&& s) noexcept;

  // Bytes of capacity held now (for tests and metrics).
  static std::size_t held_bytes() noexcept;
  // Drops every held buffer (tests).
  static void clear() noexcept;
};

}  // namespace tern
