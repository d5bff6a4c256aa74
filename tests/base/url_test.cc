// Tests of the URL model: canonical printing, round trips of every byte,
// hosts (IPv4, names, bracketed IPv6, lists), and INVALID_ARGUMENT on junk.
#include "tern/url.h"

#include <gtest/gtest.h>

#include <string>

namespace tern {
namespace {

Url must_parse(std::string_view text) {
  auto r = Url::parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status();
  return r.ok() ? *r : Url{};
}

void expect_round_trip(const Url& url) {
  std::string text = url.to_string();
  auto back = Url::parse(text);
  ASSERT_TRUE(back.ok()) << text << ": " << back.status();
  EXPECT_EQ(*back, url) << text;
  EXPECT_EQ(back->to_string(), text);
}

TEST(UrlTest, ParsesProviderUrl) {
  Url u = must_parse("tern://10.0.0.5:20880/Calculator?version=1.0&weight=200&methods=add,midpoint");
  EXPECT_EQ(u.scheme(), "tern");
  ASSERT_EQ(u.hosts().size(), 1u);
  EXPECT_EQ(u.hosts()[0], (HostPort{"10.0.0.5", 20880}));
  EXPECT_EQ(u.address(), "10.0.0.5:20880");
  EXPECT_EQ(u.path(), "Calculator");
  EXPECT_EQ(u.param("version"), "1.0");
  EXPECT_EQ(u.int_param("weight", 100), 200);
  EXPECT_EQ(u.param("methods"), "add,midpoint");
  EXPECT_EQ(u.param("missing", "dflt"), "dflt");
  // ',' is reserved, so the canonical form encodes it.
  EXPECT_EQ(u.to_string(), "tern://10.0.0.5:20880/Calculator?methods=add%2Cmidpoint&version=1.0&weight=200");
  expect_round_trip(u);
}

TEST(UrlTest, Ipv6HostRoundTrips) {
  Url u = must_parse("tern://[::1]:20880/Calculator?x=1");
  ASSERT_EQ(u.hosts().size(), 1u);
  EXPECT_EQ(u.hosts()[0].host, "::1");
  EXPECT_EQ(u.hosts()[0].port, 20880);
  EXPECT_TRUE(u.hosts()[0].is_ipv6());
  EXPECT_EQ(u.address(), "[::1]:20880");
  EXPECT_EQ(u.to_string(), "tern://[::1]:20880/Calculator?x=1");
  expect_round_trip(u);

  Url v = must_parse("tern://[2001:db8::ffff:1.2.3.4]/S");
  EXPECT_EQ(v.hosts()[0].host, "2001:db8::ffff:1.2.3.4");
  EXPECT_EQ(v.hosts()[0].port, 0);
  EXPECT_EQ(v.to_string(), "tern://[2001:db8::ffff:1.2.3.4]/S");
  expect_round_trip(v);
}

TEST(UrlTest, MultipleHosts) {
  Url u = must_parse("zookeeper://h1:2181,h2:2181");
  EXPECT_EQ(u.scheme(), "zookeeper");
  ASSERT_EQ(u.hosts().size(), 2u);
  EXPECT_EQ(u.hosts()[0], (HostPort{"h1", 2181}));
  EXPECT_EQ(u.hosts()[1], (HostPort{"h2", 2181}));
  EXPECT_EQ(u.path(), "");
  EXPECT_TRUE(u.params().empty());
  EXPECT_EQ(u.to_string(), "zookeeper://h1:2181,h2:2181");
  expect_round_trip(u);

  Url mixed = must_parse("direct://127.0.0.1:20880,[::1]:20881,localhost");
  ASSERT_EQ(mixed.hosts().size(), 3u);
  EXPECT_EQ(mixed.hosts()[1], (HostPort{"::1", 20881}));
  EXPECT_EQ(mixed.hosts()[2], (HostPort{"localhost", 0}));
  expect_round_trip(mixed);
}

TEST(UrlTest, ParametersWithSpecialCharactersRoundTrip) {
  Url u("tern", {{"127.0.0.1", 1}}, "Svc");
  u.set_param("amp", "a&b");
  u.set_param("eq", "k=v");
  u.set_param("hash", "#top");
  u.set_param("comma", "a,b,c");
  u.set_param("slash", "/a/b/");
  u.set_param("pct", "100%");
  u.set_param("space", "hello world");
  u.set_param("plus", "1+1");
  u.set_param("question", "why?");
  u.set_param("city", "Zürich");
  u.set_param("東京", "東京");
  u.set_param("k&=#", "v");
  u.set_param("empty", "");
  std::string text = u.to_string();
  // Nothing that the parser splits on survives literally in keys or values.
  std::string query = text.substr(text.find('?') + 1);
  EXPECT_EQ(text.find('#'), std::string::npos);
  EXPECT_EQ(text.find(' '), std::string::npos);
  EXPECT_EQ(query.find('/'), std::string::npos);
  EXPECT_EQ(query.find(','), std::string::npos);
  EXPECT_NE(text.find("city=Z%C3%BCrich"), std::string::npos) << text;
  EXPECT_NE(text.find("%E6%9D%B1%E4%BA%AC=%E6%9D%B1%E4%BA%AC"), std::string::npos) << text;
  expect_round_trip(u);
  auto back = Url::parse(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->param("amp"), "a&b");
  EXPECT_EQ(back->param("eq"), "k=v");
  EXPECT_EQ(back->param("hash"), "#top");
  EXPECT_EQ(back->param("pct"), "100%");
  EXPECT_EQ(back->param("space"), "hello world");
  EXPECT_EQ(back->param("plus"), "1+1");
  EXPECT_EQ(back->param("city"), "Zürich");
  EXPECT_EQ(back->param("東京"), "東京");
  EXPECT_EQ(back->param("k&=#"), "v");
  EXPECT_TRUE(back->has_param("empty"));
}

TEST(UrlTest, EveryByteRoundTripsInPathAndParams) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  Url u("tern", {{"h", 1}}, all);
  u.set_param(all, all);
  expect_round_trip(u);
  // Path with slashes and non-ASCII.
  Url p("tern", {{"h", 1}}, "pkg/Zürich Service?");
  EXPECT_EQ(p.to_string(), "tern://h:1/pkg/Z%C3%BCrich%20Service%3F");
  expect_round_trip(p);
}

TEST(UrlTest, CanonicalOrdering) {
  Url a = must_parse("tern://h:1/S?b=2&a=1&c=3");
  Url b = must_parse("tern://h:1/S?c=3&a=1&b=2");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.to_string(), "tern://h:1/S?a=1&b=2&c=3");
  EXPECT_EQ(a.to_string(), b.to_string());
  // Equivalent spellings print the same.
  Url c = must_parse("TERN://h:1/%53?a=%31&&b=2&c=3&");
  EXPECT_EQ(c.to_string(), a.to_string());
  // Repeated key: last wins; key without '=' has an empty value.
  Url d = must_parse("tern://h/S?x=1&x=2&flag");
  EXPECT_EQ(d.param("x"), "2");
  EXPECT_TRUE(d.has_param("flag"));
  EXPECT_EQ(d.to_string(), "tern://h/S?flag=&x=2");
}

TEST(UrlTest, TypedParams) {
  Url u = must_parse("tern://h/S?n=-42&big=9223372036854775807&junk=12x&t=TRUE&f=no&one=1&odd=maybe");
  EXPECT_EQ(u.int_param("n", 0), -42);
  EXPECT_EQ(u.int_param("big", 0), 9223372036854775807LL);
  EXPECT_EQ(u.int_param("junk", 7), 7);
  EXPECT_EQ(u.int_param("absent", 7), 7);
  EXPECT_TRUE(u.bool_param("t", false));
  EXPECT_FALSE(u.bool_param("f", true));
  EXPECT_TRUE(u.bool_param("one", false));
  EXPECT_TRUE(u.bool_param("odd", true));
  EXPECT_FALSE(u.bool_param("absent", false));
  u.remove_param("n");
  EXPECT_FALSE(u.has_param("n"));
}

TEST(UrlTest, NoHostOrNoPath) {
  Url u = must_parse("file:///var/cache");
  EXPECT_TRUE(u.hosts().empty());
  EXPECT_EQ(u.path(), "var/cache");
  EXPECT_EQ(u.address(), "");
  expect_round_trip(u);
  Url q = must_parse("tern://h:9?x=1");
  EXPECT_EQ(q.path(), "");
  EXPECT_EQ(q.param("x"), "1");
  expect_round_trip(q);
  EXPECT_EQ(must_parse("tern://h:9/").to_string(), "tern://h:9");
}

TEST(UrlTest, MalformedInputsAreInvalidArgument) {
  const char* bad[] = {
      "",
      "tern",
      "tern:/h:1",
      "://h:1",
      "1tern://h",
      "te rn://h",
      "tern://h:",
      "tern://h:65536",
      "tern://h:123456",
      "tern://h:-1",
      "tern://h:12a",
      "tern://:80",
      "tern://h1,,h2",
      "tern://h1,",
      "tern://,h1",
      "tern://[::1",
      "tern://[::1]x",
      "tern://[]:80",
      "tern://[zz::1]:80",
      "tern://[1.2.3.4]:80",
      "tern://::1:80",
      "tern://h o/S",
      "tern://user@h:1/S",
      "tern://h/S%",
      "tern://h/S%4",
      "tern://h/S%G1",
      "tern://h/S?a=%",
      "tern://h/S?a=%zz",
      "tern://h/S?%=1",
      "tern://h/S?=1",
      "tern://h/S#frag",
      "tern://h/S?a=1#x",
  };
  for (const char* text : bad) {
    auto r = Url::parse(text);
    ASSERT_FALSE(r.ok()) << "accepted: " << text << " -> " << r->to_string();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_FALSE(r.status().message().empty());
  }
  // Embedded NUL bytes and high bytes outside the authority are data, not errors.
  std::string with_nul("tern://h/S?a=\0b", 15);
  auto r = Url::parse(with_nul);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->param("a"), std::string("\0b", 2));
}

TEST(UrlTest, ParseHostPort) {
  EXPECT_EQ(*parse_host_port("127.0.0.1:20880"), (HostPort{"127.0.0.1", 20880}));
  EXPECT_EQ(*parse_host_port("[::1]:1"), (HostPort{"::1", 1}));
  EXPECT_EQ(*parse_host_port("[fe80::1]"), (HostPort{"fe80::1", 0}));
  EXPECT_EQ(*parse_host_port("example.com"), (HostPort{"example.com", 0}));
  EXPECT_EQ(*parse_host_port("h:65535"), (HostPort{"h", 65535}));
  for (const char* text : {"", ":1", "h:", "h:x", "[::1", "::1", "[::1]:", "h:1:2", "h/x"}) {
    auto r = parse_host_port(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
  }
  EXPECT_EQ((HostPort{"::1", 80}).to_string(), "[::1]:80");
  EXPECT_EQ((HostPort{"h", 0}).to_string(), "h");
}

TEST(UrlTest, EncodeDecode) {
  EXPECT_EQ(url_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(url_encode("a b&c=d/e,f#g%h"), "a%20b%26c%3Dd%2Fe%2Cf%23g%25h");
  EXPECT_EQ(url_encode("Zürich"), "Z%C3%BCrich");
  EXPECT_EQ(url_encode("東京"), "%E6%9D%B1%E4%BA%AC");
  EXPECT_EQ(url_encode(std::string("\0\xff", 2)), "%00%FF");
  EXPECT_EQ(*url_decode("a%20b%26c%3dd"), "a b&c=d");  // lower-case hex accepted
  EXPECT_EQ(*url_decode("%E6%9D%B1%E4%BA%AC"), "東京");
  EXPECT_EQ(*url_decode("plain+text"), "plain+text");
  EXPECT_EQ(*url_decode(""), "");
  for (const char* bad : {"%", "%4", "abc%", "%G0", "%0G", "%%"}) {
    auto r = url_decode(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(*url_decode(url_encode(all)), all);
}

}  // namespace
}  // namespace tern
