// tern/json_call.h - generic invocation with JSON (DESIGN §8): call any
// method of a referenced service without its compiled interface, arguments
// and result as JSON text. What `tern call Calculator.add '[1,2]'` does.
//
//   auto ref = client.reference("Calculator", "direct://127.0.0.1:20880", opts).value();
//   tern::Result<std::string> r = tern::call_json(*ref, "add", "[1,2]");   // "3"
//
// The request always travels as JSON (serialization id 2), whatever
// ReferenceOptions::serialization says, so the provider decodes it with
// JsonCodec and answers in JSON. `json_args` is the JSON array of the
// arguments in order; a method with one parameter also takes that
// parameter's JSON object on its own (a protobuf request message:
// {"text":"hi"}). The result is the provider's JSON text (null for void).
//
// Statuses: those of Reference::invoke (UNAVAILABLE, DEADLINE_EXCEEDED, ...)
// and the provider's: INVALID_ARGUMENT for malformed JSON or arguments that
// do not match the method ("argument 2 of 2: expected an integer, got
// string"), UNIMPLEMENTED for an unknown method. The body is sent as given:
// the caller need not validate it.
//
// The client's filters (ClientOptions::filters) run as for a typed call, so
// e.g. a TokenAuthClientFilter adds its token; a filter's refusal is
// returned without sending anything. Attachments propagated from a request
// being served on this thread are carried as well.
//
// Blocks the calling thread until the call completes (at most `timeout`;
// 0 = the reference's timeout). On one of the client's IO threads it fails
// at once with FAILED_PRECONDITION (it would wait for its own loop).
// Thread safety: as Reference (any thread).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "tern/reference.h"
#include "tern/result.h"
#include "tern/serialization/json_codec.h"

namespace tern {

inline Result<std::string> call_json(Reference& ref, std::string_view method, std::string_view json_args,
                                     std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
  if (ref.on_client_io_thread()) {  // it would wait for its own loop (tern/proxy.h)
    return Status(StatusCode::kFailedPrecondition,
                  "sync call of " + std::string(method) + " on a client IO thread would wait for its own loop");
  }
  protocol::FrameBuilder b(protocol::FrameType::kRequest, 0);
  if (Status s = ref.new_request(method, /*oneway=*/false, /*options=*/nullptr, &b); !s.is_ok()) return s;
  b.header().serialization = serialization::JsonCodec::kId;
  b.append_body(json_args);
  struct State {
    std::atomic<std::uint32_t> done{0};
    CallResult result;
  };
  auto st = std::make_shared<State>();
  ref.invoke(method, b.finish(), timeout, [st](CallResult&& r) {
    st->result = std::move(r);
    st->done.store(1, std::memory_order_release);
    st->done.notify_one();
  });
  st->done.wait(0, std::memory_order_acquire);
  if (!st->result.status.is_ok()) return st->result.status;
  return std::string(st->result.body());
}

}  // namespace tern
