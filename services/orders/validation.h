// Pre-trade validation: request shape (gateway rules) and the exchange's per-symbol rules from
// trading_pairs (status, precision, size limits, leverage range). A bad order is refused before it
// reaches the exchange, with a message naming the rule and what would pass.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "bitunix/orders/v1/orders.pb.h"
#include "services/orders/rest_parse.h"

namespace bx::orders {

/// Client ids: 1-32 characters of [A-Za-z0-9_-] (the exchange documents no limit; 32 is safe).
bool IsValidClientId(std::string_view id);
/// 32 characters: "gw" + 30 random hex (CSPRNG).
std::string GenerateClientId();

/// The latest trading_pairs rules. Thread-safe; readers get an immutable snapshot.
class SymbolRules {
 public:
  using Map = std::map<std::string, SymbolRule>;
  /// Replaces every rule (a full trading_pairs reply). `at_ms`: when fetched.
  void Update(std::vector<SymbolRule> rules, int64_t at_ms);
  std::shared_ptr<const Map> snapshot() const;
  bool loaded() const;
  int64_t updated_at_ms() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Map> rules_;
  int64_t updated_at_ms_ = 0;
};

/// Validates a placement. `rules` null = not loaded yet (UNAVAILABLE, nothing is sent blind).
/// On failure the status is INVALID_ARGUMENT (shape, precision, size) or FAILED_PRECONDITION
/// (symbol not trading), reason VALIDATION; `rule` (if given) is set to the failed rule's name.
absl::Status ValidatePlaceOrder(const bitunix::orders::v1::PlaceOrderRequest& req, const SymbolRules::Map* rules,
                                std::string* rule = nullptr);

/// Validates a modification (price/qty precision and size against the symbol's rules when the
/// symbol is given).
absl::Status ValidateModifyOrder(const bitunix::orders::v1::ModifyOrderRequest& req, const SymbolRules::Map* rules,
                                 std::string* rule = nullptr);

/// Leverage within [minLeverage, maxLeverage] of the symbol.
absl::Status ValidateLeverage(const std::string& symbol, int32_t leverage, const SymbolRules::Map* rules,
                              std::string* rule = nullptr);

/// Every enum field set in `request` (nested messages and repeated fields included) holds a value
/// its enum defines. proto3 keeps numbers it does not know (a client built against a newer proto,
/// or a bug): without this check such a value would reach the exchange as an empty or default
/// field (an unknown time in force placed as GTC). INVALID_ARGUMENT, reason VALIDATION, naming
/// the field and the values this gateway knows.
absl::Status CheckEnumValues(const google::protobuf::Message& request);

/// Upper-cases and trims a symbol; "" if it has characters other than [A-Za-z0-9].
std::string NormalizeSymbol(std::string_view symbol);

}  // namespace bx::orders
