#include "services/orders/request_signer.h"

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace bx::orders {

Credentials::Credentials(std::string api_key, std::string secret)
    : api_key_(std::move(api_key)), secret_(std::move(secret)) {}

Credentials::~Credentials() {
  if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
}

RequestSigner::RequestSigner(std::shared_ptr<const Credentials> credentials, const Clock& clock,
                             const SkewEstimator* skew, bool apply_skew, NonceSource nonce)
    : credentials_(std::move(credentials)),
      clock_(clock),
      skew_(skew),
      apply_skew_(apply_skew),
      nonce_(std::move(nonce)) {}

int64_t RequestSigner::TimestampMs() const {
  int64_t ts = clock_.NowMs();
  if (apply_skew_ && skew_ != nullptr) ts += skew_->OffsetMs();
  return ts;
}

SignedRequest RequestSigner::Build(const Endpoint& endpoint, const QueryParams& query, std::string body) const {
  SignedRequest r;
  r.method = endpoint.post ? "POST" : "GET";
  QueryParams canonical = endpoint.post ? QueryParams{} : CanonicalParams(query);
  r.target = std::string(endpoint.path);
  if (!canonical.empty()) r.target += "?" + UrlQueryString(canonical);
  r.body = endpoint.post ? std::move(body) : std::string();
  r.http.method = r.method;
  r.http.target = r.target;
  r.http.body = r.body;
  if (endpoint.is_signed) {
    r.timestamp = std::to_string(TimestampMs());
    r.nonce = nonce_();
    r.sign = RestSign(r.nonce, r.timestamp, credentials_->api_key(), SignQueryString(canonical), r.body,
                      credentials_->secret());
    r.http.headers = {{"api-key", credentials_->api_key()},
                      {"nonce", r.nonce},
                      {"timestamp", r.timestamp},
                      {"sign", r.sign}};
  }
  r.http.headers.emplace_back("Content-Type", "application/json");
  r.http.headers.emplace_back("language", "en-US");
  return r;
}

std::string RequestSigner::WsLoginMessage() const {
  const std::string ts = std::to_string(TimestampMs() / 1000);
  const std::string nonce = nonce_();
  const std::string sign = WsLoginSign(nonce, ts, credentials_->api_key(), credentials_->secret());
  return absl::StrCat(R"({"op":"login","args":[{"apiKey":")", JsonEscape(credentials_->api_key()),
                      R"(","timestamp":)", ts, R"(,"nonce":")", nonce, R"(","sign":")", sign, R"("}]})");
}

}  // namespace bx::orders
