// src/proxy/consumer_stream.h - the stream handle a Reference gives out
// (internal): the channel's stream (rpc::StreamCall) plus the consumer's core,
// so that a handle which outlives its tern::Client stays safe to use.
//
// The stream's operations post to the consumer's IO loops, which the Client
// owns. Every operation runs inside the core's shutdown gate
// (ClientCore::StreamOpGuard); ~Client marks the core closing, waits for the
// operations in progress, then shuts the channels down (which ends the
// streams with CANCELLED "consumer shut down" and runs what their ends
// queued). An operation started after that is refused at once: its
// completion runs on the calling thread with CANCELLED "consumer shut down"
// (the one case where a stream completion runs inline; tern/stream.h), and
// try_write_now answers that status itself, so a coroutine writing in a
// loop completes each co_await without suspending. The try_* fast paths
// skip the gate otherwise: they act only on the loop's own thread.
//
// Thread safety: as RawStream (any thread). Lifetime: holds the core, so the
// loops it posts to live as long as the handle.
#pragma once

#include <memory>
#include <string>

#include "tern/stream.h"

namespace tern {

struct ClientCore;

class ConsumerStream final : public RawStream {
 public:
  ConsumerStream(std::shared_ptr<RawStream> inner, std::shared_ptr<ClientCore> core)
      : core_(std::move(core)), inner_(std::move(inner)) {}

  void write(std::string bytes, Done done) override;
  void read(ReadDone done) override;
  void writes_done(Done done) override;
  void await_status(Done done) override;
  void finish(Status status, StreamMetadata trailers) override;
  void cancel(Status why) override;
  void defer(detail::UniqueFunction<void()> fn) override;
  std::optional<Status> try_write_now(std::string& bytes) override;
  std::optional<std::string> try_read_now() override;
  const std::string& service() const noexcept override { return inner_->service(); }
  const std::string& method() const noexcept override { return inner_->method(); }
  std::uint8_t serialization() const noexcept override { return inner_->serialization(); }
  StreamMetadata metadata() const override { return inner_->metadata(); }
  std::chrono::steady_clock::time_point deadline() const noexcept override { return inner_->deadline(); }

 private:
  // Declared first, destroyed last: the channel's stream (its deadline timer
  // is bound to one of the core's loops) goes before the core.
  std::shared_ptr<ClientCore> core_;
  std::shared_ptr<RawStream> inner_;
};

}  // namespace tern
