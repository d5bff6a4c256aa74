// StreamHub and StreamCall (stream_hub.h).
#include "rpc/stream_hub.h"

#include <asio/post.hpp>

namespace tern::rpc {

namespace {
using Clock = std::chrono::steady_clock;

Clock::time_point deadline_of(std::chrono::milliseconds timeout) {
  return timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
}

Status ended_before_sent(const Status& final) {
  if (!final.is_ok()) return final;
  return Status(StatusCode::kFailedPrecondition, "the stream has ended");
}
}  // namespace

// ---------------------------------------------------------------------------
// StreamCall

StreamCall::StreamCall(std::weak_ptr<StreamHub> hub, asio::io_context& loop, StreamDispatch dispatch,
                       stream::OpenInfo info, std::string peer, bool provider_side)
    : hub_(std::move(hub)),
      loop_(loop),
      dispatch_(std::move(dispatch)),
      info_(std::move(info)),
      peer_(std::move(peer)),
      provider_side_(provider_side),
      deadline_(deadline_of(info_.timeout)) {}

StreamCall::~StreamCall() = default;

std::shared_ptr<StreamCall> StreamCall::failed(asio::io_context& loop, StreamDispatch dispatch, stream::OpenInfo info,
                                               Status why) {
  auto c = std::make_shared<StreamCall>(std::weak_ptr<StreamHub>(), loop, std::move(dispatch), std::move(info),
                                        std::string(), false);
  c->settle(std::move(why), {}, {});
  return c;
}

template <typename F>
void StreamCall::on_loop(F fn) {
  asio::post(loop_, [self = shared_from_this(), fn = std::move(fn)]() mutable {
    auto hub = self->hub_.lock();
    if (!self->final_ && (!hub || self->id_ == 0)) {
      // The connection went away without settling this stream (or it never opened).
      self->settle(Status(StatusCode::kUnavailable, "connection closed", true), {}, {});
    }
    fn(*self, hub.get());
  });
}

void StreamCall::write(std::string bytes, Done done) {
  on_loop([bytes = std::move(bytes), done = std::move(done)](StreamCall& c, StreamHub* hub) mutable {
    if (c.final_) {
      c.complete([st = ended_before_sent(*c.final_), done = std::move(done)]() mutable { done(st); });
      return;
    }
    stream::StreamSession& s = hub->session_;
    if (c.write_waiter_) {
      c.complete([done = std::move(done), id = c.id_]() mutable {
        done(Status(StatusCode::kFailedPrecondition,
                    "stream " + std::to_string(id) + ": a write is already in progress"));
      });
      return;
    }
    const bool now = s.writable(c.id_);
    const std::size_t size = bytes.size();
    Status st = s.write(c.id_, std::move(bytes));
    if (st.is_ok()) {
      c.messages_out_.fetch_add(1, std::memory_order_relaxed);
      c.bytes_out_.fetch_add(size, std::memory_order_relaxed);
    }
    if (!st.is_ok() || now) {
      c.complete([st = std::move(st), done = std::move(done)]() mutable { done(st); });
    } else {
      c.write_waiter_ = std::move(done);  // on_writable or the end completes it
    }
  });
}

void StreamCall::read(ReadDone done) {
  on_loop([done = std::move(done)](StreamCall& c, StreamHub* hub) mutable {
    if (c.read_waiter_) {
      c.complete([done = std::move(done)]() mutable {
        done(std::nullopt, Status(StatusCode::kFailedPrecondition, "a read is already in progress"));
      });
      return;
    }
    c.read_waiter_ = std::move(done);
    c.try_read(hub);
  });
}

void StreamCall::try_read(StreamHub* hub) {
  if (!read_waiter_) return;
  // Taken out first: reading may grant credit, and a codec may deliver the
  // next message (on_readable) before read() returns.
  ReadDone done = std::move(read_waiter_);
  read_waiter_ = nullptr;
  std::optional<std::string> msg;
  Status status;
  if (final_) {
    if (!leftover_.empty()) {
      msg = std::move(leftover_.front());
      leftover_.pop_front();
    } else {
      status = *final_;
    }
  } else {
    msg = hub->session_.read(id_);
    count_read(msg);  // leftovers were counted when the stream settled
    if (!msg && !hub->session_.ended(id_)) {
      read_waiter_ = std::move(done);  // wait for on_readable
      return;
    }
    if (!msg) {
      // Ended: a stream already closed (its settle() still posted) ends with
      // its final status, a peer's half-close with OK.
      if (auto final = hub->session_.final_status(id_)) status = *final;
    }
  }
  complete([done = std::move(done), msg = std::move(msg), status = std::move(status)]() mutable {
    done(std::move(msg), std::move(status));
  });
}

void StreamCall::writes_done(Done done) {
  on_loop([done = std::move(done)](StreamCall& c, StreamHub* hub) mutable {
    // A half-close after the provider finished OK is harmless (as in gRPC):
    // OK; after a failed end, that end's status.
    auto ended = [](const Status& final) { return final.is_ok() ? Status() : final; };
    if (c.final_) {
      c.complete([st = ended(*c.final_), done = std::move(done)]() mutable { done(st); });
      return;
    }
    if (auto final = hub->session_.final_status(c.id_)) {
      c.complete([st = ended(*final), done = std::move(done)]() mutable { done(st); });
      return;
    }
    Status st = hub->session_.writes_done(c.id_);
    if (st.is_ok() && c.write_waiter_) {
      c.half_close_waiter_ = std::move(done);  // sent after the waiting message
      return;
    }
    c.complete([st = std::move(st), done = std::move(done)]() mutable { done(st); });
  });
}

void StreamCall::await_status(Done done) {
  on_loop([done = std::move(done)](StreamCall& c, StreamHub*) mutable {
    if (c.final_) {
      c.complete([st = *c.final_, done = std::move(done)]() mutable { done(st); });
    } else {
      c.status_waiters_.push_back(std::move(done));
    }
  });
}

void StreamCall::finish(Status status, StreamMetadata trailers) {
  on_loop([status = std::move(status), trailers = std::move(trailers)](StreamCall& c, StreamHub* hub) mutable {
    if (c.final_) return;
    (void)hub->session_.finish(c.id_, std::move(status), std::move(trailers));  // closed already: nothing to do
  });
}

void StreamCall::cancel(Status why) {
  on_loop([why = std::move(why)](StreamCall& c, StreamHub* hub) mutable {
    if (c.final_) return;
    (void)hub->session_.cancel(c.id_, std::move(why));
  });
}

void StreamCall::defer(detail::UniqueFunction<void()> fn) { complete(std::move(fn)); }

std::optional<Status> StreamCall::try_write_now(std::string& bytes) {
  // The live state is the IO thread's: anywhere else, the posted path.
  if (!loop_.get_executor().running_in_this_thread() || final_ || id_ == 0 || write_waiter_) return std::nullopt;
  auto hub = hub_.lock();
  if (!hub) return std::nullopt;
  stream::StreamSession& s = hub->session_;
  if (!s.writable(id_)) return std::nullopt;  // no credit: write() waits for it
  const std::size_t size = bytes.size();
  Status st = s.write(id_, std::move(bytes));
  if (st.is_ok()) {
    messages_out_.fetch_add(1, std::memory_order_relaxed);
    bytes_out_.fetch_add(size, std::memory_order_relaxed);
  }
  return st;
}

std::optional<std::string> StreamCall::try_read_now() {
  if (!loop_.get_executor().running_in_this_thread() || final_ || id_ == 0 || read_waiter_) return std::nullopt;
  auto hub = hub_.lock();
  if (!hub) return std::nullopt;
  std::optional<std::string> msg = hub->session_.read(id_);
  count_read(msg);
  return msg;
}

StreamMetadata StreamCall::metadata() const {
  if (provider_side_) return info_.metadata;  // the consumer's attachments
  std::lock_guard lock(meta_mu_);
  return trailers_;
}

void StreamCall::settle(Status final, stream::Metadata trailers, std::deque<std::string> leftover) {
  if (final_) return;
  final_ = std::move(final);
  ended_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(meta_mu_);
    trailers_ = std::move(trailers);
  }
  leftover_ = std::move(leftover);
  for (const auto& m : leftover_) count_read(m);  // received: counted before a status waiter sees the end
  if (deadline_timer_) deadline_timer_->cancel();
  if (write_waiter_) {
    complete([st = ended_before_sent(*final_), done = std::move(write_waiter_)]() mutable { done(st); });
    write_waiter_ = nullptr;
  }
  if (half_close_waiter_) {
    complete([st = final_->is_ok() ? Status() : *final_, done = std::move(half_close_waiter_)]() mutable { done(st); });
    half_close_waiter_ = nullptr;
  }
  for (Done& d : status_waiters_) {
    complete([st = *final_, done = std::move(d)]() mutable { done(st); });
  }
  status_waiters_.clear();
  if (read_waiter_) {
    std::optional<std::string> msg;
    Status st;
    if (!leftover_.empty()) {
      msg = std::move(leftover_.front());
      leftover_.pop_front();
    } else {
      st = *final_;
    }
    complete([done = std::move(read_waiter_), msg = std::move(msg), st = std::move(st)]() mutable {
      done(std::move(msg), std::move(st));
    });
    read_waiter_ = nullptr;
  }
}

// ---------------------------------------------------------------------------
// StreamHub

StreamHub::StreamHub(stream::Role role, stream::StreamOptions options, asio::io_context& loop, std::string peer,
                     Write write, Close close, StreamDispatch dispatch, OnOpened on_opened)
    : loop_(loop),
      peer_(std::move(peer)),
      dispatch_(std::move(dispatch)),
      on_opened_(std::move(on_opened)),
      codec_(std::make_shared<protocol::TernStreamCodec>(std::move(write), std::move(close))),
      tern_(static_cast<protocol::TernStreamCodec*>(codec_.get())),
      session_(role, options, *codec_, *this) {
  tern_->bind(session_);
}

StreamHub::StreamHub(stream::Role role, stream::StreamOptions options, asio::io_context& loop, std::string peer,
                     std::shared_ptr<stream::Sink> codec, StreamDispatch dispatch, OnOpened on_opened)
    : loop_(loop),
      peer_(std::move(peer)),
      dispatch_(std::move(dispatch)),
      on_opened_(std::move(on_opened)),
      codec_(std::move(codec)),
      session_(role, options, *codec_, *this) {}

void StreamHub::feed(const protocol::Frame& frame) {
  if (tern_ != nullptr) tern_->feed(frame);
}

void StreamHub::connection_lost(const Status& why) { session_.on_connection_lost(why); }

std::shared_ptr<StreamCall> StreamHub::open(stream::OpenInfo info) {
  auto call = std::make_shared<StreamCall>(weak_from_this(), loop_, dispatch_, info, peer_, false);
  live_.fetch_add(1, std::memory_order_acq_rel);
  asio::post(loop_, [self = shared_from_this(), call, info = std::move(info)]() mutable {
    Result<stream::StreamId> id = self->session_.open(std::move(info));
    if (!id.has_value()) {
      Status st = id.status();
      if (st.code() == StatusCode::kUnavailable) st = Status(StatusCode::kUnavailable, st.message(), false);
      call->settle(std::move(st), {}, {});
      self->live_.fetch_sub(1, std::memory_order_acq_rel);
      if (self->on_settled_) self->on_settled_();
      return;
    }
    call->id_ = *id;
    self->calls_[*id] = call;
    self->arm_deadline(call);
  });
  return call;
}

StreamCall* StreamHub::call(stream::StreamId id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

void StreamHub::arm_deadline(const std::shared_ptr<StreamCall>& call) {
  if (call->deadline_ == Clock::time_point::max()) return;
  call->deadline_timer_ = std::make_unique<asio::steady_timer>(loop_, call->deadline_);
  call->deadline_timer_->async_wait(
      [weak = weak_from_this(), id = call->id_, ms = call->info_.timeout.count()](std::error_code ec) {
        if (ec) return;
        auto self = weak.lock();
        if (!self) return;
        (void)self->session_.cancel(
            id, Status(StatusCode::kDeadlineExceeded, "stream deadline of " + std::to_string(ms) + " ms exceeded",
                       true));
      });
}

void StreamHub::on_stream_opened(stream::StreamId id, const stream::OpenInfo& info) {
  auto call = std::make_shared<StreamCall>(weak_from_this(), loop_, dispatch_, info, peer_, true);
  call->id_ = id;
  calls_[id] = call;
  live_.fetch_add(1, std::memory_order_acq_rel);
  arm_deadline(call);
  // Not inline: the session is in the middle of delivering the open.
  asio::post(loop_, [self = shared_from_this(), call] {
    if (self->on_opened_) self->on_opened_(call);
  });
}

void StreamHub::on_readable(stream::StreamId id) {
  if (StreamCall* c = call(id)) c->try_read(this);
}

void StreamHub::on_writable(stream::StreamId id) {
  StreamCall* c = call(id);
  if (c == nullptr) return;
  if (c->write_waiter_) {
    c->complete([done = std::move(c->write_waiter_)]() mutable { done(Status()); });
    c->write_waiter_ = nullptr;
  }
  if (c->half_close_waiter_) {
    c->complete([done = std::move(c->half_close_waiter_)]() mutable { done(Status()); });
    c->half_close_waiter_ = nullptr;
  }
}

void StreamHub::on_closed(stream::StreamId id, const Status&) {
  // Settled from the loop: the session is still inside the event that closed it.
  asio::post(loop_, [self = shared_from_this(), id] { self->settle(id); });
}

void StreamHub::settle(stream::StreamId id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) {
    session_.release(id);
    return;
  }
  std::shared_ptr<StreamCall> c = std::move(it->second);
  calls_.erase(it);
  std::deque<std::string> leftover;
  while (auto m = session_.read(id)) leftover.push_back(std::move(*m));
  std::optional<Status> final = session_.final_status(id);
  stream::Metadata trailers;
  if (const stream::Metadata* t = session_.trailers(id)) trailers = *t;
  session_.release(id);
  c->settle(final ? *final : Status(StatusCode::kUnavailable, "connection closed", true), std::move(trailers),
            std::move(leftover));
  live_.fetch_sub(1, std::memory_order_acq_rel);
  if (on_settled_) on_settled_();
}

}  // namespace tern::rpc
