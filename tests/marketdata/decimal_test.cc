// Exact decimal and time helpers.
#include "services/marketdata/decimal.h"

#include <gtest/gtest.h>

namespace bx::md {
namespace {

TEST(Decimal, IsDecimal) {
  EXPECT_TRUE(IsDecimal("86699.6"));
  EXPECT_TRUE(IsDecimal("-0.00077"));
  EXPECT_TRUE(IsDecimal("1"));
  EXPECT_TRUE(IsDecimal("0."));
  EXPECT_TRUE(IsDecimal(".5"));
  EXPECT_FALSE(IsDecimal(""));
  EXPECT_FALSE(IsDecimal("-"));
  EXPECT_FALSE(IsDecimal("."));
  EXPECT_FALSE(IsDecimal("1e5"));
  EXPECT_FALSE(IsDecimal("+1"));
  EXPECT_FALSE(IsDecimal("1.2.3"));
  EXPECT_FALSE(IsDecimal(" 1"));
  EXPECT_FALSE(IsDecimal("abc"));
}

TEST(Decimal, PercentToFractionIsExact) {
  // The captured price push: fr "-0.00077" percent is -0.0000077.
  EXPECT_EQ(ShiftDecimalLeft("-0.00077", 2), "-0.0000077");
  EXPECT_EQ(ShiftDecimalLeft("0.01", 2), "0.0001");
  EXPECT_EQ(ShiftDecimalLeft("0.013461", 2), "0.00013461");
  EXPECT_EQ(ShiftDecimalLeft("1", 2), "0.01");
  EXPECT_EQ(ShiftDecimalLeft("12.5", 2), "0.125");
  EXPECT_EQ(ShiftDecimalLeft("100", 2), "1.00");
  EXPECT_EQ(ShiftDecimalLeft("1234.5", 2), "12.345");
  EXPECT_EQ(ShiftDecimalLeft("0", 2), "0.00");
  EXPECT_EQ(ShiftDecimalLeft("-0", 2), "0.00");
  EXPECT_EQ(ShiftDecimalLeft("5", 0), "5");
  EXPECT_EQ(ShiftDecimalLeft("1e-5", 2), std::nullopt);
  EXPECT_EQ(ShiftDecimalLeft("", 2), std::nullopt);
}

TEST(Decimal, ParseInt64) {
  EXPECT_EQ(ParseInt64("1790126515693"), 1790126515693);
  EXPECT_EQ(ParseInt64("-5"), -5);
  EXPECT_EQ(ParseInt64(""), std::nullopt);
  EXPECT_EQ(ParseInt64("12a"), std::nullopt);
  EXPECT_EQ(ParseInt64("99999999999999999999"), std::nullopt);
}

TEST(Decimal, Iso8601) {
  EXPECT_EQ(ParseIso8601Ms("1970-01-01T00:00:00Z"), 0);
  // From the captured trade: 2025-06-01T18:44:52Z.
  EXPECT_EQ(ParseIso8601Ms("2025-06-01T18:44:52Z"), 1748803492000);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47.959908526Z"), 1775540867959);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47.9Z"), 1775540867900);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T07:47:47+02:00"), 1775540867000);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07 05:47:47Z"), 1775540867000);
  EXPECT_EQ(ParseIso8601Ms("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47"), std::nullopt);  // no zone
  EXPECT_EQ(ParseIso8601Ms("2026-13-07T05:47:47Z"), std::nullopt);
  EXPECT_EQ(ParseIso8601Ms("garbage"), std::nullopt);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47Zjunk"), std::nullopt);
  EXPECT_EQ(ParseTimeMs("1775540867000"), 1775540867000);
  EXPECT_EQ(ParseTimeMs("2026-04-07T05:47:47Z"), 1775540867000);
}

TEST(Decimal, CivilRoundTrip) {
  for (int64_t d = -800000; d <= 800000; d += 997) {
    EXPECT_EQ(DaysFromCivil(CivilFromDays(d)), d);
  }
  EXPECT_EQ(DaysFromCivil({2000, 3, 1}), 11017);
}

}  // namespace
}  // namespace bx::md
