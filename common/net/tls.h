// TLS settings for connections to the exchange.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace bx::net {

struct TlsOptions {
  /// PEM CA bundle; empty = the system CA store (Debian: /etc/ssl/certs).
  std::string ca_file;
  /// Verify the peer certificate chain and host name (SNI is always sent). Only tests against a
  /// throwaway self-signed simulator would ever turn this off; prefer ca_file.
  bool verify = true;
};

/// Whether these settings can make connections: a set `ca_file` exists, can be read and holds
/// certificates (INVALID_ARGUMENT naming the file and the reason otherwise). The services call it
/// at start-up, so that a wrong path stops them instead of failing every connection later as if
/// the exchange were unreachable.
absl::Status CheckTlsOptions(const TlsOptions& options);

}  // namespace bx::net
