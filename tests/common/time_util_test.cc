#include "common/time_util.h"

#include <gtest/gtest.h>

namespace bx {
namespace {

TEST(TimeUtil, Iso8601AsTheExchangeSendsIt) {
  EXPECT_EQ(ParseIso8601Ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIso8601Ms("2025-06-01T18:44:52Z"), 1748803492000);  // captured trade
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47.959908526Z"), 1775540867959);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47.9Z"), 1775540867900);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T07:47:47+02:00"), 1775540867000);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07 05:47:47Z"), 1775540867000);
  EXPECT_EQ(ParseIso8601Ms("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47"), std::nullopt);  // no zone
  EXPECT_EQ(ParseIso8601Ms("2026-13-07T05:47:47Z"), std::nullopt);
  // Days that do not exist are refused, not rolled over into the next month.
  EXPECT_EQ(ParseIso8601Ms("2026-02-30T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseIso8601Ms("2026-02-29T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseIso8601Ms("2026-04-31T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseIso8601Ms("2000-02-29T00:00:00Z"), 951782400000);
  EXPECT_EQ(ParseIso8601Ms("1900-02-29T00:00:00Z"), std::nullopt);
  EXPECT_EQ(DaysInMonth(2024, 2), 29u);
  EXPECT_EQ(DaysInMonth(2100, 2), 28u);
  EXPECT_EQ(DaysInMonth(2026, 12), 31u);
  EXPECT_EQ(ParseIso8601Ms("garbage"), std::nullopt);
  EXPECT_EQ(ParseIso8601Ms("2026-04-07T05:47:47Zjunk"), std::nullopt);
  EXPECT_EQ(ParseTimeMs("1775540867000"), 1775540867000);
  EXPECT_EQ(ParseTimeMs("2026-04-07T05:47:47Z"), 1775540867000);
}

TEST(TimeUtil, FormatRoundTrips) {
  EXPECT_EQ(FormatIso8601Seconds(1748803492958), "2025-06-01T18:44:52Z");
  EXPECT_EQ(FormatIso8601Seconds(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatIso8601Nanos(1775540867959908526), "2026-04-07T05:47:47.959908526Z");
  EXPECT_EQ(FormatIso8601Seconds(-1), "1969-12-31T23:59:59Z");
  for (int64_t ms = 0; ms < 4'000'000'000'000; ms += 123'456'789'011) {
    EXPECT_EQ(ParseIso8601Ms(FormatIso8601Seconds(ms)), ms - ms % 1000) << ms;
  }
}

TEST(TimeUtil, CivilRoundTrip) {
  for (int64_t d = -800000; d <= 800000; d += 997) EXPECT_EQ(DaysFromCivil(CivilFromDays(d)), d);
  EXPECT_EQ(DaysFromCivil({2000, 3, 1}), 11017);
  EXPECT_EQ(FloorDiv(-1, 1000), -1);
  EXPECT_EQ(FloorDiv(1999, 1000), 1);
}

}  // namespace
}  // namespace bx
