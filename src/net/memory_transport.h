// src/net/memory_transport.h - an in-memory byte pipe: two Transports that
// deliver the bytes written on one end to the other (internal; for tests of
// the protocol, session, channel and server without sockets).
//
//   asio::io_context loop;
//   auto [client, server] = net::make_memory_pipe(loop, loop);
//   server->set_read_sizes([] { return 1; });   // every byte boundary
//   auto conn = net::Connection::adopt(std::move(server), {});
//
// Behaves like a connected TCP socket as Connection uses one: reads are
// non-blocking (would_block when empty), a closed end makes the other read
// eof once it drained what was written before; close() aborts the end's own
// wait with operation_aborted. Writes to an end whose peer is closed succeed
// and are discarded, as a TCP send before the peer's reset comes back: the
// reading side (eof) decides how the connection ends, deterministically.
// Write errors are not simulated. Completions are posted to the end's own io_context
// (never run inline), as Asio's are. Writes never push back (no window).
//
// Reads are cut at the sizes a test chooses (set_read_sizes), so a frame
// can arrive split at any byte boundary.
//
// Thread safety: each end is used on its own loop (as Connection does);
// try_write() may be called from any thread; the two ends share a mutex.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "net/transport.h"

namespace tern::net {

class MemoryTransport final : public Transport {
 public:
  struct Shared;
  MemoryTransport(asio::io_context& loop, std::shared_ptr<Shared> shared, int side, std::string local_name,
                  std::string remote_name);
  ~MemoryTransport() override;

  // The size of each read (called per read with bytes available; clamped to
  // at least 1 and at most what is there and what the reader asked for).
  // Empty (default): as much as is there. Set before use; loop thread.
  void set_read_sizes(std::function<std::size_t()> sizes) { read_sizes_ = std::move(sizes); }
  // A dialled end: async_connect() fails with `ec` (default: succeeds).
  void set_connect_error(std::error_code ec) { connect_error_ = ec; }
  // Bytes written by the peer and not read yet on this end.
  std::size_t available() const;

  void async_connect(Completion done) override;
  void async_wait_readable(Completion done) override;
  std::size_t read_some(char* data, std::size_t size, std::error_code& ec) override;
  void async_write(std::span<const asio::const_buffer> buffers, Completion done) override;
  std::ptrdiff_t try_write(const char* data, std::size_t size) noexcept override;
  void close() noexcept override;
  bool is_open() const noexcept override;
  std::string remote_text() const override { return remote_name_; }
  std::string local_text() const override { return local_name_; }

 private:
  std::shared_ptr<Shared> shared_;
  int side_;  // 0 or 1: this end reads Shared::inbox[side_]
  std::string local_name_;
  std::string remote_name_;
  std::function<std::size_t()> read_sizes_;
  std::error_code connect_error_;
};

// A connected pair: bytes written on `first` are read on `second` and back.
// `first` runs its completions on `first_loop`, `second` on `second_loop`
// (the same loop is fine). The names are what each end reports as its
// local_text() (the other's remote_text()).
std::pair<std::unique_ptr<MemoryTransport>, std::unique_ptr<MemoryTransport>> make_memory_pipe(
    asio::io_context& first_loop, asio::io_context& second_loop, std::string first_name = "pipe:client",
    std::string second_name = "pipe:server");

}  // namespace tern::net
