#include "common/decimal.h"

#include <algorithm>
#include <charconv>
#include <vector>

namespace bx {
namespace {

struct Parts {
  bool negative = false;
  std::string int_digits;   // no leading zeros ("" for zero)
  std::string frac_digits;  // no trailing zeros
};

void Canonicalize(Parts* p) {
  while (!p->int_digits.empty() && p->int_digits.front() == '0') p->int_digits.erase(p->int_digits.begin());
  while (!p->frac_digits.empty() && p->frac_digits.back() == '0') p->frac_digits.pop_back();
  if (p->int_digits.empty() && p->frac_digits.empty()) p->negative = false;
}

std::optional<Parts> Split(std::string_view s) {
  if (!IsDecimal(s)) return std::nullopt;
  Parts p;
  if (s.front() == '-') {
    p.negative = true;
    s.remove_prefix(1);
  }
  auto dot = s.find('.');
  p.int_digits = std::string(s.substr(0, dot));
  if (dot != std::string_view::npos) p.frac_digits = std::string(s.substr(dot + 1));
  Canonicalize(&p);
  return p;
}

std::string Join(const Parts& p) {
  std::string out;
  if (p.negative) out += '-';
  out += p.int_digits.empty() ? "0" : p.int_digits;
  if (!p.frac_digits.empty()) {
    out += '.';
    out += p.frac_digits;
  }
  return out;
}

int CompareMagnitude(const Parts& a, const Parts& b) {
  if (a.int_digits.size() != b.int_digits.size()) return a.int_digits.size() < b.int_digits.size() ? -1 : 1;
  if (int c = a.int_digits.compare(b.int_digits); c != 0) return c < 0 ? -1 : 1;
  size_t n = std::max(a.frac_digits.size(), b.frac_digits.size());
  for (size_t i = 0; i < n; ++i) {
    char ca = i < a.frac_digits.size() ? a.frac_digits[i] : '0';
    char cb = i < b.frac_digits.size() ? b.frac_digits[i] : '0';
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  return 0;
}

}  // namespace

bool IsDecimal(std::string_view s) {
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  if (s.empty() || s.front() == '.') return false;
  bool dot = false;
  bool frac_digit = false;
  for (char c : s) {
    if (c == '.') {
      if (dot) return false;
      dot = true;
    } else if (c >= '0' && c <= '9') {
      if (dot) frac_digit = true;
    } else {
      return false;
    }
  }
  return !dot || frac_digit;
}

bool IsPositiveDecimal(std::string_view s) {
  auto c = CompareDecimal(s, "0");
  return c.has_value() && *c > 0;
}

int FractionDigits(std::string_view s) {
  auto p = Split(s);
  return p ? static_cast<int>(p->frac_digits.size()) : 0;
}

std::optional<int> CompareDecimal(std::string_view a, std::string_view b) {
  auto pa = Split(a), pb = Split(b);
  if (!pa || !pb) return std::nullopt;
  if (pa->negative != pb->negative) return pa->negative ? -1 : 1;
  int m = CompareMagnitude(*pa, *pb);
  return pa->negative ? -m : m;
}

std::string NormalizeDecimal(std::string_view s) {
  auto p = Split(s);
  return p ? Join(*p) : std::string(s);
}

std::string TruncateDecimal(std::string_view s, int digits) {
  auto p = Split(s);
  if (!p) return std::string(s);
  if (digits < 0) digits = 0;
  if (static_cast<int>(p->frac_digits.size()) > digits) p->frac_digits.resize(static_cast<size_t>(digits));
  Canonicalize(&*p);
  return Join(*p);
}

std::optional<std::string> ShiftDecimalLeft(std::string_view s, int places) {
  auto p = Split(s);
  if (!p || places < 0) return std::nullopt;
  std::string ip = p->int_digits;
  if (ip.size() < static_cast<size_t>(places)) ip.insert(ip.begin(), static_cast<size_t>(places) - ip.size(), '0');
  p->frac_digits = ip.substr(ip.size() - static_cast<size_t>(places)) + p->frac_digits;
  p->int_digits = ip.substr(0, ip.size() - static_cast<size_t>(places));
  Canonicalize(&*p);
  return Join(*p);
}

std::string PercentToFraction(std::string_view s) {
  auto v = ShiftDecimalLeft(s, 2);
  return v ? *v : std::string(s);
}

std::optional<std::string> MultiplyDecimal(std::string_view a, std::string_view b) {
  auto pa = Split(a), pb = Split(b);
  if (!pa || !pb) return std::nullopt;
  std::string da = pa->int_digits + pa->frac_digits;
  std::string db = pb->int_digits + pb->frac_digits;
  const size_t scale = pa->frac_digits.size() + pb->frac_digits.size();
  if (da.size() + db.size() > 76) return std::nullopt;
  // Schoolbook multiplication on digit strings: exact, and the numbers involved are short.
  std::vector<int> acc(da.size() + db.size(), 0);
  for (size_t i = da.size(); i-- > 0;) {
    for (size_t j = db.size(); j-- > 0;) acc[i + j + 1] += (da[i] - '0') * (db[j] - '0');
  }
  for (size_t k = acc.size(); k-- > 1;) {
    acc[k - 1] += acc[k] / 10;
    acc[k] %= 10;
  }
  std::string all;
  for (int d : acc) all.push_back(static_cast<char>('0' + d));
  while (all.size() < scale + 1) all.insert(all.begin(), '0');
  Parts out;
  out.negative = pa->negative != pb->negative;
  out.int_digits = all.substr(0, all.size() - scale);
  out.frac_digits = all.substr(all.size() - scale);
  Canonicalize(&out);
  return Join(out);
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace bx
