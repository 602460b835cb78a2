// TLS settings for connections to the exchange.
#pragma once

#include <string>

namespace bx::net {

struct TlsOptions {
  /// PEM CA bundle; empty = the system CA store (Debian: /etc/ssl/certs).
  std::string ca_file;
  /// Verify the peer certificate chain and host name (SNI is always sent). Only tests against a
  /// throwaway self-signed simulator would ever turn this off; prefer ca_file.
  bool verify = true;
};

}  // namespace bx::net
