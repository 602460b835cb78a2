// Exact fixed-point decimals for the simulator's market and account arithmetic (8 fractional
// digits). Prices, quantities and balances are never doubles: they are parsed from and formatted to
// the exchange's decimal strings exactly ("86688", "0.7095", "-0.00077").
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bx::sim {

class Dec {
 public:
  static constexpr int kScale = 8;
  static constexpr int64_t kOne = 100'000'000;

  constexpr Dec() = default;
  static constexpr Dec FromUnits(int64_t units) { return Dec(units); }
  static constexpr Dec FromInt(int64_t v) { return Dec(v * kOne); }
  /// Parses "123", "-0.5", "1.25000000"; at most kScale fractional digits, no exponent, no sign on
  /// zero needed. Returns nullopt on anything else (empty, spaces, "1e5", "NaN", overflow).
  static std::optional<Dec> Parse(std::string_view text);
  /// Number of fractional digits written in `text` (after Parse succeeded), ignoring trailing zeros.
  static int FractionDigits(std::string_view text);

  constexpr int64_t units() const { return units_; }
  /// Shortest form: trailing fractional zeros stripped ("86688", "0.59").
  std::string ToString() const;
  /// Rounded half away from zero to `digits` fractional digits, then trailing zeros stripped.
  std::string ToString(int digits) const;
  /// Exactly `digits` fractional digits ("0.0100").
  std::string ToFixed(int digits) const;

  /// Rounds to a multiple of 10^-digits: toward zero, half away from zero, or away from zero.
  Dec Truncate(int digits) const;
  Dec Round(int digits) const;
  bool IsMultipleOf(int digits) const { return Truncate(digits) == *this; }

  constexpr bool is_zero() const { return units_ == 0; }
  constexpr bool is_negative() const { return units_ < 0; }
  constexpr Dec abs() const { return Dec(units_ < 0 ? -units_ : units_); }

  constexpr Dec operator+(Dec o) const { return Dec(units_ + o.units_); }
  constexpr Dec operator-(Dec o) const { return Dec(units_ - o.units_); }
  constexpr Dec operator-() const { return Dec(-units_); }
  Dec& operator+=(Dec o) {
    units_ += o.units_;
    return *this;
  }
  Dec& operator-=(Dec o) {
    units_ -= o.units_;
    return *this;
  }
  /// Product rounded half away from zero to kScale digits.
  Dec operator*(Dec o) const;
  /// Quotient rounded half away from zero to kScale digits; division by zero yields zero.
  Dec operator/(Dec o) const;
  Dec MulInt(int64_t k) const { return Dec(units_ * k); }

  constexpr auto operator<=>(const Dec&) const = default;

 private:
  constexpr explicit Dec(int64_t units) : units_(units) {}
  int64_t units_ = 0;
};

/// 10^-digits as a Dec (the tick for a precision), digits in [0, kScale].
Dec TickOf(int digits);

}  // namespace bx::sim
