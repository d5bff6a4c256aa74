// src/cluster/router/route_condition.cc - see route_condition.h.
#include "cluster/router/route_condition.h"

#include <cctype>
#include <string>

namespace tern::cluster::router {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
}

bool is_value_char(char c) {
  if (is_space(c) || static_cast<unsigned char>(c) < 0x20) return false;
  switch (c) {
    case ',': case '&': case '=': case '!': case ';': case '@': case '[': case ']':
      return false;
    default:
      return true;
  }
}

// A hand-written scanner over the rule text: every error names the position
// and the token found there.
class Parser {
 public:
  Parser(std::string_view router, std::string_view text) : router_(router), text_(text) {}

  Result<ConditionRule> parse(bool allow_share) {
    ConditionRule rule;
    skip_space();
    if (!at("=>")) {
      if (Status s = conditions(/*left=*/true, rule.when); !s.is_ok()) return s;
    }
    skip_space();
    if (!at("=>")) return error("expected '=>' or '&'");
    pos_ += 2;
    skip_space();
    if (!at_end() && peek() != '@' && peek() != ';') {
      if (Status s = conditions(/*left=*/false, rule.then); !s.is_ok()) return s;
    }
    skip_space();
    if (allow_share) {
      if (at_end() || peek() != '@') return error("expected '@ <share>%' (the weighted router's share)");
      if (rule.then.empty()) return error("a weighted rule needs providers to send its share to (a right side)");
      ++pos_;
      skip_space();
      auto share = parse_share();
      if (!share) return share.status();
      rule.share_ppm = *share;
      skip_space();
    } else if (!at_end() && peek() == '@') {
      return error("a share ('@ N%') is only valid in a weighted rule");
    }
    if (!at_end() && peek() == ';') {
      ++pos_;
      if (Status s = options(rule); !s.is_ok()) return s;
    }
    skip_space();
    if (!at_end()) return error(rule.then.empty() ? "expected a condition, '@' or ';'" : "expected '&', ',' or ';'");
    return rule;
  }

 private:
  Status conditions(bool left, std::vector<Condition>& out) {
    for (;;) {
      skip_space();
      Condition c;
      if (Status s = key(left, c); !s.is_ok()) return s;
      skip_space();
      if (at("!=")) {
        c.negate = true;
        pos_ += 2;
      } else if (!at("=>") && !at_end() && peek() == '=') {
        pos_ += 1;
      } else {
        return error("expected '=' or '!=' after '" + c.name + "'");
      }
      for (;;) {
        skip_space();
        std::size_t start = pos_;
        while (!at_end() && is_value_char(peek())) ++pos_;
        if (pos_ == start) return error("expected a value");
        c.patterns.emplace_back(text_.substr(start, pos_ - start));
        skip_space();
        if (at_end() || peek() != ',') break;
        ++pos_;
      }
      out.push_back(std::move(c));
      skip_space();
      if (at_end() || peek() != '&') return Status();
      ++pos_;
    }
  }

  Status key(bool left, Condition& c) {
    std::size_t start = pos_;
    while (!at_end() && is_ident_char(peek())) ++pos_;
    if (pos_ == start) return error(left ? "expected a condition on method, service, application, host or attachment[key]"
                                         : "expected a condition on a provider URL parameter, host, port or address");
    std::string_view word = text_.substr(start, pos_ - start);
    c.name = std::string(word);
    if (word == "attachment") {
      if (!left) return error_at(start, word, "attachment[...] is only valid on the left side (the call)");
      if (at_end() || peek() != '[') return error("expected '[' after 'attachment'");
      ++pos_;
      std::size_t k = pos_;
      while (!at_end() && peek() != ']' && !is_space(peek())) ++pos_;
      if (pos_ == k) return error("expected an attachment key");
      c.name = std::string(text_.substr(k, pos_ - k));
      skip_space();
      if (at_end() || peek() != ']') return error("expected ']'");
      ++pos_;
      c.key = ConditionKey::kAttachment;
      return Status();
    }
    if (left) {
      if (word == "method") c.key = ConditionKey::kMethod;
      else if (word == "service") c.key = ConditionKey::kService;
      else if (word == "application") c.key = ConditionKey::kApplication;
      else if (word == "host") c.key = ConditionKey::kHost;
      else return error_at(start, word, "unknown key on the left side (method, service, application, host or attachment[key])");
      return Status();
    }
    if (word == "host") c.key = ConditionKey::kProviderHost;
    else if (word == "port") c.key = ConditionKey::kProviderPort;
    else if (word == "address") c.key = ConditionKey::kProviderAddress;
    else c.key = ConditionKey::kProviderParam;
    return Status();
  }

  Result<std::uint32_t> parse_share() {
    std::size_t start = pos_;
    std::uint64_t whole = 0;
    std::uint64_t frac = 0;
    int frac_digits = 0;
    bool digits = false;
    while (!at_end() && std::isdigit(static_cast<unsigned char>(peek())) != 0) {
      whole = whole * 10 + static_cast<std::uint64_t>(peek() - '0');
      if (whole > 100) return error_at(start, token_at(start), "the share must be between 0 and 100");
      digits = true;
      ++pos_;
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      while (!at_end() && std::isdigit(static_cast<unsigned char>(peek())) != 0) {
        if (++frac_digits > 4) return error("at most four decimals in a share");
        frac = frac * 10 + static_cast<std::uint64_t>(peek() - '0');
        digits = true;
        ++pos_;
      }
    }
    if (!digits) return error("expected a share in percent (e.g. 5%)");
    while (frac_digits < 4) {
      frac *= 10;
      ++frac_digits;
    }
    std::uint64_t ppm = whole * 10'000 + frac;  // 1% = 10'000 ppm
    if (ppm > 1'000'000) return error_at(start, token_at(start), "the share must be between 0 and 100");
    skip_space();
    if (at_end() || peek() != '%') return error("expected '%' after the share");
    ++pos_;
    return static_cast<std::uint32_t>(ppm);
  }

  Status options(ConditionRule& rule) {
    for (;;) {
      skip_space();
      std::size_t start = pos_;
      while (!at_end() && is_ident_char(peek())) ++pos_;
      std::string_view name = text_.substr(start, pos_ - start);
      if (name != "force") return error_at(start, token_at(start), "unknown option (known: force)");
      skip_space();
      bool value = true;
      if (!at_end() && peek() == '=') {
        ++pos_;
        skip_space();
        std::size_t v = pos_;
        while (!at_end() && is_ident_char(peek())) ++pos_;
        std::string_view word = text_.substr(v, pos_ - v);
        if (word == "true") value = true;
        else if (word == "false") value = false;
        else return error_at(v, token_at(v), "expected true or false");
      }
      rule.force = value;
      skip_space();
      if (at_end() || peek() != ',') return Status();
      ++pos_;
    }
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  bool at(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }
  void skip_space() {
    while (!at_end() && is_space(peek())) ++pos_;
  }

  // The token starting at `p`: "=>", "!=", a run of value characters, one
  // other character, or "end".
  std::string token_at(std::size_t p) const {
    if (p >= text_.size()) return "end";
    std::string_view rest = text_.substr(p);
    if (rest.starts_with("=>") || rest.starts_with("!=")) return std::string(rest.substr(0, 2));
    std::size_t n = 0;
    while (n < rest.size() && is_value_char(rest[n])) ++n;
    return std::string(rest.substr(0, n == 0 ? 1 : n));
  }

  Status error(const std::string& what) const { return error_at(pos_, token_at(pos_), what); }
  Status error_at(std::size_t p, std::string_view token, const std::string& what) const {
    std::string quoted = token == "end" ? std::string("end") : "'" + std::string(token) + "'";
    return Status(StatusCode::kInvalidArgument, std::string(router_) + " rule '" + std::string(text_) +
                                                    "': at position " + std::to_string(p) + " (" + quoted +
                                                    "): " + what);
  }

  std::string_view router_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

bool matches(const Condition& c, std::optional<std::string_view> value) {
  if (!value) return c.negate;  // an absent value equals nothing
  bool any = false;
  for (const auto& p : c.patterns) {
    if (glob_match(p, *value)) {
      any = true;
      break;
    }
  }
  return c.negate ? !any : any;
}

}  // namespace

Result<ConditionRule> parse_condition_rule(std::string_view router, std::string_view text, bool allow_share) {
  return Parser(router, text).parse(allow_share);
}

bool glob_match(std::string_view pattern, std::string_view value) noexcept {
  // Greedy match with backtracking to the last '*' (linear in practice).
  std::size_t p = 0, v = 0, star = std::string_view::npos, mark = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = v;
    } else if (p < pattern.size() && pattern[p] == value[v]) {
      ++p;
      ++v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      v = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool matches_call(const std::vector<Condition>& when, const RouteContext& context) {
  for (const auto& c : when) {
    std::optional<std::string_view> value;
    switch (c.key) {
      case ConditionKey::kMethod: value = context.method; break;
      case ConditionKey::kService: value = context.service; break;
      case ConditionKey::kApplication: value = context.application; break;
      case ConditionKey::kHost: value = context.host; break;
      case ConditionKey::kAttachment: value = context.attachment(c.name); break;
      default: break;  // provider keys never appear on the left side
    }
    if (!matches(c, value)) return false;
  }
  return true;
}

bool matches_provider(const std::vector<Condition>& then, const Invoker& provider) {
  const Url& url = provider.url();
  for (const auto& c : then) {
    std::optional<std::string_view> value;
    std::string scratch;
    switch (c.key) {
      case ConditionKey::kProviderHost:
        value = url.hosts().empty() ? std::string_view() : std::string_view(url.hosts().front().host);
        break;
      case ConditionKey::kProviderPort:
        scratch = url.hosts().empty() ? std::string("0") : std::to_string(url.hosts().front().port);
        value = scratch;
        break;
      case ConditionKey::kProviderAddress:
        scratch = url.address();
        value = scratch;
        break;
      case ConditionKey::kProviderParam: {
        auto it = url.params().find(c.name);
        if (it != url.params().end()) value = it->second;
        break;
      }
      default: break;  // call keys never appear on the right side
    }
    if (!matches(c, value)) return false;
  }
  return true;
}

bool uses_attachments(const std::vector<Condition>& conditions) noexcept {
  for (const auto& c : conditions) {
    if (c.key == ConditionKey::kAttachment) return true;
  }
  return false;
}

}  // namespace tern::cluster::router
