#include "sim/exchange.h"

#include "sim/frames.h"

namespace bx::sim {

Exchange::Exchange(const SymbolCatalog& catalog, MarketModel::Options market, Account::Options account,
                   const Clock& clock)
    : catalog_(catalog), clock_(clock), model_(catalog, market, clock.NowMs()), account_(catalog, account, clock) {}

void Exchange::Step() {
  std::vector<PrivatePush> pushes;
  std::lock_guard<std::mutex> lock(mu_);
  model_.Step(clock_.NowMs());
  account_.OnMarket(model_, &pushes);
  PublishLocked(pushes);
}

std::vector<PublicTrade> Exchange::GenerateTrades() {
  std::vector<PrivatePush> pushes;
  std::lock_guard<std::mutex> lock(mu_);
  auto trades = model_.GenerateTrades(clock_.NowMs());
  account_.OnMarket(model_, &pushes);
  PublishLocked(pushes);
  return trades;
}

void Exchange::SetPrice(int sym, Dec price) {
  std::vector<PrivatePush> pushes;
  std::lock_guard<std::mutex> lock(mu_);
  model_.SetMid(sym, price, clock_.NowMs());
  account_.OnMarket(model_, &pushes);
  PublishLocked(pushes);
}

std::optional<std::string> Exchange::PublicFrame(const StreamArg& stream, const ChannelInfo& info) const {
  const int sym = catalog_.IndexOf(stream.symbol);
  if (sym < 0) return std::nullopt;
  const SymbolSpec& spec = catalog_.all()[static_cast<size_t>(sym)];
  if (!spec.tradable()) return std::nullopt;
  const int pd = spec.quote_precision;
  const int qd = spec.base_precision;
  const int64_t now = clock_.NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  switch (info.kind) {
    case ChannelKind::kDepth:
      return DepthFrame(stream.ch, spec.symbol, now, model_.Bids(sym, info.depth_levels),
                        model_.Asks(sym, info.depth_levels), pd, qd);
    case ChannelKind::kTicker:
      return TickerFrame(spec.symbol, now, model_.Ticker(sym, now), pd, qd);
    case ChannelKind::kTickers: {
      auto bid = model_.Bids(sym, 1);
      auto ask = model_.Asks(sym, 1);
      if (bid.empty() || ask.empty()) return std::nullopt;
      return TickersFrame(spec.symbol, now, model_.Ticker(sym, now), bid[0], ask[0], pd, qd);
    }
    case ChannelKind::kPrice:
      return PriceFrame(spec.symbol, now, model_.Index(sym), model_.Mark(sym), model_.Funding(sym, now), pd);
    case ChannelKind::kKline:
    case ChannelKind::kMarkKline:
      return KlineFrame(stream.ch, spec.symbol, now,
                        model_.CurrentCandle(sym, *info.interval, now, info.kind == ChannelKind::kMarkKline),
                        pd, qd);
    case ChannelKind::kTrade:
      return std::nullopt;  // trades are pushed as they happen
  }
  return std::nullopt;
}

}  // namespace bx::sim
