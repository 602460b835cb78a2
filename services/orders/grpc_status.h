// The one place absl::Status becomes grpc::Status: same code and message, the ExchangeError
// payload as google.rpc.Status details (grpc-status-details-bin), and the plain trailers
// x-bitunix-code, x-bitunix-msg, x-gateway-reason.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace bx::orders {

/// Converts `status`; when `context` is given, adds the x-bitunix-* trailers to it (call before
/// Finish). OK stays OK with no trailers.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context = nullptr);

/// "OK", "INVALID_ARGUMENT", ...
std::string GrpcCodeName(grpc::StatusCode code);

/// Metadata-safe text: printable ASCII, at most 512 bytes.
std::string MetadataSafe(std::string_view text);

}  // namespace bx::orders
