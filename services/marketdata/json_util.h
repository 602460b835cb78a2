// simdjson On Demand helpers shared by the WebSocket frame parser and the REST reply parsers.
// Decimals come back as the exact text sent (strings, or the token of a JSON number).
//
// Header-only on purpose: each translation unit instantiates them for the SIMD kernel it was
// compiled for (the frame parser is built for AVX2, the REST parsers portably).
#pragma once

#include <simdjson.h>

#include <cstdint>
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

/// A decimal sent as a string or as a JSON number. `allow_empty` accepts "" (the exchange's empty
/// book level); null reads as "" when allowed.
inline Err ReadDecimal(od::value v, std::string_view* out, bool allow_empty, Err what) {
  od::json_type t;
  if (v.type().get(t)) return what;
  if (t == od::json_type::string) {
    if (v.get_string().get(*out)) return what;
    if (out->empty()) return allow_empty ? kOk : what;
    return IsDecimal(*out) ? kOk : what;
  }
  if (t == od::json_type::number) {
    *out = TrimRight(v.raw_json_token());
    return IsDecimal(*out) ? kOk : what;
  }
  if (t == od::json_type::null && allow_empty) {
    *out = {};
    return kOk;
  }
  return what;
}

/// An integer sent as a JSON number or a digit string.
inline Err ReadInt(od::value v, int64_t* out, Err what) {
  od::json_type t;
  if (v.type().get(t)) return what;
  if (t == od::json_type::number) return v.get_int64().get(*out) ? what : kOk;
  if (t == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return what;
    auto n = ParseInt64(s);
    if (!n) return what;
    *out = *n;
    return kOk;
  }
  return what;
}

/// A time sent as ms (number or digit string) or ISO-8601; null and "" read as 0.
inline Err ReadTime(od::value v, int64_t* out, Err what) {
  od::json_type t;
  if (v.type().get(t)) return what;
  if (t == od::json_type::null) {
    *out = 0;
    return kOk;
  }
  if (t == od::json_type::number) return v.get_int64().get(*out) ? what : kOk;
  if (t == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return what;
    if (s.empty()) {
      *out = 0;
      return kOk;
    }
    auto ms = ParseTimeMs(s);
    if (!ms) return what;
    *out = *ms;
    return kOk;
  }
  return what;
}

inline Err ReadString(od::value v, std::string_view* out, Err what) {
  return v.get_string().get(*out) ? what : kOk;
}

/// Any scalar as text: strings as they are, numbers/bools as their token, null as "".
inline Err ReadScalarText(od::value v, std::string_view* out, Err what) {
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
