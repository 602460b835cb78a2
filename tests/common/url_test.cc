#include "common/url.h"

#include <gtest/gtest.h>

namespace bx {
namespace {

TEST(Url, ParsesExchangeDefaults) {
  auto u = ParseUrl("wss://fapi.bitunix.com/public/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "wss");
  EXPECT_EQ(u->host, "fapi.bitunix.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/public/");
  EXPECT_TRUE(u->tls());
  EXPECT_EQ(u->HostHeader(), "fapi.bitunix.com");
}

TEST(Url, ExplicitPortAndNoPath) {
  auto u = ParseUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/");
  EXPECT_FALSE(u->tls());
  EXPECT_EQ(u->HostHeader(), "127.0.0.1:8080");
  EXPECT_EQ(u->ToString(), "http://127.0.0.1:8080/");
}

TEST(Url, Ipv6) {
  auto u = ParseUrl("ws://[::1]:9000/private/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->HostHeader(), "[::1]:9000");
}

TEST(Url, RejectsBadInput) {
  EXPECT_FALSE(ParseUrl("fapi.bitunix.com").ok());
  EXPECT_FALSE(ParseUrl("ftp://x").ok());
  EXPECT_FALSE(ParseUrl("ws://").ok());
  EXPECT_FALSE(ParseUrl("ws://host:99999/").ok());
  EXPECT_FALSE(ParseUrl("ws://host:abc/").ok());
}

TEST(HostPort, Parses) {
  auto hp = ParseHostPort("127.0.0.1:0");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->first, "127.0.0.1");
  EXPECT_EQ(hp->second, 0);
  auto v6 = ParseHostPort("[::]:50051");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->first, "::");
  EXPECT_FALSE(ParseHostPort("localhost").ok());
  EXPECT_FALSE(ParseHostPort(":80").ok());
  EXPECT_FALSE(ParseHostPort("::1:80").ok());
  EXPECT_FALSE(ParseHostPort("host:70000").ok());
}

}  // namespace
}  // namespace bx
