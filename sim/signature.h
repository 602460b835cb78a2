// Server-side checks of the exchange's authentication (shared/bitunix-api.md §2 and §4):
// REST: sign = hex(SHA256(hex(SHA256(nonce + timestamp + apiKey + sortedQuery + body)) + secret)),
// where sortedQuery is key+value of the URL's decoded parameters sorted by key and body is the
// exact request bytes. WS login: hex(SHA256(hex(SHA256(nonce + timestamp + apiKey)) + secret)).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/ws_protocol.h"

namespace bx::sim {

struct Credentials {
  std::string api_key;
  std::string secret;
};

/// 0 when accepted, else the envelope code and message to answer with.
struct AuthVerdict {
  int code = 0;
  std::string msg;
  bool ok() const { return code == 0; }
};

struct SignedRestRequest {
  std::string api_key;    ///< header api-key
  std::string nonce;      ///< header nonce
  std::string timestamp;  ///< header timestamp (ms)
  std::string sign;       ///< header sign
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded, as in the URL
  std::string body;       ///< exact bytes
};

/// Codes: 10003 empty or unknown api-key; 10007 "Signature Error" for a missing nonce/timestamp/
/// sign or a mismatch; 10002 for a timestamp outside +-window_ms of `now_ms` (the live futures
/// code for this is undocumented; see docs/ARCHITECTURE.md).
AuthVerdict VerifyRestRequest(const SignedRestRequest& req, const Credentials& creds, int64_t now_ms,
                              int64_t window_ms);

/// Accepts timestamps in seconds (docs, Python demo) and milliseconds (Java demo, Rust SDK); the
/// signature covers the timestamp exactly as sent.
AuthVerdict VerifyWsLogin(const LoginArgs& login, const Credentials& creds, int64_t now_ms, int64_t window_ms);

}  // namespace bx::sim
