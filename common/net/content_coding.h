// HTTP Content-Encoding decoding (gzip, deflate, identity) with zlib, bounded in output size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace bx::net {

/// Decodes `body` per the `Content-Encoding` header value `encoding` ("" / "identity", "gzip",
/// "x-gzip", "deflate", or a comma list of them, applied in order so decoded in reverse).
/// "deflate" accepts both zlib-wrapped (RFC 9110) and raw deflate (what some servers send).
/// Errors: INTERNAL for corrupt or truncated data, or output over `max_bytes`; UNIMPLEMENTED for an
/// unknown coding. Pure function, thread-safe.
absl::StatusOr<std::string> DecodeContent(std::string_view encoding, std::string body,
                                          size_t max_bytes);

}  // namespace bx::net
