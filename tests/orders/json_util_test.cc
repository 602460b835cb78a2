#include "services/orders/json_util.h"

#include <gtest/gtest.h>

namespace bx::orders {
namespace {

TEST(JsonExact, FloatsKeepTheirSourceText) {
  auto j = ParseJsonExact(R"({"p":60100.50,"q":0.1,"big":123456789012345678901234567890.123,"i":42,"n":null})");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(GetDecimal(*j, "p"), "60100.50");
  EXPECT_EQ(GetDecimal(*j, "q"), "0.1");
  EXPECT_EQ(GetDecimal(*j, "big"), "123456789012345678901234567890.123");
  EXPECT_EQ(GetString(*j, "i"), "42");
  EXPECT_EQ(GetString(*j, "n"), "");
  EXPECT_EQ(GetString(*j, "absent"), "");
}

TEST(JsonExact, MalformedInputIsAnErrorNotACrash) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,2", "nul", "{\"a\":1}}", "\xff\xfe", "{\"a\":\"\\u12\"}",
                          // invalid UTF-8 inside a string: it would reach a protobuf `string` field
                          "{\"a\":\"x\xffy\"}", "{\"a\":\"\xe2\x82\"}", "{\"a\":\"\xc0\xaf\"}"}) {
    auto j = ParseJsonExact(bad);
    EXPECT_FALSE(j.ok()) << bad;
  }
}

TEST(JsonExact, IntsFromEitherForm) {
  auto j = ParseJsonExact(R"({"a":"12","b":12,"c":"12.0","d":"12.5","e":"x","f":true})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(GetInt(*j, "a"), 12);
  EXPECT_EQ(GetInt(*j, "b"), 12);
  EXPECT_EQ(GetInt(*j, "c"), 12);
  EXPECT_FALSE(GetInt(*j, "d").has_value());
  EXPECT_FALSE(GetInt(*j, "e").has_value());
  EXPECT_EQ(GetBool(*j, "f"), true);
}

TEST(JsonExact, TimesFromMsOrIso) {
  auto j = ParseJsonExact(
      R"({"a":1597026383085,"b":"1597026383085","c":"2024-05-16T08:13:09.123456789Z","d":"2024-12-04T11:00:00Z","e":"junk"})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(GetTimeMs(*j, "a"), 1597026383085);
  EXPECT_EQ(GetTimeMs(*j, "b"), 1597026383085);
  EXPECT_EQ(GetTimeMs(*j, "c"), 1715847189123);
  EXPECT_EQ(GetTimeMs(*j, "d"), 1733310000000);
  EXPECT_EQ(GetTimeMs(*j, "e"), 0);
}

}  // namespace
}  // namespace bx::orders
