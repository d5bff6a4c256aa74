// The stream state machine (src/stream/state_machine.h): every rule of
// docs/protocol.md §12's table, for both roles, as a matrix.
#include "stream/state_machine.h"

#include <gtest/gtest.h>

#include <string>

namespace tern::stream {
namespace {

constexpr State kStates[] = {State::kIdle, State::kOpen, State::kHalfClosedLocal, State::kHalfClosedRemote,
                             State::kClosed};
constexpr Event kEvents[] = {Event::kOpen, Event::kMessage, Event::kHalfClose,
                             Event::kCancel, Event::kWindow, Event::kFinish};

// One letter per verdict, the next state after '>' when it changes.
std::string cell(Transition t, State from) {
  std::string s;
  switch (t.verdict) {
    case Verdict::kAccept: s = "A"; break;
    case Verdict::kIgnore: s = "I"; break;
    case Verdict::kResetStream: s = "R"; break;
    case Verdict::kCloseConnection: s = "C"; break;
    case Verdict::kRejectLocal: s = "L"; break;
  }
  if (t.verdict == Verdict::kAccept && t.next != from) s += std::string(">") + to_string(t.next);
  if (t.verdict != Verdict::kAccept) {
    EXPECT_EQ(t.next, from) << "a refused event must not change the state";
    EXPECT_NE(std::string(t.why), "") << "a refused event needs a reason";
  }
  return s;
}

std::string row(Role role, State state, bool receive) {
  std::string out;
  for (Event e : kEvents) {
    if (!out.empty()) out += ' ';
    out += cell(receive ? on_receive(role, state, e) : on_send(role, state, e), state);
  }
  return out;
}

// Columns: open message half_close cancel window finish.
TEST(StreamStateMachine, ServerReceives) {
  EXPECT_EQ(row(Role::kServer, State::kIdle, true), "A>open C C C C C");
  EXPECT_EQ(row(Role::kServer, State::kOpen, true), "C A A>half_closed_remote A>closed A C");
  EXPECT_EQ(row(Role::kServer, State::kHalfClosedRemote, true), "C R R A>closed A C");
  EXPECT_EQ(row(Role::kServer, State::kClosed, true), "C I I I I I");
}

TEST(StreamStateMachine, ClientReceives) {
  EXPECT_EQ(row(Role::kClient, State::kIdle, true), "C C C C C C");
  EXPECT_EQ(row(Role::kClient, State::kOpen, true), "C A C A>closed A A>closed");
  EXPECT_EQ(row(Role::kClient, State::kHalfClosedLocal, true), "C A C A>closed A A>closed");
  EXPECT_EQ(row(Role::kClient, State::kClosed, true), "C I I I I I");
}

TEST(StreamStateMachine, ServerSends) {
  EXPECT_EQ(row(Role::kServer, State::kIdle, false), "L L L L L L");
  EXPECT_EQ(row(Role::kServer, State::kOpen, false), "L A L A>closed A A>closed");
  EXPECT_EQ(row(Role::kServer, State::kHalfClosedRemote, false), "L A L A>closed A A>closed");
  EXPECT_EQ(row(Role::kServer, State::kClosed, false), "I I I I I I");
}

TEST(StreamStateMachine, ClientSends) {
  EXPECT_EQ(row(Role::kClient, State::kIdle, false), "A>open L L L L L");
  EXPECT_EQ(row(Role::kClient, State::kOpen, false), "L A A>half_closed_local A>closed A L");
  EXPECT_EQ(row(Role::kClient, State::kHalfClosedLocal, false), "L L L A>closed A L");
  EXPECT_EQ(row(Role::kClient, State::kClosed, false), "I I I I I I");
}

TEST(StreamStateMachine, ReasonsNameTheRule) {
  EXPECT_STREQ(on_receive(Role::kServer, State::kClosed, Event::kOpen).why, "stream id reused");
  EXPECT_STREQ(on_receive(Role::kServer, State::kHalfClosedRemote, Event::kMessage).why, "message after half-close");
  EXPECT_STREQ(on_send(Role::kClient, State::kHalfClosedLocal, Event::kMessage).why, "write after writes_done");
  EXPECT_STREQ(on_receive(Role::kServer, State::kIdle, Event::kMessage).why,
               "event for a stream that was never opened");
}

TEST(StreamStateMachine, MessageDirections) {
  EXPECT_TRUE(can_send_messages(State::kOpen));
  EXPECT_TRUE(can_send_messages(State::kHalfClosedRemote));
  EXPECT_FALSE(can_send_messages(State::kHalfClosedLocal));
  EXPECT_FALSE(can_send_messages(State::kClosed));
  EXPECT_TRUE(can_receive_messages(State::kHalfClosedLocal));
  EXPECT_FALSE(can_receive_messages(State::kHalfClosedRemote));
  EXPECT_FALSE(can_receive_messages(State::kIdle));
  for (State s : kStates) EXPECT_STRNE(to_string(s), "?");
}

}  // namespace
}  // namespace tern::stream
