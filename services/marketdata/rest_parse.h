// Parsers for the exchange's public REST replies (trading_pairs, depth, tickers, kline,
// funding_rate). Decimals keep the exact text sent; both documented shapes are accepted where the
// reference lists conflicts (strings or JSON numbers, object or one-element array, any key order).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bitunix/marketdata/v1/marketdata.pb.h"
#include "common/volume_names.h"
#include "services/marketdata/channel.h"

namespace bx::md {

/// Maps an exchange error code to a status: rate limits -> RESOURCE_EXHAUSTED, bad parameters ->
/// INVALID_ARGUMENT, unknown or untradable symbols -> NOT_FOUND, 404 (an unknown path: the
/// endpoint moved or was retired) -> UNIMPLEMENTED, anything else -> UNAVAILABLE.
/// The message names the code, the endpoint and the exchange's words.
absl::Status ExchangeError(int64_t code, std::string_view msg, std::string_view endpoint);

/// Maps an HTTP reply that is not 200 (429 -> RESOURCE_EXHAUSTED, 404 -> UNIMPLEMENTED as code
/// 404 above, else UNAVAILABLE).
absl::Status HttpError(int status, std::string_view endpoint);

/// A `trading_pairs` row left out of the list: its symbol and its first unreadable value.
struct BadRow {
  std::string symbol;
  std::string error;
};
/// `trading_pairs` reply. A row whose symbol reads but one of whose values does not (a decimal
/// that is not one) is left out and named in `bad_rows`, so one odd row cannot hold back the
/// whole listing; a row without a symbol, or a reply that is not a list of objects, fails it.
absl::StatusOr<std::vector<v1::SymbolInfo>> ParseTradingPairs(std::string_view body,
                                                              std::vector<BadRow>* bad_rows = nullptr);

/// `depth` reply: bids descending, asks ascending; ["",""] levels dropped.
absl::StatusOr<v1::OrderBook> ParseDepth(std::string_view body);

struct RestTicker {
  std::string symbol;
  v1::Ticker ticker;
};
/// `tickers` reply. `lastPrice` is preferred over `last` (they differ live; lastPrice matches the
/// stream). Whether `baseVol`/`quoteVol` are swapped is decided once for the reply, like klines
/// (common/volume_names.h).
absl::StatusOr<std::vector<RestTicker>> ParseTickers(std::string_view body);

/// `kline` reply, returned oldest first. Volume names were seen swapped in one live capture, so
/// whether `baseVol`/`quoteVol` are swapped is decided once for the whole reply from the rows'
/// implied average prices (common/volume_names.h); undecidable replies keep the documented names.
absl::StatusOr<std::vector<v1::Kline>> ParseKlines(std::string_view body, v1::KlineInterval interval,
                                                   v1::PriceType price_type);
/// One `kline` reply that is one page of a longer answer: rows oldest first with the volume
/// fields as the reply named them, and the page's own verdict on the naming, for the caller to
/// settle across its pages (CarryVolumeVerdicts) and apply with SwapKlineVolumes.
struct KlinePage {
  std::vector<v1::Kline> klines;
  VolumeVerdict volumes = VolumeVerdict::kUndecided;
};
absl::StatusOr<KlinePage> ParseKlinePage(std::string_view body, v1::KlineInterval interval,
                                         v1::PriceType price_type);
void SwapKlineVolumes(v1::Kline* k);

/// `funding_rate` reply (object, or the documented one-element array). fundingRate is in percent
/// (reference section 8); both the fraction and the percent text are returned.
absl::StatusOr<v1::GetFundingRateResponse> ParseFundingRate(std::string_view body);
/// funding_rate/batch: one entry per row, parsed like funding_rate.
absl::StatusOr<std::vector<v1::GetFundingRateResponse>> ParseFundingRates(std::string_view body);
/// get_funding_rate_history: rates are fractions there (section 8), the percent is derived.
absl::StatusOr<std::vector<v1::FundingRecord>> ParseFundingRateHistory(std::string_view body);
absl::StatusOr<std::vector<v1::PositionTier>> ParsePositionTiers(std::string_view body);

v1::SymbolStatus ParseSymbolStatus(std::string_view s);

}  // namespace bx::md
