#include "common/net/http_date.h"

#include <gtest/gtest.h>

namespace bx::net {
namespace {

constexpr int64_t k1994 = 784111777000;  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)

TEST(ParseHttpDateMs, ImfFixdate) {
  EXPECT_EQ(ParseHttpDateMs("Sun, 06 Nov 1994 08:49:37 GMT"), k1994);
  EXPECT_EQ(ParseHttpDateMs("Thu, 01 Jan 1970 00:00:01 GMT"), 1000);
  EXPECT_EQ(ParseHttpDateMs("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599000);
  EXPECT_EQ(ParseHttpDateMs("  Wed, 21 Oct 2015 07:28:00 GMT  "), 1445412480000);
}

TEST(ParseHttpDateMs, ObsoleteForms) {
  EXPECT_EQ(ParseHttpDateMs("Sunday, 06-Nov-94 08:49:37 GMT"), k1994);
  EXPECT_EQ(ParseHttpDateMs("Sun Nov  6 08:49:37 1994"), k1994);
}

TEST(ParseHttpDateMs, GarbageIsZero) {
  EXPECT_EQ(ParseHttpDateMs(""), 0);
  EXPECT_EQ(ParseHttpDateMs("yesterday"), 0);
  EXPECT_EQ(ParseHttpDateMs("Sun, 06 Nov 1994 08:49:37 UTC"), 0);
  EXPECT_EQ(ParseHttpDateMs("Sun, 06 Foo 1994 08:49:37 GMT"), 0);
  EXPECT_EQ(ParseHttpDateMs("Sun, 32 Nov 1994 08:49:37 GMT"), 0);
  EXPECT_EQ(ParseHttpDateMs("Sun, 31 Nov 1994 08:49:37 GMT"), 0);
  EXPECT_EQ(ParseHttpDateMs("Mon, 30 Feb 2026 08:49:37 GMT"), 0);
  EXPECT_EQ(ParseHttpDateMs("Sun, 29 Feb 2026 08:49:37 GMT"), 0);
  EXPECT_EQ(ParseHttpDateMs("Sun, 06 Nov 1994 25:49:37 GMT"), 0);
  EXPECT_EQ(ParseHttpDateMs("Sun, 06 Nov 1994 08:49:37 GMT trailing"), 0);
  EXPECT_EQ(ParseHttpDateMs("1700000000"), 0);
}

}  // namespace
}  // namespace bx::net
