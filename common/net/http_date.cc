#include "common/net/http_date.h"

#include "common/time_util.h"

#include <array>
#include <cctype>
#include <string>

namespace bx::net {
namespace {

// A cursor over the header value; every Take* returns false on mismatch.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool Literal(std::string_view lit) {
    if (s_.substr(0, lit.size()) != lit) return false;
    s_.remove_prefix(lit.size());
    return true;
  }
  bool Spaces() {  // one or more
    if (s_.empty() || s_.front() != ' ') return false;
    while (!s_.empty() && s_.front() == ' ') s_.remove_prefix(1);
    return true;
  }
  bool Digits(size_t min, size_t max, int* out) {
    size_t n = 0;
    int v = 0;
    while (n < s_.size() && n < max && std::isdigit(static_cast<unsigned char>(s_[n]))) {
      v = v * 10 + (s_[n] - '0');
      ++n;
    }
    if (n < min) return false;
    s_.remove_prefix(n);
    *out = v;
    return true;
  }
  bool Alpha(std::string* out) {
    size_t n = 0;
    while (n < s_.size() && std::isalpha(static_cast<unsigned char>(s_[n]))) ++n;
    if (n == 0) return false;
    out->assign(s_.substr(0, n));
    s_.remove_prefix(n);
    return true;
  }
  bool Month(int* out) {
    static constexpr std::array<std::string_view, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (size_t i = 0; i < kMonths.size(); ++i) {
      if (Literal(kMonths[i])) {
        *out = static_cast<int>(i) + 1;
        return true;
      }
    }
    return false;
  }
  bool Time(int* h, int* m, int* s) {
    return Digits(2, 2, h) && Literal(":") && Digits(2, 2, m) && Literal(":") && Digits(2, 2, s);
  }
  bool AtEnd() {
    while (!s_.empty() && (s_.front() == ' ' || s_.front() == '\t')) s_.remove_prefix(1);
    return s_.empty();
  }

 private:
  std::string_view s_;
};

int64_t ToMs(int year, int month, int day, int h, int m, int s) {
  if (month < 1 || month > 12 || day < 1 || day > static_cast<int>(DaysInMonth(year, static_cast<unsigned>(month))) ||
      h > 23 || m > 59 || s > 60) {
    return 0;  // 30 February is no date (it used to roll over into March)
  }
  const int64_t days = DaysFromCivil({year, static_cast<unsigned>(month), static_cast<unsigned>(day)});
  const int64_t secs = days * 86400 + h * 3600 + m * 60 + s;
  return secs > 0 ? secs * 1000 : 0;
}

}  // namespace

int64_t ParseHttpDateMs(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  int year = 0, month = 0, day = 0, h = 0, m = 0, s = 0;
  std::string wkday;
  {
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    Scanner sc(value);
    if (sc.Alpha(&wkday) && wkday.size() == 3 && sc.Literal(",") && sc.Spaces() &&
        sc.Digits(1, 2, &day) && sc.Spaces() && sc.Month(&month) && sc.Spaces() &&
        sc.Digits(4, 4, &year) && sc.Spaces() && sc.Time(&h, &m, &s) && sc.Spaces() &&
        sc.Literal("GMT") && sc.AtEnd()) {
      return ToMs(year, month, day, h, m, s);
    }
  }
  {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: 70-99 → 19xx, else 20xx)
    Scanner sc(value);
    if (sc.Alpha(&wkday) && wkday.size() > 3 && sc.Literal(",") && sc.Spaces() &&
        sc.Digits(2, 2, &day) && sc.Literal("-") && sc.Month(&month) && sc.Literal("-") &&
        sc.Digits(2, 2, &year) && sc.Spaces() && sc.Time(&h, &m, &s) && sc.Spaces() &&
        sc.Literal("GMT") && sc.AtEnd()) {
      year += year >= 70 ? 1900 : 2000;
      return ToMs(year, month, day, h, m, s);
    }
  }
  {
    // asctime: Sun Nov  6 08:49:37 1994
    Scanner sc(value);
    if (sc.Alpha(&wkday) && wkday.size() == 3 && sc.Spaces() && sc.Month(&month) && sc.Spaces() &&
        sc.Digits(1, 2, &day) && sc.Spaces() && sc.Time(&h, &m, &s) && sc.Spaces() &&
        sc.Digits(4, 4, &year) && sc.AtEnd()) {
      return ToMs(year, month, day, h, m, s);
    }
  }
  return 0;
}

}  // namespace bx::net
