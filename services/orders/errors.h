// The error model: every failure is an absl::Status whose payload carries a
// bitunix.common.v1.ExchangeError (code, message, endpoint, gateway reason, HTTP status). The gRPC
// adapter turns that payload into rich status details and the x-bitunix-* trailers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "bitunix/common/v1/common.pb.h"

namespace bx::orders {

/// Machine-readable gateway reasons (ExchangeError.reason, trailer x-gateway-reason).
namespace reason {
inline constexpr std::string_view kValidation = "VALIDATION";
inline constexpr std::string_view kRateLimited = "RATE_LIMITED";
inline constexpr std::string_view kExchangeRejected = "EXCHANGE_REJECTED";
inline constexpr std::string_view kNetwork = "NETWORK";
inline constexpr std::string_view kAmbiguous = "AMBIGUOUS";
inline constexpr std::string_view kUnauthenticated = "UNAUTHENTICATED";
inline constexpr std::string_view kPermissionDenied = "PERMISSION_DENIED";
inline constexpr std::string_view kNotReady = "NOT_READY";
inline constexpr std::string_view kDuplicateClientId = "DUPLICATE_CLIENT_ID";
inline constexpr std::string_view kBadReply = "BAD_REPLY";
inline constexpr std::string_view kShuttingDown = "SHUTTING_DOWN";
/// A batch reply that named neither success nor failure for an item: its outcome is not known.
inline constexpr std::string_view kUnconfirmed = "UNCONFIRMED";
/// A request withdrawn before it was sent because its caller went away.
inline constexpr std::string_view kWithdrawn = "WITHDRAWN";
}  // namespace reason

/// Type URL of the payload (also the Any type URL in google.rpc.Status details).
inline constexpr std::string_view kExchangeErrorTypeUrl = "type.googleapis.com/bitunix.common.v1.ExchangeError";

/// Builds a status with an ExchangeError payload. `exchange_code` 0 = raised by the gateway.
absl::Status MakeError(absl::StatusCode code, std::string message, std::string_view gateway_reason,
                       int exchange_code = 0, std::string_view endpoint = "", int http_status = 0);

/// The ExchangeError payload of `status`, if any.
std::optional<bitunix::common::v1::ExchangeError> GetExchangeError(const absl::Status& status);

/// A gateway-side validation refusal (INVALID_ARGUMENT, reason VALIDATION).
absl::Status ValidationError(std::string message);

/// How a Bitunix business code maps to a gRPC code (the table in docs/ORDERS.md).
absl::StatusCode MapExchangeCode(int code);

/// 10003 (api-key empty), 10004 (IP not whitelisted), 10007 (signature): the exchange refused
/// the gateway's own credentials, not anything the caller sent.
inline bool IsGatewayCredentialCode(int code) { return code == 10003 || code == 10004 || code == 10007; }

/// Codes whose meaning is "the exchange did not act on this request" beyond doubt. Everything
/// else (network errors `1`/10001, rate limits 10005/10006, unknown codes) leaves a state-changing
/// call's outcome open, so placements get resolved by client id.
bool IsDefinitiveRejection(int code);

/// Exchange rate-limit answers (10005, 10006): slow down.
inline bool IsRateLimitCode(int code) { return code == 10005 || code == 10006; }

/// Short human name of a documented code ("insufficient balance"), "" when unknown.
std::string_view ExchangeCodeName(int code);

}  // namespace bx::orders
