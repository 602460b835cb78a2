// Exact decimal-string helpers shared by the simulator and both services.
#include "common/decimal.h"

#include <gtest/gtest.h>

namespace bx {
namespace {

TEST(Decimal, Validity) {
  for (const char* ok : {"0", "1", "-1", "0.5", "123.4500", "-0.0000077", "00012", "86699.6"}) {
    EXPECT_TRUE(IsDecimal(ok)) << ok;
  }
  for (const char* bad : {"", "-", ".", ".5", "5.", "1e5", "+1", "1.2.3", "1,000", " 1", "abc", "NaN", "market"}) {
    EXPECT_FALSE(IsDecimal(bad)) << bad;
  }
  EXPECT_TRUE(IsPositiveDecimal("0.0001"));
  EXPECT_FALSE(IsPositiveDecimal("0.000"));
  EXPECT_FALSE(IsPositiveDecimal("-1"));
}

TEST(Decimal, FractionDigitsIgnoreTrailingZeros) {
  EXPECT_EQ(FractionDigits("1.2500"), 2);
  EXPECT_EQ(FractionDigits("10"), 0);
  EXPECT_EQ(FractionDigits("0.0001"), 4);
  EXPECT_EQ(FractionDigits("5.0"), 0);
}

TEST(Decimal, CompareIsExact) {
  EXPECT_EQ(*CompareDecimal("0.1", "0.10"), 0);
  EXPECT_EQ(*CompareDecimal("0.00009", "0.0001"), -1);
  EXPECT_EQ(*CompareDecimal("100", "99.999999999999999999"), 1);
  EXPECT_EQ(*CompareDecimal("-2", "-10"), 1);
  EXPECT_EQ(*CompareDecimal("-0", "0"), 0);
  // Beyond double precision: these differ in the 20th digit.
  EXPECT_EQ(*CompareDecimal("1.00000000000000000001", "1.00000000000000000002"), -1);
  EXPECT_FALSE(CompareDecimal("x", "1").has_value());
}

TEST(Decimal, NormalizeAndTruncate) {
  EXPECT_EQ(NormalizeDecimal("000.5000"), "0.5");
  EXPECT_EQ(NormalizeDecimal("-0.000"), "0");
  EXPECT_EQ(NormalizeDecimal("market"), "market");
  EXPECT_EQ(TruncateDecimal("0.123456", 4), "0.1234");
  EXPECT_EQ(TruncateDecimal("12.9", 0), "12");
  EXPECT_EQ(TruncateDecimal("-0.00001", 2), "0");
}

TEST(Decimal, ShiftLeftAndPercentAreExact) {
  // The captured price push: fr "-0.00077" percent is -0.0000077.
  EXPECT_EQ(ShiftDecimalLeft("-0.00077", 2), "-0.0000077");
  EXPECT_EQ(ShiftDecimalLeft("0.013461", 2), "0.00013461");
  EXPECT_EQ(ShiftDecimalLeft("1234.5", 2), "12.345");
  EXPECT_EQ(ShiftDecimalLeft("100", 2), "1");
  EXPECT_EQ(ShiftDecimalLeft("-0", 2), "0");
  EXPECT_EQ(ShiftDecimalLeft("5", 0), "5");
  EXPECT_EQ(ShiftDecimalLeft("7", 5), "0.00007");
  EXPECT_EQ(ShiftDecimalLeft("1e-5", 2), std::nullopt);
  EXPECT_EQ(ShiftDecimalLeft("1", -1), std::nullopt);
  EXPECT_EQ(PercentToFraction("0.01"), "0.0001");
  EXPECT_EQ(PercentToFraction("5"), "0.05");
  EXPECT_EQ(PercentToFraction("125.5"), "1.255");
  EXPECT_EQ(PercentToFraction("0"), "0");
  EXPECT_EQ(PercentToFraction("n/a"), "n/a");
}

TEST(Decimal, MultiplyIsExact) {
  // The kline volume check of a captured reply: baseVol x close ~= quoteVol.
  EXPECT_EQ(*MultiplyDecimal("16.0341", "64045.1"), "1026905.53791");
  EXPECT_EQ(*MultiplyDecimal("-0.5", "0.2"), "-0.1");
  EXPECT_EQ(*MultiplyDecimal("0", "123"), "0");
  EXPECT_EQ(*MultiplyDecimal("99999999999999999999", "10"), "999999999999999999990");
  EXPECT_FALSE(MultiplyDecimal("1e3", "2").has_value());
}

TEST(Decimal, ParseInt64) {
  EXPECT_EQ(ParseInt64("1790126515693"), 1790126515693);
  EXPECT_EQ(ParseInt64("-5"), -5);
  EXPECT_EQ(ParseInt64(""), std::nullopt);
  EXPECT_EQ(ParseInt64("12a"), std::nullopt);
  EXPECT_EQ(ParseInt64("99999999999999999999"), std::nullopt);
}

}  // namespace
}  // namespace bx
