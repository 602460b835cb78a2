// Exact decimal-string helpers. Prices, quantities and money stay strings end to end; the only
// arithmetic on them is here, exact (never float/double): validation, precision checks,
// comparisons, the percent -> fraction shift, and small products (kline volume check).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bx {

/// "123", "-0.5", "1.250": optional '-', digits, optional '.' followed by digits. No exponent, no
/// '+', no leading or trailing '.', no spaces or thousands separators.
bool IsDecimal(std::string_view s);

/// IsDecimal and strictly greater than zero.
bool IsPositiveDecimal(std::string_view s);

/// Number of fraction digits once trailing zeros are dropped ("1.2500" -> 2, "10" -> 0).
int FractionDigits(std::string_view s);

/// Exact comparison: -1, 0, 1; nullopt if either is not a decimal.
std::optional<int> CompareDecimal(std::string_view a, std::string_view b);

/// Canonical form: no leading zeros, no trailing fraction zeros, "-0" -> "0". Non-decimals are
/// returned unchanged.
std::string NormalizeDecimal(std::string_view s);

/// Cuts `s` to at most `digits` fraction digits (toward zero), normalized.
std::string TruncateDecimal(std::string_view s, int digits);

/// Divides by 10^places exactly ("-0.00077", 2 -> "-0.0000077"), normalized; nullopt when `s` is
/// not a decimal or places < 0.
std::optional<std::string> ShiftDecimalLeft(std::string_view s, int places);

/// Divides by 100 exactly: "0.01" -> "0.0001" (the exchange's percent funding rates). Non-decimals
/// are returned unchanged.
std::string PercentToFraction(std::string_view s);

/// Exact product; nullopt on bad input or more than 76 significant digits in total.
std::optional<std::string> MultiplyDecimal(std::string_view a, std::string_view b);

/// Base-10 int64 ("1790126515693", "-5"); nullopt on anything else or overflow.
std::optional<int64_t> ParseInt64(std::string_view s);

}  // namespace bx
