// Parsing of the HTTP `Date` header (RFC 9110 §5.6.7): the exchange has no server-time endpoint,
// so the clock offset is estimated from this header.
#pragma once

#include <cstdint>
#include <string_view>

namespace bx::net {

/// Milliseconds since the Unix epoch for an HTTP date, or 0 when `value` is not one.
/// Accepts IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the two obsolete forms recipients
/// must accept: RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
int64_t ParseHttpDateMs(std::string_view value);

}  // namespace bx::net
