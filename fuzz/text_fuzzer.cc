// The exact-decimal, time, URL and HTTP-date helpers every service uses on exchange text.
// Input: two strings separated by the first newline. Properties (beyond no crash, leak or UB):
// - CompareDecimal is antisymmetric and agrees with IsDecimal on which inputs are decimals;
// - NormalizeDecimal is idempotent, yields a decimal equal in value; TruncateDecimal never grows
//   the magnitude and keeps at most the digits asked for;
// - ShiftDecimalLeft then MultiplyDecimal by the same power of ten gives the value back;
//   MultiplyDecimal commutes, and multiplying by 1 is the identity;
// - ParseInt64 agrees with std::from_chars on the whole string;
// - ISO-8601 and URL parsing round-trip through their formatters.
#include <charconv>
#include <cstdint>
#include <string>

#include "common/decimal.h"
#include "common/net/http_date.h"
#include "common/time_util.h"
#include "common/url.h"
#include "fuzz/fuzz_check.h"

namespace {

std::string Abs(std::string_view s) { return std::string(!s.empty() && s[0] == '-' ? s.substr(1) : s); }

#define SV(s) static_cast<int>((s).size()), (s).data()

void CheckDecimal(std::string_view a, std::string_view b) {
  const bool da = bx::IsDecimal(a), db = bx::IsDecimal(b);
  const auto ab = bx::CompareDecimal(a, b), ba = bx::CompareDecimal(b, a);
  FUZZ_CHECK(ab.has_value() == (da && db), "CompareDecimal('%.*s','%.*s') defined=%d", SV(a), SV(b), ab.has_value());
  if (ab) FUZZ_CHECK(*ab == -*ba, "CompareDecimal not antisymmetric on '%.*s' '%.*s'", SV(a), SV(b));
  if (!da) {
    FUZZ_CHECK(bx::NormalizeDecimal(a) == a, "NormalizeDecimal changed a non-decimal '%.*s'", SV(a));
    FUZZ_CHECK(!bx::ShiftDecimalLeft(a, 2).has_value(), "ShiftDecimalLeft accepted '%.*s'", SV(a));
    FUZZ_CHECK(!bx::MultiplyDecimal(a, "1").has_value(), "MultiplyDecimal accepted '%.*s'", SV(a));
    return;
  }
  const std::string n = bx::NormalizeDecimal(a);
  FUZZ_CHECK(bx::IsDecimal(n) && bx::NormalizeDecimal(n) == n, "Normalize('%.*s') = '%s'", SV(a), n.c_str());
  FUZZ_CHECK(bx::CompareDecimal(a, n) == 0, "Normalize('%.*s') = '%s' changed the value", SV(a), n.c_str());
  FUZZ_CHECK(bx::IsPositiveDecimal(a) == (bx::CompareDecimal(a, "0") == 1), "IsPositiveDecimal('%.*s')", SV(a));
  FUZZ_CHECK(bx::FractionDigits(a) == bx::FractionDigits(n), "FractionDigits('%.*s')", SV(a));
  for (int digits : {0, 1, 2, 8}) {
    const std::string t = bx::TruncateDecimal(a, digits);
    FUZZ_CHECK(bx::IsDecimal(t) && bx::FractionDigits(t) <= digits, "Truncate('%.*s', %d) = '%s'", SV(a), digits,
               t.c_str());
    FUZZ_CHECK(bx::CompareDecimal(Abs(t), Abs(a)) != 1, "Truncate('%.*s', %d) = '%s' grew", SV(a), digits, t.c_str());
  }
  if (auto one = bx::MultiplyDecimal(a, "1")) FUZZ_CHECK(*one == n, "'%.*s' x 1 = '%s'", SV(a), one->c_str());
  for (int places : {0, 2, 7}) {
    auto shifted = bx::ShiftDecimalLeft(a, places);
    FUZZ_CHECK(shifted.has_value(), "ShiftDecimalLeft('%.*s', %d) refused a decimal", SV(a), places);
    auto back = bx::MultiplyDecimal(*shifted, "1" + std::string(static_cast<size_t>(places), '0'));
    if (back) FUZZ_CHECK(*back == n, "shift %d of '%.*s' and back = '%s'", places, SV(a), back->c_str());
  }
  FUZZ_CHECK(bx::PercentToFraction(a) == *bx::ShiftDecimalLeft(a, 2), "PercentToFraction('%.*s')", SV(a));
  if (db) {
    FUZZ_CHECK(bx::MultiplyDecimal(a, b) == bx::MultiplyDecimal(b, a), "product of '%.*s' '%.*s' not commutative",
               SV(a), SV(b));
  }
}

void CheckInt(std::string_view s) {
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  const bool whole = ec == std::errc() && ptr == s.data() + s.size();
  const auto mine = bx::ParseInt64(s);
  FUZZ_CHECK(mine.has_value() == whole, "ParseInt64('%.*s') defined=%d, from_chars whole=%d", SV(s),
             mine.has_value(), whole);
  if (mine) FUZZ_CHECK(*mine == v, "ParseInt64('%.*s') = %lld", SV(s), static_cast<long long>(*mine));
}

void CheckTime(std::string_view s) {
  (void)bx::ParseTimeMs(s);
  (void)bx::net::ParseHttpDateMs(s);
  auto ms = bx::ParseIso8601Ms(s);
  // Years 0..9999 have one four-digit form; the formatter is only defined there.
  if (!ms || *ms < -62167219200000 || *ms > 253402300799999) return;
  const std::string text = bx::FormatIso8601Seconds(*ms);
  const auto again = bx::ParseIso8601Ms(text);
  FUZZ_CHECK(again && *again == bx::FloorDiv(*ms, 1000) * 1000, "'%.*s' -> %lld -> '%s' -> %lld", SV(s),
             static_cast<long long>(*ms), text.c_str(), static_cast<long long>(again.value_or(-1)));
}

void CheckUrl(std::string_view s) {
  (void)bx::ParseHostPort(s);
  auto url = bx::ParseUrl(s);
  if (!url.ok()) return;
  const std::string text = url->ToString();
  auto again = bx::ParseUrl(text);
  FUZZ_CHECK(again.ok(), "'%.*s' -> '%s' does not parse: %s", SV(s), text.c_str(), again.status().ToString().c_str());
  FUZZ_CHECK(again->scheme == url->scheme && again->host == url->host && again->port == url->port &&
                 again->target == url->target,
             "'%.*s' -> '%s' parses differently", SV(s), text.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [a, b] = bx::fuzz::SplitLine(bx::fuzz::AsText(data, size));
  CheckDecimal(a, b);
  CheckDecimal(b, a);
  for (std::string_view s : {a, b}) {
    CheckInt(s);
    CheckTime(s);
    CheckUrl(s);
  }
  return 0;
}
