#include "services/marketdata/symbol_registry.h"

#include "absl/strings/str_cat.h"
#include "services/marketdata/channel.h"

namespace bx::md {

void SymbolRegistry::Update(std::vector<v1::SymbolInfo> symbols, int64_t now_ns) {
  auto snap = std::make_shared<Snapshot>();
  snap->list = std::move(symbols);
  for (size_t i = 0; i < snap->list.size(); ++i) snap->index[snap->list[i].symbol()] = i;
  snap->refreshed_at_ns = now_ns;
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snap);
}

std::shared_ptr<const SymbolRegistry::Snapshot> SymbolRegistry::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

bool SymbolRegistry::loaded() const { return Get() != nullptr; }

int64_t SymbolRegistry::refreshed_at_ns() const {
  auto s = Get();
  return s ? s->refreshed_at_ns : 0;
}

size_t SymbolRegistry::size() const {
  auto s = Get();
  return s ? s->list.size() : 0;
}

std::optional<v1::SymbolInfo> SymbolRegistry::Find(std::string_view symbol) const {
  auto s = Get();
  if (!s) return std::nullopt;
  auto it = s->index.find(UpperSymbol(symbol));
  if (it == s->index.end()) return std::nullopt;
  return s->list[it->second];
}

absl::Status SymbolRegistry::CheckStreamable(std::string_view symbol) const {
  if (!loaded()) {
    return absl::UnavailableError("the symbol list has not been loaded from the exchange yet; retry shortly");
  }
  auto info = Find(symbol);
  if (!info) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown symbol '", QuoteSymbol(symbol), "': not listed by the exchange (see ListSymbols)"));
  }
  if (info->status() != v1::SYMBOL_STATUS_OPEN && info->status() != v1::SYMBOL_STATUS_CANCEL_ONLY) {
    return absl::InvalidArgumentError(absl::StrCat("symbol ", info->symbol(), " has status ", info->status_raw(),
                                                   "; only OPEN or CANCEL_ONLY symbols have live market data to stream or serve"));
  }
  return absl::OkStatus();
}

std::vector<v1::SymbolInfo> SymbolRegistry::List(const std::vector<std::string>& only) const {
  auto s = Get();
  if (!s) return {};
  if (only.empty()) return s->list;
  std::vector<v1::SymbolInfo> out;
  for (const auto& name : only) {
    auto it = s->index.find(UpperSymbol(name));
    if (it != s->index.end()) out.push_back(s->list[it->second]);
  }
  return out;
}

}  // namespace bx::md
