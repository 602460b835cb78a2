#include "sim/symbols.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace bx::sim {
namespace {

Dec D(const char* s) { return *Dec::Parse(s); }

SymbolSpec Known(std::string_view name) {
  SymbolSpec s;
  s.symbol = std::string(name);
  for (std::string_view q : {"USDT", "USDC", "USD"}) {
    if (name.size() > q.size() && name.substr(name.size() - q.size()) == q) {
      s.base = std::string(name.substr(0, name.size() - q.size()));
      s.quote = std::string(q);
      break;
    }
  }
  if (s.quote.empty()) {
    s.base = std::string(name);
    s.quote = "USDT";
  }
  // Precisions and sizes as the live trading_pairs lists them (BTC 4/1, DOGE 0/5, ...).
  if (s.base == "BTC") {
    s.base_precision = 4, s.quote_precision = 1, s.min_qty = D("0.0001");
    s.max_limit_qty = D("500"), s.max_market_qty = D("100"), s.start_price = D("86700");
    s.max_leverage = 125;
  } else if (s.base == "ETH") {
    s.base_precision = 3, s.quote_precision = 2, s.min_qty = D("0.001");
    s.max_limit_qty = D("5000"), s.max_market_qty = D("1000"), s.start_price = D("3150");
    s.max_leverage = 100;
  } else if (s.base == "SOL") {
    s.base_precision = 2, s.quote_precision = 3, s.min_qty = D("0.01");
    s.max_limit_qty = D("50000"), s.max_market_qty = D("10000"), s.start_price = D("142.5");
    s.max_leverage = 75, s.funding_interval_hours = 4;
  } else if (s.base == "XRP") {
    s.base_precision = 1, s.quote_precision = 4, s.min_qty = D("1");
    s.max_limit_qty = D("2000000"), s.max_market_qty = D("500000"), s.start_price = D("2.1");
    s.max_leverage = 75;
  } else if (s.base == "DOGE") {
    s.base_precision = 0, s.quote_precision = 5, s.min_qty = D("53");
    s.max_limit_qty = D("10000000"), s.max_market_qty = D("2000000"), s.start_price = D("0.165");
    s.max_leverage = 75, s.funding_interval_hours = 1;
  } else {
    s.base_precision = 2, s.quote_precision = 4, s.min_qty = D("0.01");
    s.max_limit_qty = D("1000000"), s.max_market_qty = D("100000"), s.start_price = D("10");
    s.max_leverage = 50;
  }
  return s;
}

}  // namespace

std::string UpperAscii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

absl::StatusOr<SymbolCatalog> SymbolCatalog::FromList(std::string_view symbols) {
  SymbolCatalog cat;
  auto add = [&](SymbolSpec spec) {
    cat.index_[spec.symbol] = static_cast<int>(cat.specs_.size());
    cat.specs_.push_back(std::move(spec));
  };
  const std::string list(symbols);
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    std::string name = UpperAscii(std::string(absl::StripAsciiWhitespace(part)));
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError(
            absl::StrCat("--symbols: '", name, "' is not a symbol (letters and digits, e.g. BTCUSDT)"));
      }
    }
    if (name == "PREVIEWUSDT" || name == "HALTUSDT") continue;  // always listed, see below
    if (cat.index_.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("--symbols: '", name, "' listed twice"));
    }
    add(Known(name));
  }
  if (cat.specs_.empty()) {
    return absl::InvalidArgumentError("--symbols: at least one symbol is needed");
  }
  SymbolSpec preview = Known("PREVIEWUSDT");
  preview.status = "PREVIEW";
  add(preview);
  SymbolSpec halt = Known("HALTUSDT");
  halt.status = "STOP";
  add(halt);
  return cat;
}

const SymbolSpec* SymbolCatalog::Find(std::string_view symbol) const {
  int i = IndexOf(symbol);
  return i < 0 ? nullptr : &specs_[static_cast<size_t>(i)];
}

int SymbolCatalog::IndexOf(std::string_view symbol) const {
  auto it = index_.find(UpperAscii(symbol));
  return it == index_.end() ? -1 : it->second;
}

}  // namespace bx::sim
