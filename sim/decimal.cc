#include "sim/decimal.h"

#include <algorithm>
#include <cstdlib>

namespace bx::sim {
namespace {

__extension__ using Int128 = __int128;

constexpr int64_t kPow10[] = {1,         10,         100,         1'000,        10'000,
                              100'000,   1'000'000,  10'000'000,  100'000'000};

int64_t Pow10(int digits) { return kPow10[std::clamp(digits, 0, Dec::kScale)]; }

// Rounds n / d half away from zero.
int64_t DivRound(Int128 n, Int128 d) {
  if (d == 0) return 0;
  bool neg = (n < 0) != (d < 0);
  if (n < 0) n = -n;
  if (d < 0) d = -d;
  Int128 q = (n + d / 2) / d;
  return static_cast<int64_t>(neg ? -q : q);
}

}  // namespace

std::optional<Dec> Dec::Parse(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (text[0] == '-' || text[0] == '+') {
    neg = text[0] == '-';
    i = 1;
  }
  Int128 int_part = 0;
  int int_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    int_part = int_part * 10 + (text[i] - '0');
    if (int_part > Int128(INT64_MAX / kOne)) return std::nullopt;
    ++i;
    ++int_digits;
  }
  int64_t frac = 0;
  int frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (frac_digits == kScale) {
        if (text[i] != '0') return std::nullopt;  // more precision than we keep
      } else {
        frac = frac * 10 + (text[i] - '0');
        ++frac_digits;
      }
      ++i;
    }
    if (frac_digits == 0 && int_digits == 0) return std::nullopt;
  }
  if (i != text.size() || (int_digits == 0 && frac_digits == 0)) return std::nullopt;
  int64_t units = static_cast<int64_t>(int_part) * kOne + frac * Pow10(kScale - frac_digits);
  return Dec(neg ? -units : units);
}

int Dec::FractionDigits(std::string_view text) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return 0;
  std::string_view frac = text.substr(dot + 1);
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  return static_cast<int>(frac.size());
}

std::string Dec::ToFixed(int digits) const {
  digits = std::clamp(digits, 0, kScale);
  Dec r = Round(digits);
  int64_t u = r.units_;
  bool neg = u < 0;
  uint64_t a = neg ? static_cast<uint64_t>(-(u + 1)) + 1 : static_cast<uint64_t>(u);
  uint64_t ip = a / kOne;
  uint64_t fp = (a % kOne) / static_cast<uint64_t>(Pow10(kScale - digits));
  std::string out = neg ? "-" : "";
  out += std::to_string(ip);
  if (digits > 0) {
    std::string f = std::to_string(fp);
    out += '.';
    out.append(static_cast<size_t>(digits) - f.size(), '0');
    out += f;
  }
  if (out == "-0" || (neg && r.units_ == 0)) out.erase(0, 1);
  return out;
}

std::string Dec::ToString(int digits) const {
  std::string s = ToFixed(digits);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string Dec::ToString() const { return ToString(kScale); }

Dec Dec::Truncate(int digits) const {
  int64_t step = Pow10(kScale - std::clamp(digits, 0, kScale));
  return Dec(units_ / step * step);
}

Dec Dec::Round(int digits) const {
  int64_t step = Pow10(kScale - std::clamp(digits, 0, kScale));
  return Dec(DivRound(units_, step) * step);
}

Dec Dec::operator*(Dec o) const { return Dec(DivRound(Int128(units_) * o.units_, kOne)); }

Dec Dec::operator/(Dec o) const {
  if (o.units_ == 0) return Dec();
  return Dec(DivRound(Int128(units_) * kOne, o.units_));
}

Dec TickOf(int digits) { return Dec::FromUnits(Pow10(Dec::kScale - std::clamp(digits, 0, Dec::kScale))); }

}  // namespace bx::sim
