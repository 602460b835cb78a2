#include "services/orders/grpc_status.h"

#include "bitunix/common/v1/common.pb.h"
#include "google/rpc/status.pb.h"
#include "services/orders/errors.h"

namespace bx::orders {
namespace {

std::string DefaultReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument: return std::string(reason::kValidation);
    case absl::StatusCode::kUnauthenticated: return std::string(reason::kUnauthenticated);
    case absl::StatusCode::kPermissionDenied: return std::string(reason::kPermissionDenied);
    case absl::StatusCode::kResourceExhausted: return std::string(reason::kRateLimited);
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return std::string(reason::kNetwork);
    default: return "INTERNAL";
  }
}

}  // namespace

std::string MetadataSafe(std::string_view text) {
  std::string out;
  out.reserve(std::min<size_t>(text.size(), 512));
  for (unsigned char c : text) {
    if (out.size() >= 512) break;
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  return out;
}

std::string GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  if (status.ok()) return grpc::Status::OK;
  bitunix::common::v1::ExchangeError detail;
  if (auto d = GetExchangeError(status)) {
    detail = *d;
  } else {
    detail.set_message(std::string(status.message()));
    detail.set_reason(DefaultReason(status.code()));
  }
  const auto code = static_cast<grpc::StatusCode>(static_cast<int>(status.code()));
  const std::string message(status.message());
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(status.code()));
  rich.set_message(message);
  rich.add_details()->PackFrom(detail);
  if (context != nullptr) {
    context->AddTrailingMetadata("x-bitunix-code", std::to_string(detail.code()));
    context->AddTrailingMetadata("x-bitunix-msg", MetadataSafe(detail.message()));
    context->AddTrailingMetadata("x-gateway-reason", MetadataSafe(detail.reason()));
  }
  return grpc::Status(code, message, rich.SerializeAsString());
}

}  // namespace bx::orders
