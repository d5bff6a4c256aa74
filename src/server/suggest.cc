// "Did you mean": see suggest.h.
#include "server/suggest.h"

#include <algorithm>
#include <cctype>

namespace tern::server_impl {
namespace {

// Edit distance in half steps (a case-only difference is 1, any other edit 2).
int half_distance(std::string_view a, std::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(2 * j);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(2 * i);
    for (std::size_t j = 1; j <= b.size(); ++j) {
      unsigned char x = static_cast<unsigned char>(a[i - 1]), y = static_cast<unsigned char>(b[j - 1]);
      int sub = x == y ? 0 : (std::tolower(x) == std::tolower(y) ? 1 : 2);
      cur[j] = std::min({prev[j] + 2, cur[j - 1] + 2, prev[j - 1] + sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string nearest_name(std::string_view wanted, const std::vector<std::string_view>& candidates) {
  if (wanted.empty() || wanted.size() > 256) return {};
  std::string_view best;
  int best_d = -1;
  bool tie = false;
  for (auto c : candidates) {
    if (c.empty() || c.size() > 256 || c == wanted) continue;
    int d = half_distance(wanted, c);
    // A typo: at most 2 edits and at most a third of the longer name.
    // Names equal but for letter case always qualify.
    int limit = static_cast<int>(std::min<std::size_t>(4, 2 * std::max(wanted.size(), c.size()) / 3));
    bool case_only = c.size() == wanted.size() && std::equal(c.begin(), c.end(), wanted.begin(), [](char x, char y) {
                       return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
                     });
    if (d > limit && !case_only) continue;
    if (best_d < 0 || d < best_d) {
      best = c;
      best_d = d;
      tie = false;
    } else if (d == best_d) {
      tie = true;
    }
  }
  if (best_d < 0 || tie) return {};
  return std::string(best);
}

std::string did_you_mean(std::string_view wanted, const std::vector<std::string_view>& candidates) {
  std::string n = nearest_name(wanted, candidates);
  return n.empty() ? std::string() : " (did you mean '" + n + "'?)";
}

}  // namespace tern::server_impl
