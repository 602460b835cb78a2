// The simulator's listed contracts: precisions, limits and starting prices per symbol.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/decimal.h"

namespace bx::sim {

struct SymbolSpec {
  std::string symbol;  ///< "BTCUSDT"
  std::string base;    ///< "BTC"
  std::string quote;   ///< "USDT"
  int base_precision = 4;   ///< qty decimals
  int quote_precision = 1;  ///< price decimals (tick = 10^-quote_precision)
  Dec min_qty;
  Dec max_limit_qty;
  Dec max_market_qty;
  int min_leverage = 1;
  int max_leverage = 125;
  int default_leverage = 20;
  std::string status = "OPEN";  ///< OPEN, PREVIEW, STOP (trading_pairs symbolStatus)
  Dec start_price;
  int funding_interval_hours = 8;

  bool tradable() const { return status == "OPEN"; }
  Dec tick() const { return TickOf(quote_precision); }
  Dec lot() const { return TickOf(base_precision); }
};

/// Listed symbols in listing order. Immutable after construction; safe to share across threads.
class SymbolCatalog {
 public:
  /// `symbols` is the --symbols list (comma separated, case-insensitive). PREVIEWUSDT (PREVIEW)
  /// and HALTUSDT (STOP) are always appended. Unknown names get generic precisions.
  static absl::StatusOr<SymbolCatalog> FromList(std::string_view symbols);

  const std::vector<SymbolSpec>& all() const { return specs_; }
  /// Case-insensitive lookup; nullptr when not listed at all.
  const SymbolSpec* Find(std::string_view symbol) const;
  /// Index in all() (for per-symbol arrays), or -1.
  int IndexOf(std::string_view symbol) const;

 private:
  std::vector<SymbolSpec> specs_;
  std::map<std::string, int> index_;
};

/// Upper-cases ASCII.
std::string UpperAscii(std::string_view s);

}  // namespace bx::sim
