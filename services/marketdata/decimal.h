// Exact decimal-string and time helpers. Decimals never pass through float or double.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bx::md {

/// True for a plain decimal: optional '-', digits, optional '.' and digits ("86699.6", "-0.00077",
/// "1"). No exponent, no '+', no leading/trailing spaces, at least one digit.
bool IsDecimal(std::string_view s);

/// Divides a decimal string by 10^places exactly ("-0.00077", 2 -> "-0.0000077"). Used to turn the
/// exchange's percent funding rates into fractions. nullopt when `s` is not IsDecimal().
std::optional<std::string> ShiftDecimalLeft(std::string_view s, int places);

/// Parses a base-10 int64 ("1790126515693", "-5"). nullopt on anything else or overflow.
std::optional<int64_t> ParseInt64(std::string_view s);

struct CivilDate {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};
/// Days since 1970-01-01 of a proleptic Gregorian date, and back.
int64_t DaysFromCivil(CivilDate d);
CivilDate CivilFromDays(int64_t days);

/// Parses ISO-8601 UTC times as the exchange sends them: "2026-04-07T05:47:52Z",
/// "2026-04-07T05:47:47.959908526Z", also with "+00:00"/"+HH:MM" offsets or a space instead of 'T'.
/// Returns ms since the epoch (fractions truncated to ms).
std::optional<int64_t> ParseIso8601Ms(std::string_view s);

/// A time that may be ms since the epoch (number or digit string) or ISO-8601.
std::optional<int64_t> ParseTimeMs(std::string_view s);

}  // namespace bx::md
