// Fuzz target: the metadata parser (for_each_meta / find_meta in
// tern/protocol/frame.h), which the server runs on every request to find
// service, method, version, group and the attachments.
//
// The input is the metadata section of a frame. Invariants:
//   - every entry lies inside the input, entries are contiguous and in order;
//   - when the whole input parses, re-encoding the entries with
//     FrameBuilder::add_meta gives back exactly the input;
//   - find_meta(key) is the value of the first entry with that key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_check.h"
#include "tern/protocol/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::protocol;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::pair<std::string_view, std::string_view>> entries;
  const char* expect = in.data();  // where the next entry's key length starts
  tern::Status s = for_each_meta(in, [&](std::string_view k, std::string_view v) {
    FUZZ_CHECK(k.data() == expect + 2, "key does not follow its length");
    FUZZ_CHECK(v.data() == k.data() + k.size() + 2, "value does not follow its length");
    FUZZ_CHECK(v.data() + v.size() <= in.data() + in.size(), "value runs past the metadata");
    expect = v.data() + v.size();
    entries.emplace_back(k, v);
  });
  if (s.is_ok()) {
    FUZZ_CHECK(expect == in.data() + in.size(), "parse stopped before the end without an error");
  } else {
    FUZZ_CHECK(s.code() == tern::StatusCode::kInvalidArgument, "metadata error is not INVALID_ARGUMENT");
    FUZZ_CHECK(expect < in.data() + in.size(), "error although every byte was consumed");
  }

  for (const auto& [k, v] : entries) {
    std::string_view found = find_meta(in, k);
    if (s.is_ok()) {
      std::string_view first;
      for (const auto& [k2, v2] : entries) {
        if (k2 == k) {
          first = v2;
          break;
        }
      }
      FUZZ_CHECK(found.data() == first.data() && found.size() == first.size(), "find_meta is not the first match");
    }
  }

  if (s.is_ok() && in.size() <= kDefaultMaxMeta) {
    FrameBuilder b(FrameType::kRequest, 1);
    for (const auto& [k, v] : entries) FUZZ_CHECK(b.add_meta(k, v), "add_meta refused a parsed entry");
    b.begin_body();
    std::string frame = b.finish();
    FUZZ_CHECK(std::string_view(frame).substr(kHeaderSize) == in, "metadata does not re-encode to the input");
  }
  return 0;
}
