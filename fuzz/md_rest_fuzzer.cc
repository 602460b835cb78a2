// Public REST replies -> the market-data service's parsers (trading_pairs, depth, tickers,
// kline, funding). Properties: no crash, leak or undefined behaviour on any body; failures are
// statuses; every decimal accepted is exact decimal text; every result survives the protobuf
// round trip a gRPC client does.
#include <cstdint>
#include <initializer_list>
#include <vector>

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

// One parser's result: a failure carries a message; every parsed item passes `check`.
template <typename T, typename F>
void CheckResult(const absl::StatusOr<T>& r, F check) {
  if (!r.ok()) {
    FUZZ_CHECK(!r.status().message().empty(), "error status without a message");
    return;
  }
  check(*r);
}
template <typename T, typename F>
void CheckResult(const absl::StatusOr<std::vector<T>>& r, F check) {
  CheckResult<std::vector<T>>(r, [&](const std::vector<T>& items) {
    for (const T& item : items) check(item);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = bx::fuzz::AsText(data, size);

  CheckResult(bx::md::ParseTradingPairs(body), [](const v1::SymbolInfo& s) {
    CheckDecimals("trading_pairs", {&s.min_trade_volume(), &s.min_buy_price_offset(), &s.max_sell_price_offset(),
                                    &s.max_limit_order_volume(), &s.max_market_order_volume()});
    CheckRoundTrip(s);
  });
  CheckResult(bx::md::ParseDepth(body), [](const v1::OrderBook& book) {
    for (const auto* side : {&book.bids(), &book.asks()}) {
      for (const auto& l : *side) {
        FUZZ_CHECK(bx::IsDecimal(l.price()) && bx::IsDecimal(l.qty()), "depth level '%s' '%s'", l.price().c_str(),
                   l.qty().c_str());
      }
    }
    CheckRoundTrip(book);
  });
  CheckResult(bx::md::ParseTickers(body), [](const bx::md::RestTicker& t) {
    const auto& k = t.ticker;
    CheckDecimals("ticker", {&k.last_price(), &k.mark_price(), &k.open_price(), &k.high_price(), &k.low_price(),
                             &k.base_volume(), &k.quote_volume()});
    CheckRoundTrip(k);
  });
  CheckResult(bx::md::ParseKlines(body, v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_LAST), [](const v1::Kline& k) {
    CheckDecimals("kline", {&k.open(), &k.high(), &k.low(), &k.close(), &k.base_volume(), &k.quote_volume()});
    CheckRoundTrip(k);
  });
  auto check_rate = [](const v1::GetFundingRateResponse& r) {
    const auto& m = r.mark_price();
    CheckDecimals("funding", {&r.last_price(), &m.mark_price(), &m.index_price(), &m.funding_rate(),
                              &m.funding_rate_percent()});
    CheckRoundTrip(r);
  };
  CheckResult(bx::md::ParseFundingRate(body), check_rate);
  CheckResult(bx::md::ParseFundingRates(body), check_rate);
  CheckResult(bx::md::ParseFundingRateHistory(body), [](const v1::FundingRecord& r) {
    CheckDecimals("funding history", {&r.funding_rate(), &r.funding_rate_percent(), &r.mark_price()});
    CheckRoundTrip(r);
  });
  CheckResult(bx::md::ParsePositionTiers(body), [](const v1::PositionTier& t) {
    CheckDecimals("tier", {&t.start_value(), &t.end_value(), &t.maintenance_margin_rate()});
    CheckRoundTrip(t);
  });
  return 0;
}
