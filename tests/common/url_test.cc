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

// Found by fuzz/text_fuzzer: "http://]1:[::8080/..." parsed, with host "]1:[:", into a URL whose
// own text did not parse again. Hosts are now names, IPv4 or bracketed IPv6 only, and the target,
// which goes verbatim into the request line, must be visible ASCII.
TEST(Url, RejectsBadHostsAndTargets) {
  EXPECT_FALSE(ParseUrl("http://]1:[::8080/api/v1").ok());
  EXPECT_FALSE(ParseUrl("http://ho st/").ok());
  EXPECT_FALSE(ParseUrl("http://host@evil/").ok());
  auto creds = ParseUrl("https://key:s3cret-value@fapi.bitunix.com/");
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message().find("s3cret-value"), std::string::npos) << creds.status();
  EXPECT_FALSE(ParseUrl("ws://[]:80/").ok());
  EXPECT_FALSE(ParseUrl("ws://[12g::1]/").ok());
  EXPECT_FALSE(ParseUrl("ws://[host]/").ok());
  EXPECT_FALSE(ParseUrl("https://fapi.bitunix.com/api/v1 futures").ok());
  EXPECT_FALSE(ParseUrl("https://fapi.bitunix.com/api/\x01").ok());
  EXPECT_FALSE(ParseUrl("https://fapi.bitunix.com/caf\xc3\xa9").ok());
  auto status = ParseUrl("http://ho st/").status();
  EXPECT_NE(status.message().find("bad host 'ho st'"), std::string::npos) << status;

  auto zone = ParseUrl("ws://[fe80::1%eth0]:9000/public/#frag");
  ASSERT_TRUE(zone.ok()) << zone.status();
  EXPECT_EQ(zone->host, "fe80::1%eth0");
  EXPECT_EQ(zone->target, "/public/");
  auto ok = ParseUrl("https://fapi.bitunix.com/api/v1/futures/market/depth?symbol=BTCUSDT&limit=15");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ParseUrl(ok->ToString())->target, ok->target);

  EXPECT_FALSE(ParseHostPort("ho st:80").ok());
  EXPECT_FALSE(ParseHostPort("[zz]:80").ok());
  EXPECT_TRUE(ParseHostPort("my-host.local:80").ok());
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
