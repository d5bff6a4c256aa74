// The argument fuzzers' harness (fuzz_{msgpack,json,protobuf}_args.cc): the
// input is a request body; it is decoded for every method of the fuzz
// contracts (fuzz_services.h) through the code the provider runs:
//
//   1. the method handler Server::expose installs (detail::make_method_handler:
//      with_method_codec picks the codec, decode_args, the call of the
//      implementation), on a oneway ServerCall with no connection, so the
//      handler neither answers nor needs a socket;
//   2. the consumer's decoding of a result (Codec::decode_value<R>, as the
//      proxy does with a response body);
//   3. for msgpack and json, when the arguments decode: re-encoding them with
//      encode_args must decode again and re-encode to the same bytes (the
//      encoding of decoded values is stable; protobuf maps have no canonical
//      order, so messages are not compared).
//
// Decoding must never throw (an escaping exception is a crash to libFuzzer),
// never crash, and report malformed input as INVALID_ARGUMENT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <google/protobuf/stubs/logging.h>

#include "fuzz_check.h"
#include "fuzz_services.h"
#include "tern/server.h"

namespace fuzzh {

struct StringWriter {
  std::string s;
  void write(const char* p, std::size_t n) { s.append(p, n); }
};

template <typename Codec, typename Tuple>
std::string encode_tuple(const Tuple& t) {
  StringWriter w;
  std::apply([&](const auto&... a) { Codec::encode_args(w, a...); }, t);
  return std::move(w.s);
}

template <typename Codec, typename Tuple>
struct Decode;
template <typename Codec, typename... A>
struct Decode<Codec, std::tuple<A...>> {
  static auto run(std::string_view b) { return Codec::template decode_args<A...>(b); }
};

template <auto M, typename Impl>
void fuzz_method(std::uint8_t id, std::string_view body, const std::shared_ptr<Impl>& impl) {
  using Args = tern::method_args_t<M>;
  using Value = tern::method_result_t<M>;
  static const tern::MethodHandler handler = tern::detail::make_method_handler<M>(impl);

  // 1. The provider's path.
  tern::protocol::Frame frame;
  frame.header.type = tern::protocol::FrameType::kOneway;
  frame.header.serialization = id;
  frame.header.body_len = static_cast<std::uint32_t>(body.size());
  frame.payload.assign(body);
  tern::ServerCall call(nullptr, std::move(frame));
  handler(call);

  // 2. The consumer's decoding of a result.
  if constexpr (!std::is_void_v<Value>) {
    tern::Status s = tern::serialization::with_codec(id, [&]<typename Codec>() -> tern::Status {
      auto v = Codec::template decode_value<Value>(body);
      return v.status();
    });
    FUZZ_CHECK(s.is_ok() || s.code() == tern::StatusCode::kInvalidArgument, "result error is not INVALID_ARGUMENT");
  }

  // 3. Stable re-encoding of decoded arguments.
  if constexpr (!tern::serialization::protobuf_method_v<Value, Args>) {
    tern::Status s = tern::serialization::with_method_codec<Value, Args>(id, "m", [&]<typename Codec>() -> tern::Status {
      auto args = Decode<Codec, Args>::run(body);
      if (!args.has_value()) {
        FUZZ_CHECK(args.status().code() == tern::StatusCode::kInvalidArgument, "argument error is not INVALID_ARGUMENT");
        return tern::Status();
      }
      std::string once = encode_tuple<Codec>(*args);
      auto again = Decode<Codec, Args>::run(once);
      if (!again.has_value()) {
        std::fprintf(stderr, "re-encoded arguments (%zu bytes) do not decode: %s\n", once.size(),
                     again.status().message().c_str());
      }
      FUZZ_CHECK(again.has_value(), "encode_args(decode_args(x)) does not decode");
      std::string twice = encode_tuple<Codec>(*again);
      FUZZ_CHECK(once == twice, "encode_args(decode_args(...)) is not stable");
      return tern::Status();
    });
    (void)s;
  }
}

template <typename Interface, typename Impl, std::size_t... I>
void fuzz_service(std::uint8_t id, std::string_view body, const std::shared_ptr<Impl>& impl,
                  std::index_sequence<I...>) {
  constexpr auto methods = tern::ServiceTraits<Interface>::methods();
  auto one = [&]<auto M>(const tern::detail::MethodEntry<M>&) { fuzz_method<M>(id, body, impl); };
  (one(std::get<I>(methods)), ...);
}

template <typename Interface, typename Impl>
void fuzz_service(std::uint8_t id, std::string_view body) {
  // protobuf logs every string field with invalid UTF-8 it parses; silence it
  // (the parse still fails and is checked).
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  static const auto impl = std::make_shared<Impl>();
  constexpr std::size_t n = std::tuple_size_v<decltype(tern::ServiceTraits<Interface>::methods())>;
  fuzz_service<Interface>(id, body, impl, std::make_index_sequence<n>{});
}

}  // namespace fuzzh
