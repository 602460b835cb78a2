#include "common/signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace bx {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string ToHex(const unsigned char* data, size_t n) {
  std::string out(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xF];
  }
  return out;
}

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  // Fetched once and kept for the life of the process.
  static const EVP_MD* const md = [] {
    const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) throw std::runtime_error("OpenSSL has no SHA256");
    return m;
  }();
  Sha256Digest out{};
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1 || n != out.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  const Sha256Digest md = Sha256(data);
  return ToHex(md.data(), md.size());
}

bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

QueryParams CanonicalParams(QueryParams params) {
  params.erase(std::remove_if(params.begin(), params.end(),
                              [](const auto& kv) { return kv.second.empty(); }),
               params.end());
  std::stable_sort(params.begin(), params.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return params;
}

std::string SignQueryString(const QueryParams& canonical) {
  std::string out;
  for (const auto& [k, v] : canonical) {
    out += k;
    out += v;
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back("0123456789ABCDEF"[c >> 4]);
      out.push_back("0123456789ABCDEF"[c & 0xF]);
    }
  }
  return out;
}

std::string UrlQueryString(const QueryParams& canonical) {
  std::string out;
  for (const auto& [k, v] : canonical) {
    if (!out.empty()) out += '&';
    out += UrlEncode(k);
    out += '=';
    out += UrlEncode(v);
  }
  return out;
}

std::string RestDigest(std::string_view nonce, std::string_view timestamp, std::string_view api_key,
                       std::string_view sign_query, std::string_view body) {
  std::string input;
  input.reserve(nonce.size() + timestamp.size() + api_key.size() + sign_query.size() + body.size());
  input.append(nonce).append(timestamp).append(api_key).append(sign_query).append(body);
  return Sha256Hex(input);
}

std::string RestSign(std::string_view nonce, std::string_view timestamp, std::string_view api_key,
                     std::string_view sign_query, std::string_view body, std::string_view secret) {
  std::string second = RestDigest(nonce, timestamp, api_key, sign_query, body);
  second.append(secret);
  std::string sign = Sha256Hex(second);
  OPENSSL_cleanse(second.data(), second.size());
  return sign;
}

std::string WsLoginSign(std::string_view nonce, std::string_view timestamp, std::string_view api_key,
                        std::string_view secret) {
  std::string first;
  first.append(nonce).append(timestamp).append(api_key);
  std::string second = Sha256Hex(first);
  second.append(secret);
  std::string sign = Sha256Hex(second);
  OPENSSL_cleanse(second.data(), second.size());
  return sign;
}

std::string RandomNonce() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return ToHex(bytes.data(), bytes.size());
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Compare digests so the time does not depend on where the inputs differ or on their lengths.
  return DigestsEqual(Sha256(a), Sha256(b)) && a.size() == b.size();
}

}  // namespace bx
