// Bitunix request signing (shared/bitunix-api.md section 2): two plain SHA-256 passes, not HMAC.
//   digest = hex(SHA256(nonce + timestamp + apiKey + sortedQuery + body))
//   sign   = hex(SHA256(digest + secretKey))
// sortedQuery concatenates key+value (no '=' or '&') of the query parameters sorted by key.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bx {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

using Sha256Digest = std::array<unsigned char, 32>;

/// SHA-256 of `data`. OpenSSL's implementation is fetched once per process, not per call as
/// `SHA256()` does in OpenSSL 3 (which made a 144-byte hash cost ~0.9 µs instead of ~0.3).
Sha256Digest Sha256(std::string_view data);

/// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

/// Whether two digests are equal, in time that does not depend on where they differ.
bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b);

/// Parameters sorted by key (ASCII, stable), empty values dropped: what is signed and sent.
QueryParams CanonicalParams(QueryParams params);

/// "k1v1k2v2..." of canonical params: the query part of the signature input.
std::string SignQueryString(const QueryParams& canonical);

/// "k1=v1&k2=v2" URL-encoded, for the request target (same order as signed).
std::string UrlQueryString(const QueryParams& canonical);

/// RFC 3986 percent-encoding of everything but unreserved characters.
std::string UrlEncode(std::string_view s);

/// REST `sign` header value.
std::string RestSign(std::string_view nonce, std::string_view timestamp, std::string_view api_key,
                     std::string_view sign_query, std::string_view body, std::string_view secret);

/// First pass only (exposed for tests against the official digest vector).
std::string RestDigest(std::string_view nonce, std::string_view timestamp, std::string_view api_key,
                       std::string_view sign_query, std::string_view body);

/// WebSocket login `sign`: hex(SHA256(hex(SHA256(nonce + timestamp + apiKey)) + secret)).
std::string WsLoginSign(std::string_view nonce, std::string_view timestamp, std::string_view api_key,
                        std::string_view secret);

/// 32 random lower-case hex characters from a CSPRNG (OpenSSL RAND_bytes).
std::string RandomNonce();

/// Constant-time comparison (for tokens and signatures).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace bx
