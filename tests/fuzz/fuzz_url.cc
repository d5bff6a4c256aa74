// Fuzz target: the URL parser (tern/url.h). Registries use Url::to_string()
// as a provider's identity, so printing must be canonical and parsing must
// accept what printing produces. Invariants, for any input:
//   - when Url::parse succeeds: parse(to_string()) succeeds, equals the first
//     parse, and prints the same text again (to_string is a fixed point);
//   - when parse_host_port succeeds, it round-trips through HostPort::to_string;
//   - url_decode(url_encode(x)) == x for any bytes;
//   - no parse throws (libFuzzer reports an escaping exception as a crash).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "tern/url.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto url = tern::Url::parse(in);
  if (url.has_value()) {
    std::string text = url->to_string();
    auto again = tern::Url::parse(text);
    if (!again.has_value()) {
      std::fprintf(stderr, "printed \"%s\" does not parse: %s\n", text.c_str(), again.status().message().c_str());
    }
    FUZZ_CHECK(again.has_value(), "to_string() of a parsed URL does not parse");
    FUZZ_CHECK(*again == *url, "parse(to_string(u)) != u");
    FUZZ_CHECK(again->to_string() == text, "to_string() is not canonical");
    for (const auto& [k, v] : url->params()) {
      (void)url->int_param(k, 0);
      (void)url->bool_param(k, false);
    }
    (void)url->address();
  } else {
    FUZZ_CHECK(url.status().code() == tern::StatusCode::kInvalidArgument, "parse error is not INVALID_ARGUMENT");
  }

  auto hp = tern::parse_host_port(in);
  if (hp.has_value()) {
    auto again = tern::parse_host_port(hp->to_string());
    FUZZ_CHECK(again.has_value() && *again == *hp, "parse_host_port(to_string(hp)) != hp");
  }

  auto decoded = tern::url_decode(in);
  if (decoded.has_value()) FUZZ_CHECK(decoded->size() <= in.size(), "decoding grew the text");
  auto round = tern::url_decode(tern::url_encode(in));
  FUZZ_CHECK(round.has_value() && *round == in, "url_decode(url_encode(x)) != x");
  return 0;
}
