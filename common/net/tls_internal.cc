#include "common/net/tls_internal.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include "absl/strings/str_cat.h"

namespace bx::net::internal {

namespace ssl = boost::asio::ssl;

absl::StatusOr<std::shared_ptr<ssl::context>> MakeClientTlsContext(const TlsOptions& options) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (ec) return absl::InternalError(absl::StrCat("tls: set_options: ", ec.message()));
  if (options.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls: cannot load the system CA store: ", ec.message()));
    }
  } else {
    if (std::FILE* f = std::fopen(options.ca_file.c_str(), "rb"); f == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls: cannot read ca_file '", options.ca_file, "': ", std::strerror(errno)));
    } else {
      std::fclose(f);
    }
    ERR_clear_error();
    ctx->load_verify_file(options.ca_file, ec);
    if (ec) {
      // Boost's message for OpenSSL 3 error codes is only "asio.ssl error": ask OpenSSL.
      char why[256] = "no PEM certificate found";
      if (const unsigned long e = ERR_peek_last_error(); e != 0) ERR_error_string_n(e, why, sizeof why);
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("tls: cannot load ca_file '", options.ca_file, "': ", why));
    }
  }
  ctx->set_verify_mode(options.verify ? ssl::verify_peer : ssl::verify_none, ec);
  if (ec) return absl::InternalError(absl::StrCat("tls: set_verify_mode: ", ec.message()));
  return ctx;
}

}  // namespace bx::net::internal

namespace bx::net {

absl::Status CheckTlsOptions(const TlsOptions& options) {
  return internal::MakeClientTlsContext(options).status();
}

}  // namespace bx::net

namespace bx::net::internal {

std::string SetServerName(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (!ec) return {};  // an IP literal: SNI must not carry addresses
  // SSL_set_tlsext_host_name is a macro with a C-style cast inside; keep it in one place.
  if (SSL_set_tlsext_host_name(ssl, const_cast<char*>(host.c_str())) != 1) {
    return absl::StrCat("tls: cannot set SNI host name '", host, "'");
  }
  return {};
}

bool VerifyPeer(bool preverified, ssl::verify_context& ctx, const std::string& host,
                VerifyFailure* failure) {
  X509_STORE_CTX* store = ctx.native_handle();
  if (!preverified) {
    const int err = X509_STORE_CTX_get_error(store);
    if (failure != nullptr && failure->reason.empty()) {
      failure->reason = absl::StrCat(X509_verify_cert_error_string(err), " (depth ",
                                     X509_STORE_CTX_get_error_depth(store), ")");
    }
    return false;
  }
  if (!ssl::host_name_verification(host)(preverified, ctx)) {
    if (failure != nullptr && failure->reason.empty()) {
      failure->reason = absl::StrCat("host name mismatch: the certificate is not valid for '",
                                     host, "'");
    }
    return false;
  }
  return true;
}

bool IsTlsError(const boost::system::error_code& ec) {
  return ec.category() == boost::asio::error::get_ssl_category() ||
         ec.category() == ssl::error::get_stream_category();
}

std::string DescribeNetError(const boost::system::error_code& ec, const VerifyFailure* failure) {
  if (ec == ssl::error::stream_truncated) {
    return "tls: stream truncated (peer closed the connection without close_notify)";
  }
  if (IsTlsError(ec)) {
    if (failure != nullptr && !failure->reason.empty()) {
      return absl::StrCat("tls: certificate verify failed: ", failure->reason);
    }
    // OpenSSL 3 packs library + reason into the code; the reason string is the useful part.
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    return absl::StrCat("tls: ", reason != nullptr ? std::string(reason) : ec.message());
  }
  return ec.message();
}

}  // namespace bx::net::internal
