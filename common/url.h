// Minimal URL parsing for the exchange endpoints: ws://, wss://, http://, https://.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace bx {

struct Url {
  std::string scheme;  // "ws", "wss", "http", "https"
  std::string host;    // without brackets for IPv6
  uint16_t port = 0;   // explicit or the scheme default
  std::string target;  // path + query, at least "/"
  bool tls() const { return scheme == "wss" || scheme == "https"; }
  /// "host" or "host:port" when the port is not the scheme default (the HTTP Host header).
  std::string HostHeader() const;
  std::string ToString() const;
};

absl::StatusOr<Url> ParseUrl(std::string_view text);

/// HOST:PORT, [v6]:PORT. Port 0 allowed (pick a free port).
absl::StatusOr<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text);

}  // namespace bx
