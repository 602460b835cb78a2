// Private to common/net: the OpenSSL/Asio side of TlsOptions, shared by the HTTP and WS adapters.
// Includes Asio, so only common/net/*.cc may include it (public headers stay Beast-free).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/system/error_code.hpp>

#include "absl/status/statusor.h"
#include "common/net/tls.h"

namespace bx::net::internal {

/// A client context: TLS 1.2+, the system CA store or `ca_file`, peer verification per `verify`.
/// INVALID_ARGUMENT when the CA file cannot be loaded.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeClientTlsContext(
    const TlsOptions& options);

/// Why verification failed, filled by the verify callback (the OpenSSL error alone only says
/// "certificate verify failed").
struct VerifyFailure {
  std::string reason;
};

/// Prepares one connection's SSL object: SNI (skipped for IP literals, RFC 6066 §3) and, when
/// `verify`, chain + host-name verification recording the failure reason into `failure`.
/// Returns a non-empty error message on failure.
template <class SslStream>
std::string PrepareTlsStream(SslStream& stream, const std::string& host, bool verify,
                             const std::shared_ptr<VerifyFailure>& failure);

/// Human-readable text for a transport error: "tls: certificate verify failed: <why>",
/// "tls: stream truncated", or the system message ("Connection refused").
std::string DescribeNetError(const boost::system::error_code& ec, const VerifyFailure* failure);

/// True for errors from the TLS layer (handshake, alerts, truncation).
bool IsTlsError(const boost::system::error_code& ec);

/// The SSL* part of PrepareTlsStream (not a template).
std::string SetServerName(SSL* ssl, const std::string& host);
bool VerifyPeer(bool preverified, boost::asio::ssl::verify_context& ctx, const std::string& host,
                VerifyFailure* failure);

template <class SslStream>
std::string PrepareTlsStream(SslStream& stream, const std::string& host, bool verify,
                             const std::shared_ptr<VerifyFailure>& failure) {
  std::string err = SetServerName(stream.native_handle(), host);
  if (!err.empty()) return err;
  if (verify) {
    boost::system::error_code ec;
    stream.set_verify_mode(boost::asio::ssl::verify_peer, ec);
    if (!ec) {
      stream.set_verify_callback(
          [host, failure](bool preverified, boost::asio::ssl::verify_context& ctx) {
            return VerifyPeer(preverified, ctx, host, failure.get());
          },
          ec);
    }
    if (ec) return "tls: cannot set up verification: " + ec.message();
  }
  return {};
}

}  // namespace bx::net::internal
