// Public REST replies -> the market-data service's parsers (trading_pairs, depth, tickers,
// kline, funding). Properties: no crash, leak or undefined behaviour on any body; failures are
// statuses; every decimal accepted is exact decimal text; every result survives the protobuf
// round trip a gRPC client does.
#include <cstdint>

#include "common/decimal.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/proto_check.h"
#include "services/marketdata/rest_parse.h"

namespace {

namespace v1 = ::bitunix::marketdata::v1;
using bx::fuzz::CheckRoundTrip;

bool DecimalOrEmpty(const std::string& s) { return s.empty() || bx::IsDecimal(s); }

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
    for (const auto& s : *pairs) CheckRoundTrip(s);
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
      FUZZ_CHECK(DecimalOrEmpty(t.ticker.last_price()), "ticker last '%s'", t.ticker.last_price().c_str());
      CheckRoundTrip(t.ticker);
    }
  }

  auto klines = bx::md::ParseKlines(body, v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_LAST);
  CheckStatus(klines);
  if (klines.ok()) {
    for (const auto& k : *klines) {
      for (const auto* s : {&k.open(), &k.high(), &k.low(), &k.close()}) {
        FUZZ_CHECK(DecimalOrEmpty(*s), "kline price '%s'", s->c_str());
      }
      CheckRoundTrip(k);
    }
  }

  auto rate = bx::md::ParseFundingRate(body);
  CheckStatus(rate);
  if (rate.ok()) CheckRoundTrip(*rate);
  auto rates = bx::md::ParseFundingRates(body);
  CheckStatus(rates);
  if (rates.ok()) {
    for (const auto& r : *rates) CheckRoundTrip(r);
  }
  auto history = bx::md::ParseFundingRateHistory(body);
  CheckStatus(history);
  if (history.ok()) {
    for (const auto& r : *history) CheckRoundTrip(r);
  }
  auto tiers = bx::md::ParsePositionTiers(body);
  CheckStatus(tiers);
  if (tiers.ok()) {
    for (const auto& t : *tiers) CheckRoundTrip(t);
  }
  return 0;
}
