// Exact decimal-string helpers. Prices and quantities stay strings end to end; the only arithmetic
// on them is here, exact (no double): validation, precision checks, comparisons, the percent ->
// fraction shift, and small products (kline volume check).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bx::orders {

/// "123", "-0.5", "1.250": optional '-', digits, optional '.' and digits. No exponent, no '+',
/// no leading '.', no thousands separators.
bool IsDecimal(std::string_view s);

/// IsDecimal and strictly greater than zero.
bool IsPositiveDecimal(std::string_view s);

/// Number of fraction digits once trailing zeros are dropped ("1.2500" -> 2, "10" -> 0).
int FractionDigits(std::string_view s);

/// Exact comparison of two decimals: -1, 0, 1; nullopt if either is not a decimal.
std::optional<int> CompareDecimal(std::string_view a, std::string_view b);

/// Canonical form: no leading zeros, no trailing fraction zeros, "-0" -> "0".
std::string NormalizeDecimal(std::string_view s);

/// Cuts `s` to at most `digits` fraction digits (toward zero), normalized.
std::string TruncateDecimal(std::string_view s, int digits);

/// Divides by 100 exactly: "0.01" -> "0.0001", "-0.00077" -> "-0.0000077", "5" -> "0.05".
std::string PercentToFraction(std::string_view s);

/// Exact product of two decimals; nullopt on bad input or inputs longer than 38 digits each.
std::optional<std::string> MultiplyDecimal(std::string_view a, std::string_view b);

}  // namespace bx::orders
