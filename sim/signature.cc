#include "sim/signature.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "common/signing.h"

namespace bx::sim {
namespace {

std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Exactly: the reference documents `sign` as 64 lowercase hex characters, the exchange computes
// it as lowercase hex and nothing says it folds case. Accepting upper case would let a client
// that sends it pass here and fail live.
bool SignMatches(const std::string& expected, const std::string& given) { return ConstantTimeEquals(expected, given); }

}  // namespace

AuthVerdict VerifyRestRequest(const SignedRestRequest& req, const Credentials& creds, int64_t now_ms,
                              int64_t window_ms) {
  if (req.api_key.empty()) return {10003, "api-key can't be empty"};
  if (!ConstantTimeEquals(req.api_key, creds.api_key)) return {10003, "Invalid api-key"};
  if (req.sign.empty() || req.nonce.empty() || req.timestamp.empty()) return {10007, "Signature Error"};
  auto ts = ParseInt(req.timestamp);
  if (!ts) return {10007, "Signature Error"};
  if (std::llabs(*ts - now_ms) > window_ms) {
    return {10002, absl::StrCat("Parameter error: timestamp ", req.timestamp,
                                " is outside the allowed window of ", window_ms, " ms around server time ",
                                now_ms)};
  }
  // Sorted by key (stable: repeated keys keep URL order). Clients differ on empty values (Java and
  // CCXT drop them from URL and signature; others sign "key" alone): accept either.
  auto sorted = req.query;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string with_empty, without_empty;
  bool has_empty = false;
  for (const auto& [k, v] : sorted) {
    with_empty += k + v;
    if (v.empty()) {
      has_empty = true;
    } else {
      without_empty += k + v;
    }
  }
  if (SignMatches(RestSign(req.nonce, req.timestamp, req.api_key, with_empty, req.body, creds.secret), req.sign)) {
    return {};
  }
  if (has_empty &&
      SignMatches(RestSign(req.nonce, req.timestamp, req.api_key, without_empty, req.body, creds.secret), req.sign)) {
    return {};
  }
  return {10007, "Signature Error"};
}

AuthVerdict VerifyWsLogin(const LoginArgs& login, const Credentials& creds, int64_t now_ms, int64_t window_ms) {
  if (login.api_key.empty()) return {10003, "api-key can't be empty"};
  if (!ConstantTimeEquals(login.api_key, creds.api_key)) return {10003, "Invalid api-key"};
  if (login.sign.empty() || login.nonce.empty() || login.timestamp.empty()) return {10007, "Signature Error"};
  auto ts = ParseInt(login.timestamp);
  if (!ts) return {10007, "Signature Error"};
  // Seconds are ten digits until 2286; anything bigger is milliseconds.
  const int64_t ts_ms = *ts < 100'000'000'000LL ? *ts * 1000 : *ts;
  if (std::llabs(ts_ms - now_ms) > window_ms) {
    return {10002, absl::StrCat("Parameter error: timestamp ", login.timestamp, " is outside the allowed window")};
  }
  if (!SignMatches(WsLoginSign(login.nonce, login.timestamp, login.api_key, creds.secret), login.sign)) {
    return {10007, "Signature Error"};
  }
  return {};
}

}  // namespace bx::sim
