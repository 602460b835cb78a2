// Opt-in gzip replies on the exchange port (--gzip-replies): the exchange's CDN answers
// `Accept-Encoding: gzip` with gzip bodies, and clients must decode them.
#pragma once

#include <string>
#include <string_view>

namespace bx::sim {

/// Whether an `Accept-Encoding` value accepts gzip: a `gzip` or `x-gzip` coding (any case) whose
/// q-value is not 0, or `*` with q > 0 (RFC 9110 §12.5.3).
bool AcceptsGzip(std::string_view accept_encoding);

/// `body` as a gzip member (RFC 1952), default compression.
std::string GzipCompress(std::string_view body);

}  // namespace bx::sim
