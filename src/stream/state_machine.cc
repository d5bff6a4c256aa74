// The stream state machine's transition table (state_machine.h). Written as
// code, one case per (state, event), so each rule reads next to its reason.
#include "stream/state_machine.h"

namespace tern::stream {
namespace {

constexpr Transition accept(State next) noexcept { return {next, Verdict::kAccept, ""}; }
constexpr Transition keep(State s, Verdict v, const char* why) noexcept { return {s, v, why}; }

}  // namespace

Transition on_send(Role role, State state, Event event) noexcept {
  const bool client = role == Role::kClient;
  switch (state) {
    case State::kIdle:
      if (event == Event::kOpen) {
        return client ? accept(State::kOpen) : keep(state, Verdict::kRejectLocal, "only a client opens a stream");
      }
      return keep(state, Verdict::kRejectLocal, "the stream is not open");
    case State::kClosed:
      // A write, finish or window that raced the peer's cancel or finish: the
      // session reports the stream's final status to the caller instead.
      return keep(state, Verdict::kIgnore, "the stream is closed");
    case State::kOpen:
    case State::kHalfClosedLocal:
    case State::kHalfClosedRemote:
      break;
  }
  switch (event) {
    case Event::kOpen:
      return keep(state, Verdict::kRejectLocal, "the stream is already open");
    case Event::kMessage:
      if (state == State::kHalfClosedLocal) return keep(state, Verdict::kRejectLocal, "write after writes_done");
      return accept(state);
    case Event::kHalfClose:
      if (!client) return keep(state, Verdict::kRejectLocal, "a server ends a stream with finish, not writes_done");
      if (state == State::kHalfClosedLocal) return keep(state, Verdict::kRejectLocal, "writes_done called twice");
      return accept(State::kHalfClosedLocal);
    case Event::kCancel:
      return accept(State::kClosed);
    case Event::kWindow:
      return accept(state);
    case Event::kFinish:
      if (client) return keep(state, Verdict::kRejectLocal, "only a server finishes a stream");
      return accept(State::kClosed);
  }
  return keep(state, Verdict::kRejectLocal, "unknown event");
}

Transition on_receive(Role role, State state, Event event) noexcept {
  const bool client = role == Role::kClient;
  switch (state) {
    case State::kIdle:
      if (event == Event::kOpen) {
        return client ? keep(state, Verdict::kCloseConnection, "a server does not open streams")
                      : accept(State::kOpen);
      }
      return keep(state, Verdict::kCloseConnection, "event for a stream that was never opened");
    case State::kClosed:
      if (event == Event::kOpen) return keep(state, Verdict::kCloseConnection, "stream id reused");
      // HTTP/2 §5.1: frames for a stream this end closed (a message that
      // crossed our cancel) are dropped.
      return keep(state, Verdict::kIgnore, "the stream is closed");
    case State::kOpen:
    case State::kHalfClosedLocal:
    case State::kHalfClosedRemote:
      break;
  }
  switch (event) {
    case Event::kOpen:
      return keep(state, Verdict::kCloseConnection, "open for a stream id already in use");
    case Event::kMessage:
      if (state == State::kHalfClosedRemote) return keep(state, Verdict::kResetStream, "message after half-close");
      return accept(state);
    case Event::kHalfClose:
      if (client) return keep(state, Verdict::kCloseConnection, "a server ends a stream with finish, not half-close");
      if (state == State::kHalfClosedRemote) return keep(state, Verdict::kResetStream, "half-close received twice");
      return accept(State::kHalfClosedRemote);
    case Event::kCancel:
      return accept(State::kClosed);
    case Event::kWindow:
      return accept(state);
    case Event::kFinish:
      if (!client) return keep(state, Verdict::kCloseConnection, "a client does not finish streams");
      return accept(State::kClosed);
  }
  return keep(state, Verdict::kCloseConnection, "unknown event");
}

bool can_send_messages(State state) noexcept {
  return state == State::kOpen || state == State::kHalfClosedRemote;
}

bool can_receive_messages(State state) noexcept {
  return state == State::kOpen || state == State::kHalfClosedLocal;
}

const char* to_string(State state) noexcept {
  switch (state) {
    case State::kIdle: return "idle";
    case State::kOpen: return "open";
    case State::kHalfClosedLocal: return "half_closed_local";
    case State::kHalfClosedRemote: return "half_closed_remote";
    case State::kClosed: return "closed";
  }
  return "?";
}

const char* to_string(Event event) noexcept {
  switch (event) {
    case Event::kOpen: return "open";
    case Event::kMessage: return "message";
    case Event::kHalfClose: return "half_close";
    case Event::kCancel: return "cancel";
    case Event::kWindow: return "window";
    case Event::kFinish: return "finish";
  }
  return "?";
}

const char* to_string(Role role) noexcept { return role == Role::kClient ? "client" : "server"; }

}  // namespace tern::stream
