// Public REST replies -> the market-data service's parsers (trading_pairs, depth, tickers,
// kline, funding). Properties: no crash, leak or undefined behaviour on any body; failures are
// statuses; every decimal accepted is exact decimal text; every result survives the protobuf
// round trip a gRPC client does.
#include <cstdint>
#include <initializer_list>

#include "common/decimal.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/proto_check.h"
#include "services/marketdata/rest_parse.h"

namespace {

namespace v1 = ::bitunix::marketdata::v1;
using bx::fuzz::CheckRoundTrip;

bool DecimalOrEmpty(const std::string& s) { return s.empty() || bx::IsDecimal(s); }

void CheckDecimals(const char* what, std::initializer_list<const std::string*> fields) {
  for (const std::string* s : fields) FUZZ_CHECK(DecimalOrEmpty(*s), "%s decimal '%s'", what, s->c_str());
}

template <typename T>
void CheckStatus(const absl::StatusOr<T>& r) {
  if (r.ok()) return;
  FUZZ_CHECK(!r.status().message().empty(), "error status without a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = bx::fuzz::AsText(data, size);

  auto pairs = bx::md::ParseTradingPairs(body);
  CheckStatus(pairs);
  if (pairs.ok()) {
    for (const auto& s : *pairs) {
      CheckDecimals("trading_pairs", {&s.min_trade_volume(), &s.min_buy_price_offset(), &s.max_sell_price_offset(),
                                      &s.max_limit_order_volume(), &s.max_market_order_volume()});
      CheckRoundTrip(s);
    }
  }

  auto depth = bx::md::ParseDepth(body);
  CheckStatus(depth);
  if (depth.ok()) {
    for (const auto* side : {&depth->bids(), &depth->asks()}) {
      for (const auto& l : *side) {
        FUZZ_CHECK(bx::IsDecimal(l.price()) && bx::IsDecimal(l.qty()), "depth level '%s' '%s'", l.price().c_str(),
                   l.qty().c_str());
      }
    }
    CheckRoundTrip(*depth);
  }

  auto tickers = bx::md::ParseTickers(body);
  CheckStatus(tickers);
  if (tickers.ok()) {
    for (const auto& t : *tickers) {
      const auto& k = t.ticker;
      CheckDecimals("ticker", {&k.last_price(), &k.mark_price(), &k.open_price(), &k.high_price(), &k.low_price(),
                               &k.base_volume(), &k.quote_volume()});
      CheckRoundTrip(t.ticker);
    }
  }

  auto klines = bx::md::ParseKlines(body, v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_LAST);
  CheckStatus(klines);
  if (klines.ok()) {
    for (const auto& k : *klines) {
      CheckDecimals("kline", {&k.open(), &k.high(), &k.low(), &k.close(), &k.base_volume(), &k.quote_volume()});
      CheckRoundTrip(k);
    }
  }

  auto rate = bx::md::ParseFundingRate(body);
  CheckStatus(rate);
  auto check_rate = [](const v1::GetFundingRateResponse& r) {
    const auto& m = r.mark_price();
    CheckDecimals("funding", {&r.last_price(), &m.mark_price(), &m.index_price(), &m.funding_rate(),
                              &m.funding_rate_percent()});
    CheckRoundTrip(r);
  };
  if (rate.ok()) check_rate(*rate);
  auto rates = bx::md::ParseFundingRates(body);
  CheckStatus(rates);
  if (rates.ok()) {
    for (const auto& r : *rates) check_rate(r);
  }
  auto history = bx::md::ParseFundingRateHistory(body);
  CheckStatus(history);
  if (history.ok()) {
    for (const auto& r : *history) {
      CheckDecimals("funding history", {&r.funding_rate(), &r.funding_rate_percent(), &r.mark_price()});
      CheckRoundTrip(r);
    }
  }
  auto tiers = bx::md::ParsePositionTiers(body);
  CheckStatus(tiers);
  if (tiers.ok()) {
    for (const auto& t : *tiers) {
      CheckDecimals("tier", {&t.start_value(), &t.end_value(), &t.maintenance_margin_rate()});
      CheckRoundTrip(t);
    }
  }
  return 0;
}
