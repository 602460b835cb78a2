#include "services/orders/errors.h"

#include "absl/strings/cord.h"

namespace bx::orders {

absl::Status MakeError(absl::StatusCode code, std::string message, std::string_view gateway_reason,
                       int exchange_code, std::string_view endpoint, int http_status) {
  absl::Status status(code, message);
  bitunix::common::v1::ExchangeError detail;
  detail.set_code(exchange_code);
  detail.set_message(std::move(message));
  detail.set_endpoint(std::string(endpoint));
  detail.set_reason(std::string(gateway_reason));
  detail.set_http_status(http_status);
  status.SetPayload(std::string(kExchangeErrorTypeUrl), absl::Cord(detail.SerializeAsString()));
  return status;
}

std::optional<bitunix::common::v1::ExchangeError> GetExchangeError(const absl::Status& status) {
  auto payload = status.GetPayload(std::string(kExchangeErrorTypeUrl));
  if (!payload) return std::nullopt;
  bitunix::common::v1::ExchangeError detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

absl::Status ValidationError(std::string message) {
  return MakeError(absl::StatusCode::kInvalidArgument, std::move(message), reason::kValidation);
}

absl::StatusCode MapExchangeCode(int code) {
  using C = absl::StatusCode;
  switch (code) {
    case 0: return C::kOk;
    case 1: return C::kUnavailable;       // "Network Error" (also seen for a missing parameter)
    case 404: return C::kUnimplemented;   // unknown path: the endpoint moved or was retired; a retry cannot help
    case 10001: return C::kUnavailable;   // network
    case 10002: return C::kInvalidArgument;
    case 10003: return C::kUnauthenticated;   // empty api-key: the gateway's credentials
    case 10004: return C::kPermissionDenied;  // IP not whitelisted
    case 10005:
    case 10006: return C::kResourceExhausted;
    case 10007: return C::kUnauthenticated;  // signature: the gateway's credentials or clock, not the caller
    case 10008: return C::kInvalidArgument;
    case 10012:
    case 10013: return C::kInvalidArgument;
    case 20001: return C::kInvalidArgument;  // no such market
    case 20002: return C::kFailedPrecondition;
    case 20003: return C::kFailedPrecondition;  // insufficient balance
    case 20005: return C::kInvalidArgument;     // bad leverage
    case 20006: return C::kFailedPrecondition;
    case 20007: return C::kNotFound;
    case 20008: return C::kFailedPrecondition;
    case 20009: return C::kFailedPrecondition;
    case 20011: return C::kPermissionDenied;
    case 20012:
    case 20015: return C::kFailedPrecondition;  // symbol not tradable
    case 30042: return C::kAlreadyExists;
    default: break;
  }
  if (code >= 30001 && code <= 30004) return C::kFailedPrecondition;  // liquidation / no position
  if (code == 30018 || code == 30019) return C::kFailedPrecondition;  // reduce-only conflicts
  if (code >= 30005 && code <= 30041) return C::kInvalidArgument;     // TP/SL, qty, trigger checks
  if (code >= 40001 && code <= 40008) return C::kFailedPrecondition;  // copy trading, sub-accounts
  return C::kUnknown;
}

bool IsDefinitiveRejection(int code) {
  if (code == 0 || code == 1 || code == 10001 || IsRateLimitCode(code)) return false;
  if (code == 404) return true;
  if (code >= 10002 && code <= 10013) return true;
  if (code >= 20001 && code <= 20015) return true;
  if (code >= 30001 && code <= 30042) return true;
  if (code >= 40001 && code <= 40008) return true;
  return false;
}

std::string_view ExchangeCodeName(int code) {
  switch (code) {
    case 1: return "network error";
    case 404: return "not found (path)";
    case 10001: return "network error";
    case 10002: return "parameter error";
    case 10003: return "api-key empty";
    case 10004: return "IP not in whitelist";
    case 10005: return "too many requests";
    case 10006: return "too frequent";
    case 10007: return "signature error";
    case 10008: return "value breaks a rule";
    case 20001: return "market not found";
    case 20002: return "position limit";
    case 20003: return "insufficient balance";
    case 20005: return "bad leverage";
    case 20006: return "open orders block the change";
    case 20007: return "order not found";
    case 20008: return "insufficient amount";
    case 20009: return "positions block the change";
    case 20011: return "account may not trade";
    case 20012: return "symbol not tradable";
    case 20015: return "symbol not supported";
    case 30004: return "no position";
    case 30018: return "reduce-only: no position";
    case 30019: return "reduce-only: same direction as position";
    case 30042: return "client id duplicate";
    default: return "";
  }
}

}  // namespace bx::orders
