// The per-stream state machine of Tern's stream core (shared/DESIGN.md §12).
//
// One stream is one call: unary, server-streaming, client-streaming or
// bidirectional. Both wires (the Tern protocol's stream frames and HTTP/2 for
// gRPC) drive the same machine through the same six call events, so every
// rule below holds on either wire. It follows HTTP/2's stream states
// (RFC 9113 §5.1) with gRPC's split of roles (PROTOCOL-HTTP2.md): the consumer
// (client) opens and half-closes, the provider (server) ends the stream with a
// final status (its "finish", gRPC's trailers), and either side may cancel
// (RST_STREAM).
//
//                 open (client sends / server receives)
//        idle ──────────────────────────────────────────> open
//                                                          │
//          client sends half_close = local half-close      │ server receives half_close
//          (client: half_closed_local)                     │ (server: half_closed_remote)
//                                                          v
//                        finish or cancel, either side ─> closed
//
// This file is a pure function of (role, state, event, direction): no
// allocation, no clock, no I/O. StreamSession (stream_core.h) applies it.
//
// Thread safety: the functions are pure and may be called from any thread.
#pragma once

#include <cstdint>

namespace tern::stream {

// Which end of the connection this machine runs on. The client (consumer)
// opens streams; the server (provider) accepts them and sends the final status.
enum class Role : std::uint8_t { kClient, kServer };

// HTTP/2's stream states, named for this end. half_closed_local: this end
// sent its last message; half_closed_remote: the peer did.
enum class State : std::uint8_t { kIdle, kOpen, kHalfClosedLocal, kHalfClosedRemote, kClosed };

// The six call events both codecs emit and accept (shared/DESIGN.md §12).
//   open       the first event of a stream: method, metadata, deadline
//   message    one serialized message
//   half_close the sender will send no more messages ("writes done")
//   cancel     the sender abandons the stream (RST_STREAM)
//   window     the sender grants flow-control credit (window.h)
//   finish     the server's final status and trailing metadata
enum class Event : std::uint8_t { kOpen, kMessage, kHalfClose, kCancel, kWindow, kFinish };

// What the receiver of an illegal event does. Modelled on HTTP/2's stream
// errors and connection errors (RFC 9113 §5.4):
//   kAccept           legal: apply it and move to `next`.
//   kIgnore           a late event for a stream this end already closed
//                     (a message racing a cancel): drop it silently.
//   kResetStream      the peer broke this stream's rules (a message after its
//                     half-close): cancel that stream with INTERNAL, keep the
//                     connection and every other stream.
//   kCloseConnection  the peer broke the connection's rules (a client that
//                     sends finish, an event for a stream never opened): the
//                     framing can no longer be trusted, close the connection.
//   kRejectLocal      (local events only) the application misused the API,
//                     for example write() after writes_done(): the call fails
//                     with FAILED_PRECONDITION and nothing is sent.
enum class Verdict : std::uint8_t { kAccept, kIgnore, kResetStream, kCloseConnection, kRejectLocal };

struct Transition {
  State next;       // the state after the event (unchanged unless kAccept)
  Verdict verdict;  // what to do
  const char* why;  // a static, human-readable reason when verdict != kAccept
};

// The transition for an event this end sends. kRejectLocal or kIgnore
// (sending on a closed stream, e.g. a write that raced the peer's cancel).
Transition on_send(Role role, State state, Event event) noexcept;

// The transition for an event received from the peer.
Transition on_receive(Role role, State state, Event event) noexcept;

// Whether this end may still send messages / expects more messages from the peer.
bool can_send_messages(State state) noexcept;
bool can_receive_messages(State state) noexcept;

const char* to_string(State state) noexcept;
const char* to_string(Event event) noexcept;
const char* to_string(Role role) noexcept;

}  // namespace tern::stream
