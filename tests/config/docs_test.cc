// docs/configuration.md and the parsers cannot drift apart: every key the
// table documents is accepted, with its documented default being the real
// default; every key a parser accepts is documented; the documented types
// behave as documented; the file's YAML examples load.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tern/config.h"

#ifndef TERN_CONFIGURATION_DOC
#error "TERN_CONFIGURATION_DOC (path of docs/configuration.md) must be defined by the build"
#endif

namespace {

struct Row {
  int line = 0;
  std::string section, key, type, unit, def, meaning;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ')) s.pop_back();
  return s;
}

// `x` -> x; "(empty)" -> ""; anything else is returned as is, flagged.
bool unquote(const std::string& cell, std::string* out) {
  if (cell == "(empty)") {
    out->clear();
    return true;
  }
  if (cell.size() >= 2 && cell.front() == '`' && cell.back() == '`') {
    *out = cell.substr(1, cell.size() - 2);
    return true;
  }
  return false;
}

std::string read_doc() {
  std::ifstream in(TERN_CONFIGURATION_DOC);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::set<std::string> kSections = {"reference", "server", "service", "registry", "client"};

// Rows of the options table: "| section | `key` | type | unit | default | meaning |".
std::vector<Row> rows(const std::string& doc) {
  std::vector<Row> out;
  std::istringstream in(doc);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::size_t pos = 1;
    while (pos < line.size()) {
      std::size_t bar = line.find(" |", pos);
      if (bar == std::string::npos) break;
      cells.push_back(trim(line.substr(pos, bar - pos)));
      pos = bar + 2;
    }
    if (cells.size() != 6 || !kSections.count(cells[0])) continue;
    Row r;
    r.line = n;
    r.section = cells[0];
    r.type = cells[2];
    r.unit = cells[3];
    r.meaning = cells[5];
    EXPECT_TRUE(unquote(cells[1], &r.key)) << "line " << n << ": key cell must be `key`: " << cells[1];
    EXPECT_TRUE(unquote(cells[4], &r.def)) << "line " << n << ": default cell must be `value` or (empty): " << cells[4];
    out.push_back(r);
  }
  return out;
}

template <typename O>
void check_section(const std::vector<Row>& all, const std::string& section) {
  SCOPED_TRACE("section " + section);
  std::set<std::string> documented;
  for (const Row& r : all) {
    if (r.section != section) continue;
    SCOPED_TRACE("docs/configuration.md:" + std::to_string(r.line) + " key " + r.key);
    EXPECT_TRUE(documented.insert(r.key).second) << "documented twice";
    EXPECT_FALSE(r.meaning.empty());
    // The parser accepts the key...
    const std::string key = r.key == "parameters.<name>" ? "parameters.zone" : r.key;
    auto actual = tern::param_value(O{}, key);
    ASSERT_TRUE(actual.ok()) << "documented but not accepted: " << actual.status();
    // ...its real default is the documented one...
    EXPECT_EQ(*actual, r.def) << "documented default differs from the struct's default";
    // ...and the documented default, written as a parameter, gives that value.
    O o;
    tern::Status s = tern::apply_param(o, key, r.def);
    if (r.key == "parameters.<name>") {
      EXPECT_TRUE(s.is_ok()) << s;
    } else {
      ASSERT_TRUE(s.is_ok()) << "documented default rejected: " << s;
      EXPECT_EQ(tern::param_value(o, key).value(), r.def);
    }
    // The documented type behaves as documented.
    if (r.type == "duration") {
      EXPECT_EQ(r.unit, "ms");
      O d;
      ASSERT_TRUE(tern::apply_param(d, key, "2s").is_ok());
      EXPECT_EQ(tern::param_value(d, key).value(), "2000");
      EXPECT_EQ(tern::apply_param(d, key, "two").code(), tern::StatusCode::kInvalidArgument);
    } else if (r.type == "integer") {
      O i;
      EXPECT_EQ(tern::apply_param(i, key, "x1").code(), tern::StatusCode::kInvalidArgument);
    } else if (r.type == "size") {
      EXPECT_EQ(r.unit, "bytes");
      O i;
      EXPECT_EQ(tern::apply_param(i, key, "1k").code(), tern::StatusCode::kInvalidArgument);
    } else if (r.type == "bool") {
      O b;
      EXPECT_EQ(tern::apply_param(b, key, "yes").code(), tern::StatusCode::kInvalidArgument);
      ASSERT_TRUE(tern::apply_param(b, key, "true").is_ok());
      EXPECT_EQ(tern::param_value(b, key).value(), "true");
    } else if (r.type == "rate") {
      O q;
      ASSERT_TRUE(tern::apply_param(q, key, "25%").is_ok());
      EXPECT_EQ(tern::param_value(q, key).value(), "0.25");
      EXPECT_EQ(tern::apply_param(q, key, "1.5").code(), tern::StatusCode::kInvalidArgument);
      EXPECT_EQ(tern::apply_param(q, key, "0").code(), tern::StatusCode::kInvalidArgument);
    } else if (r.type == "name") {
      O n;
      EXPECT_EQ(tern::apply_param(n, key, "no-such-name").code(), tern::StatusCode::kInvalidArgument);
    } else if (r.type == "routes") {
      O q;
      ASSERT_TRUE(tern::apply_param(q, key, "tag:|condition:method = get => version = 2.0").is_ok());
      EXPECT_EQ(tern::param_value(q, key).value(), "tag:|condition:method = get => version = 2.0");
      EXPECT_EQ(tern::apply_param(q, key, "no-such-router:x").code(), tern::StatusCode::kInvalidArgument);
      EXPECT_EQ(tern::apply_param(q, key, "condition:method = get").code(), tern::StatusCode::kInvalidArgument);
    } else {
      EXPECT_TRUE(r.type == "string" || r.type == "list" || r.type == "host:port") << "unknown type " << r.type;
    }
  }
  // Every key the parser accepts is documented.
  for (const std::string& key : tern::param_keys<O>()) {
    EXPECT_TRUE(documented.count(key)) << "accepted but not documented: " << key;
  }
  EXPECT_EQ(documented.size(), tern::param_keys<O>().size());
}

TEST(ConfigurationDoc, TableAndParsersAgree) {
  std::string doc = read_doc();
  ASSERT_FALSE(doc.empty()) << "cannot read " << TERN_CONFIGURATION_DOC;
  std::vector<Row> all = rows(doc);
  std::map<std::string, int> per_section;
  for (const Row& r : all) ++per_section[r.section];
  EXPECT_EQ(per_section.size(), kSections.size());
  check_section<tern::ReferenceOptions>(all, "reference");
  check_section<tern::ServerOptions>(all, "server");
  check_section<tern::ServiceOptions>(all, "service");
  check_section<tern::RegistryOptions>(all, "registry");
  check_section<tern::ClientOptions>(all, "client");
  // ChannelOptions' parser takes the client keys but io_threads.
  std::set<std::string> channel(tern::param_keys<tern::ChannelOptions>().begin(),
                                tern::param_keys<tern::ChannelOptions>().end());
  std::set<std::string> client(tern::param_keys<tern::ClientOptions>().begin(),
                               tern::param_keys<tern::ClientOptions>().end());
  client.erase("io_threads");
  EXPECT_EQ(channel, client);
}

// Every ```yaml block of the page is a valid configuration file.
TEST(ConfigurationDoc, YamlExamplesLoad) {
  std::string doc = read_doc();
  int blocks = 0;
  for (std::size_t pos = doc.find("```yaml\n"); pos != std::string::npos; pos = doc.find("```yaml\n", pos)) {
    pos += 8;
    std::size_t end = doc.find("```", pos);
    ASSERT_NE(end, std::string::npos);
    auto c = tern::Config::parse(doc.substr(pos, end - pos), "docs/configuration.md yaml block");
    EXPECT_TRUE(c.ok()) << c.status();
    ++blocks;
    pos = end + 3;
  }
  EXPECT_GE(blocks, 1);
}

}  // namespace
