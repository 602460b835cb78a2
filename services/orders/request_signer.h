// Builds signed Bitunix REST requests (shared/bitunix-api.md section 2): the query sorted by key
// with empty values dropped from both the URL and the signature, the body serialised once and
// those exact bytes signed and sent, the timestamp in ms corrected by the estimated clock skew.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/net/http_client.h"
#include "common/signing.h"
#include "services/orders/clock_skew.h"
#include "services/orders/endpoints.h"

namespace bx::orders {

/// The exchange API key and secret. Never printed: there is no operator<< and no accessor that
/// returns them formatted; the secret is wiped on destruction.
class Credentials {
 public:
  Credentials() = default;
  Credentials(std::string api_key, std::string secret);
  ~Credentials();
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  const std::string& api_key() const { return api_key_; }
  const std::string& secret() const { return secret_; }
  bool empty() const { return api_key_.empty() || secret_.empty(); }

 private:
  std::string api_key_;
  std::string secret_;
};

/// What is (or would be) sent: the dry-run view, and the HTTP request itself.
struct SignedRequest {
  std::string method;
  std::string target;  ///< path + "?" + URL-encoded sorted query
  std::string body;    ///< the exact signed bytes
  std::string timestamp;
  std::string nonce;
  std::string sign;
  net::HttpRequest http;
};

class RequestSigner {
 public:
  using NonceSource = std::function<std::string()>;
  /// `skew` may be null (no correction). `apply_skew` false keeps local time.
  RequestSigner(std::shared_ptr<const Credentials> credentials, const Clock& clock, const SkewEstimator* skew,
                bool apply_skew = true, NonceSource nonce = RandomNonce);

  /// Thread-safe. Signs when the endpoint is signed; GET params go in the query, POST carries only
  /// `body` (parameters in both would break the signature: 10007).
  SignedRequest Build(const Endpoint& endpoint, const QueryParams& query, std::string body) const;

  /// Timestamp (ms) the next request would carry.
  int64_t TimestampMs() const;
  const std::string& api_key() const { return credentials_->api_key(); }
  bool applies_skew() const { return apply_skew_ && skew_ != nullptr; }
  /// The WebSocket login message (timestamp in seconds, the form confirmed live).
  std::string WsLoginMessage() const;

 private:
  std::shared_ptr<const Credentials> credentials_;
  const Clock& clock_;
  const SkewEstimator* skew_;
  bool apply_skew_;
  NonceSource nonce_;
};

}  // namespace bx::orders
