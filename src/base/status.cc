// Status names and printing.
#include "tern/status.h"

#include <array>

namespace tern {
namespace {
constexpr std::array<std::string_view, 17> kNames = {
    "OK",        "CANCELLED",          "UNKNOWN",             "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",     "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",         "DATA_LOSS",        "UNAUTHENTICATED"};
}  // namespace

std::string_view status_code_name(StatusCode code) noexcept {
  auto i = static_cast<std::size_t>(code);
  if (i < kNames.size()) return kNames[i];
  return "CODE(?)";
}

bool parse_status_code(std::string_view name, StatusCode* out) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      *out = static_cast<StatusCode>(i);
      return true;
    }
  }
  return false;
}

std::string Status::to_string() const {
  std::string s(status_code_name(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.to_string(); }
std::ostream& operator<<(std::ostream& os, StatusCode c) { return os << status_code_name(c); }

}  // namespace tern
