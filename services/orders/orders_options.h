// Command-line / environment / YAML options of bitunix-orders, and their translation into
// OrdersAppOptions (reading the credential and token files).
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "services/orders/orders_app.h"

namespace bx::orders {

/// Every option of the binary: the common service options plus the order service's own.
std::vector<OptSpec> OrdersOptionSpecs();

/// Builds the app options from a loaded Config. Credentials come from --api-key-file /
/// --api-secret-file or from BITUNIX_API_KEY / BITUNIX_API_SECRET (or the YAML file), never
/// from flags. Errors never contain secret values.
absl::StatusOr<OrdersAppOptions> OrdersOptionsFromConfig(const Config& config);

}  // namespace bx::orders
