// Large frame buffers kept for reuse (tern/buffer_pool.h).
#include "tern/buffer_pool.h"

#include <mutex>
#include <vector>

// Under AddressSanitizer a kept buffer's bytes are poisoned while it waits
// for its next user (tern/buffer_pool.h, "AddressSanitizer").
#if defined(__SANITIZE_ADDRESS__)
#define TERN_BUFFER_POOL_POISONS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TERN_BUFFER_POOL_POISONS 1
#endif
#endif
#ifdef TERN_BUFFER_POOL_POISONS
#include <sanitizer/asan_interface.h>
#endif

namespace tern {
namespace {

// The whole heap block of a (non-SSO) string: capacity() bytes and the
// terminator. Only data(), capacity() and pointer moves (move, swap) touch a
// poisoned string; every path that hands it out or frees it unpoisons first.
void poison(std::string& s) noexcept {
#ifdef TERN_BUFFER_POOL_POISONS
  ASAN_POISON_MEMORY_REGION(s.data(), s.capacity() + 1);
#else
  (void)s;
#endif
}
void unpoison(std::string& s) noexcept {
#ifdef TERN_BUFFER_POOL_POISONS
  ASAN_UNPOISON_MEMORY_REGION(s.data(), s.capacity() + 1);
#else
  (void)s;
#endif
}

struct Pool {
  std::mutex mu;
  std::vector<std::string> free;  // few entries: kBudget / kMinPooled at most
  std::size_t held = 0;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: frames may die during static destruction
  return *p;
}

// The calling thread's small buffers. `t_local_gone` (trivially destructible,
// so still readable) says the cache has been destroyed at thread exit; later
// recycles free their buffer.
thread_local bool t_local_gone = false;
struct LocalCache {
  std::string slots[BufferPool::kLocalSlots];  // [0, n) hold buffers (poisoned under ASan), the rest are empty
  std::size_t n = 0;
  ~LocalCache() {
    t_local_gone = true;
    for (std::size_t i = 0; i < n; ++i) unpoison(slots[i]);
  }
};
thread_local LocalCache t_local;

}  // namespace

std::string BufferPool::take_local(std::size_t capacity) noexcept {
  if (t_local_gone) return std::string();
  LocalCache& c = t_local;
  std::size_t best = c.n;
  for (std::size_t i = 0; i < c.n; ++i) {
    std::size_t cap = c.slots[i].capacity();
    if (cap >= capacity && (best == c.n || cap < c.slots[best].capacity())) best = i;
  }
  if (best == c.n) return std::string();
  std::string out = std::move(c.slots[best]);
  if (best != --c.n) c.slots[best].swap(c.slots[c.n]);
  unpoison(out);
  return out;
}

void BufferPool::recycle(std::string&& s) noexcept {
  std::size_t cap = s.capacity();
  if (cap >= kMinPooled) {
    give(std::move(s));
    return;
  }
  if (cap < kMinLocal || cap > kMaxLocal || t_local_gone) {
    std::string().swap(s);
    return;
  }
  s.clear();
  LocalCache& c = t_local;
  if (c.n < kLocalSlots) {
    poison(s);
    c.slots[c.n++] = std::move(s);
    return;
  }
  std::size_t smallest = 0;
  for (std::size_t i = 1; i < c.n; ++i) {
    if (c.slots[i].capacity() < c.slots[smallest].capacity()) smallest = i;
  }
  if (c.slots[smallest].capacity() < cap) {
    poison(s);
    c.slots[smallest].swap(s);
    unpoison(s);  // the smaller buffer it replaces, freed below
  }
  std::string().swap(s);
}

namespace {
// The smallest kept buffer of at least `capacity` bytes, unpoisoned, with the
// size it was given back with; empty when none fits.
std::string take_kept(std::size_t capacity) noexcept {
  if (capacity < BufferPool::kMinPooled || capacity > BufferPool::kMaxPooled) return std::string();
  Pool& p = pool();
  std::lock_guard lock(p.mu);
  std::size_t best = p.free.size();
  for (std::size_t i = 0; i < p.free.size(); ++i) {
    std::size_t c = p.free[i].capacity();
    if (c >= capacity && (best == p.free.size() || c < p.free[best].capacity())) best = i;
  }
  if (best == p.free.size()) return std::string();
  std::string out = std::move(p.free[best]);
  p.free[best] = std::move(p.free.back());
  p.free.pop_back();
  p.held -= out.capacity();
  unpoison(out);
  return out;
}
}  // namespace

std::string BufferPool::take(std::size_t capacity) noexcept {
  std::string out = take_kept(capacity);
  out.clear();  // keeps the capacity
  return out;
}

std::string BufferPool::take_sized(std::size_t size) noexcept {
  std::string out = take_kept(size);
  // No fill when the kept size covers `size` (a shrink only writes the
  // terminator); capacity() >= size, so no allocation either way.
  if (out.capacity() >= size) out.resize(size);
  return out;
}

void BufferPool::give(std::string&& s) noexcept {
  std::size_t c = s.capacity();
  if (c < kMinPooled || c > kMaxPooled) {
    std::string().swap(s);
    return;
  }
  // The size is kept: take_sized() hands the buffer out again without
  // zeroing the bytes a resize would otherwise fill.
  Pool& p = pool();
  {
    std::lock_guard lock(p.mu);
    if (p.held + c <= kBudget) {
      try {
        p.free.push_back(std::move(s));
        poison(p.free.back());
        p.held += c;
        return;
      } catch (...) {  // the vector could not grow: free the buffer instead
      }
    }
  }
  std::string().swap(s);
}

std::size_t BufferPool::held_bytes() noexcept {
  Pool& p = pool();
  std::lock_guard lock(p.mu);
  return p.held;
}

void BufferPool::clear() noexcept {
  std::vector<std::string> drop;
  Pool& p = pool();
  {
    std::lock_guard lock(p.mu);
    drop.swap(p.free);
    p.held = 0;
  }
  for (auto& s : drop) unpoison(s);
}

}  // namespace tern
