// parse_listen_address (src/net/listen_address.h): literal hosts, host names
// rejected or resolved as asked, malformed text.
#include "net/listen_address.h"

#include <string>

#include <gtest/gtest.h>

namespace tern::net {
namespace {

TEST(ListenAddress, LiteralHostsBecomeTheirEndpoint) {
  auto v4 = parse_listen_address("127.0.0.1:20880", HostNames::kReject);
  ASSERT_TRUE(v4.has_value()) << v4.status();
  EXPECT_EQ(v4->host_port, (HostPort{"127.0.0.1", 20880}));
  EXPECT_EQ(v4->endpoint, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 20880));

  auto v6 = parse_listen_address("[::1]:0", HostNames::kReject);
  ASSERT_TRUE(v6.has_value()) << v6.status();
  EXPECT_EQ(v6->host_port, (HostPort{"::1", 0}));
  EXPECT_EQ(v6->endpoint, asio::ip::tcp::endpoint(asio::ip::make_address("::1"), 0));
}

TEST(ListenAddress, HostNamesAreRejectedOrResolvedAsAsked) {
  auto rejected = parse_listen_address("localhost:8080", HostNames::kReject);
  ASSERT_FALSE(rejected.has_value());
  EXPECT_EQ(rejected.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rejected.status().message().rfind("listen address 'localhost:8080': ", 0), 0u) << rejected.status();

  auto resolved = parse_listen_address("localhost:8080", HostNames::kResolve);
  ASSERT_TRUE(resolved.has_value()) << resolved.status();
  EXPECT_EQ(resolved->host_port, (HostPort{"localhost", 8080}));
  EXPECT_TRUE(resolved->endpoint.address().is_loopback()) << resolved->endpoint.address().to_string();
  EXPECT_EQ(resolved->endpoint.port(), 8080);
}

TEST(ListenAddress, MalformedTextIsInvalidArgument) {
  for (const char* text : {"", ":80", "127.0.0.1:99999", "[::1", "::1:80"}) {
    for (HostNames names : {HostNames::kReject, HostNames::kResolve}) {
      auto r = parse_listen_address(text, names);
      ASSERT_FALSE(r.has_value()) << text;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
}

// A host without a port would bind a random one nobody can find.
TEST(ListenAddress, APortMustBeWritten) {
  for (const char* text : {"127.0.0.1", "[::1]", "localhost"}) {
    for (HostNames names : {HostNames::kReject, HostNames::kResolve}) {
      auto r = parse_listen_address(text, names);
      ASSERT_FALSE(r.has_value()) << text;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
      EXPECT_EQ(r.status().message(), "listen address '" + std::string(text) + "' has no port (write '" +
                                          std::string(text) + ":0' to listen on a free port)");
    }
  }
  auto free_port = parse_listen_address("127.0.0.1:0", HostNames::kReject);
  ASSERT_TRUE(free_port.has_value());
  EXPECT_EQ(free_port->endpoint.port(), 0);
}

}  // namespace
}  // namespace tern::net
