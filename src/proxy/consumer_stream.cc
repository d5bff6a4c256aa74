// A stream handle that outlives its Client (src/proxy/consumer_stream.h).
#include "proxy/consumer_stream.h"

#include "proxy/client_core.h"

namespace tern {

namespace {

Status shut_down() { return Status(StatusCode::kCancelled, "consumer shut down"); }

// Runs `op` on the channel's stream unless the consumer is shutting down;
// returns false when refused.
template <typename Op>
bool forward(ClientCore& core, Op&& op) {
  ClientCore::StreamOpGuard admitted(core);
  if (!admitted) return false;
  op();
  return true;
}

}  // namespace

void ConsumerStream::write(std::string bytes, Done done) {
  // `done` is moved into the lambda only when the operation is forwarded.
  if (!forward(*core_, [&] { inner_->write(std::move(bytes), std::move(done)); })) done(shut_down());
}

void ConsumerStream::read(ReadDone done) {
  if (!forward(*core_, [&] { inner_->read(std::move(done)); })) done(std::nullopt, shut_down());
}

void ConsumerStream::writes_done(Done done) {
  if (!forward(*core_, [&] { inner_->writes_done(std::move(done)); })) done(shut_down());
}

void ConsumerStream::await_status(Done done) {
  if (!forward(*core_, [&] { inner_->await_status(std::move(done)); })) done(shut_down());
}

void ConsumerStream::finish(Status status, StreamMetadata trailers) {
  (void)forward(*core_, [&] { inner_->finish(std::move(status), std::move(trailers)); });
}

void ConsumerStream::cancel(Status why) {
  (void)forward(*core_, [&] { inner_->cancel(std::move(why)); });  // shut down: ended already
}

void ConsumerStream::defer(detail::UniqueFunction<void()> fn) {
  if (!forward(*core_, [&] { inner_->defer(std::move(fn)); })) fn();
}

std::optional<Status> ConsumerStream::try_write_now(std::string& bytes) {
  if (core_->stream_ops_closing()) return shut_down();  // not sent, as write() would answer
  return inner_->try_write_now(bytes);
}

std::optional<std::string> ConsumerStream::try_read_now() {
  if (core_->stream_ops_closing()) return std::nullopt;  // read() answers the end
  return inner_->try_read_now();
}

}  // namespace tern
