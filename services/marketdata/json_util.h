// simdjson On Demand helpers shared by the WebSocket frame parser and the REST reply parsers.
// Decimals come back as the exact text sent (strings, or the token of a JSON number).
//
// Header-only on purpose: each translation unit instantiates them for the SIMD kernel it was
// compiled for (the frame parser is built for AVX2, the REST parsers portably).
#pragma once

#include <simdjson.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/decimal.h"
#include "common/time_util.h"

namespace bx::md::json {

namespace od = simdjson::ondemand;

/// Internal errors are static strings: no allocation until a caller turns one into a Status.
using Err = const char*;
inline constexpr Err kOk = nullptr;

inline std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

/// Whether `s`, a view into a simdjson document, holds a backslash. Eight bytes at a time: the
/// document's SIMDJSON_PADDING makes the bytes after the last token readable, and the bytes past
/// `s` are masked off. (Keys and values are a few bytes: a memchr call costs more than this.)
[[gnu::always_inline]] inline bool HasBackslash(std::string_view s) {
  if constexpr (std::endian::native != std::endian::little) {
    return s.find('\\') != std::string_view::npos;
  } else {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHigh = 0x8080808080808080ULL;
    for (size_t i = 0; i < s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      const uint64_t x = w ^ (kOnes * '\\');  // a zero byte where s has a backslash
      // High bit of each zero byte. A byte above a zero byte may be flagged too (the borrow), but
      // never without a real zero byte below it, so the masked result is exact.
      uint64_t m = (x - kOnes) & ~x & kHigh;
      if (s.size() - i < 8) m &= (uint64_t{1} << (8 * (s.size() - i))) - 1;
      if (m != 0) return true;
    }
    return false;
  }
}

[[gnu::noinline]] inline bool UnescapeString(od::value& v, std::string_view* out) {
  return !v.get_string().get(*out);
}

/// The text of a string value, consumed as get_string() would (an unconsumed value is skipped
/// more leniently by the iterator: malformed input must fail where it always did). Without a
/// backslash the text is the token itself, a view into the document exactly as simdjson would
/// copy it: no out-of-line unescape call and no copy into the parser's string buffer. With one it
/// is unescaped by simdjson. False if the value is not a string or does not unescape.
inline bool StringText(od::value& v, std::string_view* out) {
  // The token runs to the next structural character: the closing quote, then only whitespace.
  const std::string_view tok = v.raw_json_token();
  od::raw_json_string raw;
  if (v.get_raw_json_string().get(raw)) return false;  // checks the quote, advances the iterator
  const std::string_view t = TrimRight(tok);
  if (t.size() >= 2 && t.back() == '"') {
    const std::string_view body = t.substr(1, t.size() - 2);
    if (!HasBackslash(body)) {
      *out = body;
      return true;
    }
  }
  return UnescapeString(v, out);
}

/// A decimal sent as a string or as a JSON number. `allow_empty` accepts "" (the exchange's empty
/// book level); null reads as "" when allowed. The type comes from the token's first character,
/// as simdjson's type() does.
inline Err ReadDecimal(od::value& v, std::string_view* out, bool allow_empty, Err what) {
  const std::string_view tok = v.raw_json_token();
  if (tok.empty()) return what;
  switch (tok.front()) {
    case '"':
      if (!StringText(v, out)) return what;
      if (out->empty()) return allow_empty ? kOk : what;
      return IsDecimal(*out) ? kOk : what;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
      *out = TrimRight(tok);
      return IsDecimal(*out) ? kOk : what;
    case 'n':
      if (!allow_empty) return what;
      *out = {};
      return kOk;
    default:
      return what;
  }
}

/// An integer sent as a JSON number or a digit string.
inline Err ReadInt(od::value& v, int64_t* out, Err what) {
  od::json_type t;
  if (v.type().get(t)) return what;
  if (t == od::json_type::number) return v.get_int64().get(*out) ? what : kOk;
  if (t == od::json_type::string) {
    std::string_view s;
    if (!StringText(v, &s)) return what;
    auto n = ParseInt64(s);
    if (!n) return what;
    *out = *n;
    return kOk;
  }
  return what;
}

/// The two halves of IsoSecondsZ, for a caller that converts a date once and reuses it.
/// IsoDate: s[0..9] is "YYYY-MM-DD" (month 1-12, day 1-31); `days` since the epoch.
/// IsoTimeOfDayZ: s[10..19] is "THH:MM:SSZ" (hour <= 23, minute <= 59, second <= 60); `secs` of the
/// day. Both need s.size() == 20.
[[gnu::always_inline]] inline bool IsoDate(std::string_view s, int64_t* days) {
  if (s[4] != '-' || s[7] != '-') return false;
  unsigned d[10];
  for (size_t i = 0; i < 10; ++i) d[i] = static_cast<unsigned char>(s[i]) - unsigned{'0'};
  if (d[0] > 9 || d[1] > 9 || d[2] > 9 || d[3] > 9 || d[5] > 9 || d[6] > 9 || d[8] > 9 || d[9] > 9) return false;
  const int64_t year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3];
  const int64_t month = d[5] * 10 + d[6], day = d[8] * 10 + d[9];
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  *days = DaysFromCivil({year, static_cast<unsigned>(month), static_cast<unsigned>(day)});
  return true;
}

[[gnu::always_inline]] inline bool IsoTimeOfDayZ(std::string_view s, int64_t* secs) {
  if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z') return false;
  unsigned d[8];
  for (size_t i = 0; i < 8; ++i) d[i] = static_cast<unsigned char>(s[11 + i]) - unsigned{'0'};
  if (d[0] > 9 || d[1] > 9 || d[3] > 9 || d[4] > 9 || d[6] > 9 || d[7] > 9) return false;
  const int64_t hour = d[0] * 10 + d[1], minute = d[3] * 10 + d[4], second = d[6] * 10 + d[7];
  if (hour > 23 || minute > 59 || second > 60) return false;
  *secs = hour * 3600 + minute * 60 + second;
  return true;
}

/// "2026-04-07T05:47:52Z", the form of every live trade and funding time: the value
/// ParseIso8601Ms gives, without its general scanner. False for anything else, including
/// out-of-range fields: the caller then asks ParseIso8601Ms, which decides.
///
/// Always inlined, like HasBackslash: the frame parser's copy is compiled for AVX2, and an
/// out-of-line copy of a helper without simdjson types in its name could be shared with a
/// portable translation unit at link time.
[[gnu::always_inline]] inline bool IsoSecondsZ(std::string_view s, int64_t* out) {
  int64_t days = 0, secs = 0;
  if (s.size() != 20 || !IsoTimeOfDayZ(s, &secs) || !IsoDate(s, &days)) return false;
  *out = (days * 86400 + secs) * 1000;
  return true;
}

/// A time sent as ms (number or digit string) or ISO-8601; null and "" read as 0.
inline Err ReadTime(od::value& v, int64_t* out, Err what) {
  od::json_type t;
  if (v.type().get(t)) return what;
  if (t == od::json_type::null) {
    *out = 0;
    return kOk;
  }
  if (t == od::json_type::number) return v.get_int64().get(*out) ? what : kOk;
  if (t == od::json_type::string) {
    std::string_view s;
    if (!StringText(v, &s)) return what;
    if (s.empty()) {
      *out = 0;
      return kOk;
    }
    if (IsoSecondsZ(s, out)) return kOk;
    // Other ISO-8601 forms cannot be integers either: a '-' after the first character ends
    // ParseInt64, so go straight to ISO-8601 (ParseTimeMs would try both).
    auto ms = s.size() > 4 && s[4] == '-' ? ParseIso8601Ms(s) : ParseTimeMs(s);
    if (!ms) return what;
    *out = *ms;
    return kOk;
  }
  return what;
}

inline Err ReadString(od::value& v, std::string_view* out, Err what) {
  return StringText(v, out) ? kOk : what;
}

/// Any scalar as text: strings as they are, numbers/bools as their token, null as "".
inline Err ReadScalarText(od::value& v, std::string_view* out, Err what) {
  od::json_type t;
  if (v.type().get(t)) return what;
  switch (t) {
    case od::json_type::string: return v.get_string().get(*out) ? what : kOk;
    case od::json_type::number:
    case od::json_type::boolean: *out = TrimRight(v.raw_json_token()); return kOk;
    case od::json_type::null: *out = {}; return kOk;
    default: return what;
  }
}

}  // namespace bx::md::json
