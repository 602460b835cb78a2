// Calendar and ISO-8601 helpers (UTC, proleptic Gregorian): the exchange sends times as ms
// integers, digit strings or ISO-8601 text, and candles open on calendar boundaries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bx {

struct CivilDate {
  int64_t year;
  unsigned month;  ///< 1..12
  unsigned day;    ///< 1..31
};

/// Days in `month` (1-12) of `year` (proleptic Gregorian).
unsigned DaysInMonth(int64_t year, unsigned month);
/// Days since 1970-01-01 of a date, and back (Howard Hinnant's algorithms).
int64_t DaysFromCivil(CivilDate d);
CivilDate CivilFromDays(int64_t days);

/// Floor division (rounds toward negative infinity).
constexpr int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/// ISO-8601 as the exchange sends it: "2026-04-07T05:47:52Z", "2026-04-07T05:47:47.959908526Z",
/// also "+HH:MM" offsets or a space instead of 'T'. ms since the epoch (fractions truncated).
std::optional<int64_t> ParseIso8601Ms(std::string_view s);

/// A time that may be ms since the epoch (digits) or ISO-8601.
std::optional<int64_t> ParseTimeMs(std::string_view s);

/// "2026-04-07T05:47:52Z" (whole seconds, as the exchange's trade and funding times).
std::string FormatIso8601Seconds(int64_t ms);
/// "2026-04-07T05:47:47.959908526Z" (nanoseconds, as the exchange's private order times).
std::string FormatIso8601Nanos(int64_t ns);

}  // namespace bx
