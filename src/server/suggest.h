// src/server/suggest.h - "did you mean" for unknown service and method names
// (internal). Only the error path uses it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tern::server_impl {

// The candidate closest to `wanted` by edit distance (Levenshtein: insert,
// delete, substitute, each 1; a difference of letter case alone costs 0.5),
// when it is close enough to be a typo: at most 2 edits and at most a third
// of the longer name, or equal but for letter case. Empty when none is, when `wanted` is empty or longer
// than 256 bytes (hostile input costs nothing), or on a tie between two
// candidates. Pure; thread-safe.
std::string nearest_name(std::string_view wanted, const std::vector<std::string_view>& candidates);

// " (did you mean 'x'?)" for nearest_name(), or "" when there is none.
std::string did_you_mean(std::string_view wanted, const std::vector<std::string_view>& candidates);

}  // namespace tern::server_impl
