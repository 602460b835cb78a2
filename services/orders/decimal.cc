#include "services/orders/decimal.h"

#include <algorithm>
#include <vector>

namespace bx::orders {
namespace {

struct Parts {
  bool negative = false;
  std::string int_digits;   // no leading zeros ("" for zero)
  std::string frac_digits;  // no trailing zeros
};

std::optional<Parts> Split(std::string_view s) {
  if (!IsDecimal(s)) return std::nullopt;
  Parts p;
  if (s.front() == '-') {
    p.negative = true;
    s.remove_prefix(1);
  }
  auto dot = s.find('.');
  std::string_view ip = s.substr(0, dot);
  std::string_view fp = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  while (!ip.empty() && ip.front() == '0') ip.remove_prefix(1);
  while (!fp.empty() && fp.back() == '0') fp.remove_suffix(1);
  p.int_digits = std::string(ip);
  p.frac_digits = std::string(fp);
  if (p.int_digits.empty() && p.frac_digits.empty()) p.negative = false;
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
  while (!p->frac_digits.empty() && p->frac_digits.back() == '0') p->frac_digits.pop_back();
  if (p->int_digits.empty() && p->frac_digits.empty()) p->negative = false;
  return Join(*p);
}

std::string PercentToFraction(std::string_view s) {
  auto p = Split(s);
  if (!p) return std::string(s);
  // Move two digits from the integer part into the fraction.
  std::string ip = p->int_digits;
  while (ip.size() < 2) ip.insert(ip.begin(), '0');
  p->frac_digits = ip.substr(ip.size() - 2) + p->frac_digits;
  p->int_digits = ip.substr(0, ip.size() - 2);
  while (!p->int_digits.empty() && p->int_digits.front() == '0') p->int_digits.erase(p->int_digits.begin());
  while (!p->frac_digits.empty() && p->frac_digits.back() == '0') p->frac_digits.pop_back();
  if (p->int_digits.empty() && p->frac_digits.empty()) p->negative = false;
  return Join(*p);
}

std::optional<std::string> MultiplyDecimal(std::string_view a, std::string_view b) {
  auto pa = Split(a), pb = Split(b);
  if (!pa || !pb) return std::nullopt;
  std::string da = pa->int_digits + pa->frac_digits;
  std::string db = pb->int_digits + pb->frac_digits;
  size_t scale = pa->frac_digits.size() + pb->frac_digits.size();
  // Schoolbook multiplication on digit strings: exact and small (REST numbers are short).
  if (da.size() + db.size() > 76) return std::nullopt;
  std::vector<int> acc(da.size() + db.size(), 0);
  for (size_t i = da.size(); i-- > 0;) {
    for (size_t j = db.size(); j-- > 0;) {
      acc[i + j + 1] += (da[i] - '0') * (db[j] - '0');
    }
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
  while (!out.int_digits.empty() && out.int_digits.front() == '0') out.int_digits.erase(out.int_digits.begin());
  while (!out.frac_digits.empty() && out.frac_digits.back() == '0') out.frac_digits.pop_back();
  if (out.int_digits.empty() && out.frac_digits.empty()) out.negative = false;
  return Join(out);
}

}  // namespace bx::orders
