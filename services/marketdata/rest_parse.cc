#include "services/marketdata/rest_parse.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/volume_names.h"
#include "services/marketdata/json_util.h"

namespace bx::md {
namespace {

namespace od = simdjson::ondemand;
using json::Err;
using json::kOk;

std::string S(std::string_view v) { return std::string(v); }

// A decimal field, kept as the exact text sent. "" (null or an empty string) passes and leaves the
// field absent; any other text that is not a plain decimal makes the whole reply malformed, so a
// client is never handed "84167.:" as a price.
Err SetDecimal(std::string_view v, std::string* out, Err what) {
  if (!v.empty() && !IsDecimal(v)) return what;
  out->assign(v);
  return kOk;
}

// Parses the {code, msg, data} envelope (any key order) and calls `on_data` with `data`.
template <class F>
absl::Status WithData(std::string_view body, std::string_view endpoint, F&& on_data) {
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  auto bad = [&](std::string_view why) {
    return absl::UnavailableError(absl::StrCat("malformed reply from ", S(endpoint), ": ", S(why)));
  };
  if (parser.iterate(padded).get(doc)) return bad("not JSON");
  od::object root;
  if (doc.get_object().get(root)) return bad("not a JSON object");
  int64_t code = 0;
  bool has_code = false;
  std::string msg;
  bool has_data = false;
  for (auto fr : root) {
    od::field field;
    if (std::move(fr).get(field)) return bad("not JSON");
    od::raw_json_string key = field.key();
    od::value v = field.value();
    if (key == "code") {
      if (json::ReadInt(v, &code, "bad code")) return bad("code is not an integer");
      has_code = true;
    } else if (key == "msg") {
      std::string_view m;
      if (!json::ReadScalarText(v, &m, "bad msg")) msg = S(m);
    } else if (key == "data") {
      has_data = true;
    }
  }
  if (!has_code) return bad("no code");  // any other code, negative ones too, is the exchange's
  if (code != 0) return ExchangeError(code, msg, endpoint);
  if (!has_data) return bad("no data");
  doc.rewind();
  od::value data;
  if (doc.find_field_unordered("data").get(data)) return bad("no data");
  if (Err e = on_data(data)) return bad(e);
  return absl::OkStatus();
}

// Reads every field of an object as scalar text into `out(key, text)`.
template <class F>
Err ForEachScalar(od::object obj, F&& out) {
  for (auto fr : obj) {
    od::field field;
    if (std::move(fr).get(field)) return "bad object";
    std::string_view key;
    if (field.unescaped_key().get(key)) return "bad key";
    std::string k(key);
    od::value v = field.value();
    od::json_type t;
    if (v.type().get(t)) return "bad value";
    if (t == od::json_type::object || t == od::json_type::array) continue;  // not needed
    std::string_view text;
    if (json::ReadScalarText(v, &text, "bad value")) return "bad value";
    if (Err e = out(k, text)) return e;
  }
  return kOk;
}

// `data` as an object, or the first element of a one-element array (both documented).
Err AsObject(od::value data, od::object* out) {
  od::json_type t;
  if (data.type().get(t)) return "bad data";
  if (t == od::json_type::object) return data.get_object().get(*out) ? "bad data" : kOk;
  if (t == od::json_type::array) {
    od::array arr;
    if (data.get_array().get(arr)) return "bad data";
    for (auto item : arr) return item.get_object().get(*out) ? "bad data" : kOk;
    return "empty data";
  }
  return "data must be an object";
}

int32_t ToInt32(std::string_view text) {
  auto v = ParseInt64(text);
  return v ? static_cast<int32_t>(*v) : 0;
}

Err ReadLevels(od::value v, google::protobuf::RepeatedPtrField<v1::PriceLevel>* out) {
  od::array levels;
  if (v.get_array().get(levels)) return "book side must be an array";
  for (auto lr : levels) {
    od::array pair;
    if (lr.get_array().get(pair)) return "level must be [price, qty]";
    std::string_view price, qty;
    int n = 0;
    for (auto xr : pair) {
      od::value x;
      if (xr.get(x)) return "bad level";
      if (n == 0 && json::ReadDecimal(x, &price, true, "bad price")) return "bad price";
      if (n == 1 && json::ReadDecimal(x, &qty, true, "bad qty")) return "bad qty";
      ++n;
    }
    if (n < 2) return "level must be [price, qty]";
    if (price.empty() || qty.empty()) continue;  // the exchange's empty level
    v1::PriceLevel* l = out->Add();
    l->set_price(S(price));
    l->set_qty(S(qty));
  }
  return kOk;
}

}  // namespace

namespace {

// The exchange does not know a path this gateway calls: it moved or retired the endpoint (or
// --rest-url points elsewhere). Retrying cannot help until the gateway is updated, so not
// UNAVAILABLE (which clients retry); the order service maps it the same way.
absl::Status EndpointGone(std::string text) {
  return absl::UnimplementedError(absl::StrCat(
      text, " (the exchange does not serve this endpoint: it moved or was retired, or the REST URL is wrong; "
            "retrying will not help until the gateway is updated)"));
}

}  // namespace

absl::Status ExchangeError(int64_t code, std::string_view msg, std::string_view endpoint) {
  std::string text = absl::StrCat("exchange error ", code, " on ", S(endpoint), ": ", S(msg));
  switch (code) {
    case 404: return EndpointGone(std::move(text));  // "Not Found", with HTTP 200 (section 8)
    case 10005:
    case 10006: return absl::ResourceExhaustedError(text);
    case 2:
    case 10002:
    case 10008: return absl::InvalidArgumentError(text);
    case 20001:
    case 20012:
    case 20015: return absl::NotFoundError(text);
    default: return absl::UnavailableError(text);
  }
}

absl::Status HttpError(int status, std::string_view endpoint) {
  std::string text = absl::StrCat("exchange answered HTTP ", status, " on ", S(endpoint));
  if (status == 429) return absl::ResourceExhaustedError(text);
  if (status == 404) return EndpointGone(std::move(text));
  return absl::UnavailableError(text);
}

v1::SymbolStatus ParseSymbolStatus(std::string_view s) {
  if (s == "OPEN") return v1::SYMBOL_STATUS_OPEN;
  if (s == "CANCEL_ONLY") return v1::SYMBOL_STATUS_CANCEL_ONLY;
  if (s == "STOP") return v1::SYMBOL_STATUS_STOP;
  if (s == "PREVIEW") return v1::SYMBOL_STATUS_PREVIEW;
  return v1::SYMBOL_STATUS_UNSPECIFIED;
}

absl::StatusOr<std::vector<v1::SymbolInfo>> ParseTradingPairs(std::string_view body, std::vector<BadRow>* bad_rows) {
  std::vector<v1::SymbolInfo> out;
  absl::Status st = WithData(body, "/api/v1/futures/market/trading_pairs", [&](od::value data) -> Err {
    od::array arr;
    if (data.get_array().get(arr)) return "data must be an array";
    for (auto item : arr) {
      od::object obj;
      if (item.get_object().get(obj)) return "item must be an object";
      v1::SymbolInfo info;
      Err row_error = kOk;  // the row's first unreadable value; the rest is still read (its symbol)
      auto field = [&](const std::string& k, std::string_view v) -> Err {
        if (k == "symbol") info.set_symbol(UpperSymbol(v));
        else if (k == "base") info.set_base(S(v));
        else if (k == "quote") info.set_quote(S(v));
        else if (k == "minTradeVolume") return SetDecimal(v, info.mutable_min_trade_volume(), "bad minTradeVolume");
        else if (k == "minBuyPriceOffset") return SetDecimal(v, info.mutable_min_buy_price_offset(), "bad minBuyPriceOffset");
        else if (k == "maxSellPriceOffset") return SetDecimal(v, info.mutable_max_sell_price_offset(), "bad maxSellPriceOffset");
        else if (k == "maxLimitOrderVolume") return SetDecimal(v, info.mutable_max_limit_order_volume(), "bad maxLimitOrderVolume");
        else if (k == "maxMarketOrderVolume") return SetDecimal(v, info.mutable_max_market_order_volume(), "bad maxMarketOrderVolume");
        else if (k == "basePrecision") info.set_base_precision(ToInt32(v));
        else if (k == "quotePrecision") info.set_quote_precision(ToInt32(v));
        else if (k == "minLeverage") info.set_min_leverage(ToInt32(v));
        else if (k == "maxLeverage") info.set_max_leverage(ToInt32(v));
        else if (k == "defaultLeverage") info.set_default_leverage(ToInt32(v));
        else if (k == "defaultMarginMode") info.set_default_margin_mode(S(v));
        else if (k == "priceProtectScope") info.set_price_protect_scope(S(v));
        else if (k == "symbolStatus") {
          info.set_status_raw(S(v));
          info.set_status(ParseSymbolStatus(v));
        }
        return kOk;
      };
      Err e = ForEachScalar(obj, [&](const std::string& k, std::string_view v) -> Err {
        if (Err fe = field(k, v); fe && !row_error) row_error = fe;
        return kOk;
      });
      if (e) return e;
      if (info.symbol().empty()) return "item without symbol";
      if (row_error) {
        if (bad_rows) bad_rows->push_back({info.symbol(), row_error});
        continue;
      }
      out.push_back(std::move(info));
    }
    return kOk;
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<v1::OrderBook> ParseDepth(std::string_view body) {
  v1::OrderBook book;
  absl::Status st = WithData(body, "/api/v1/futures/market/depth", [&](od::value data) -> Err {
    od::object obj;
    if (Err e = AsObject(data, &obj)) return e;
    // Either name of a side, once: a reply with both ("bids" and "b") or one twice would add its
    // levels twice to the same side of the book.
    bool has_bids = false, has_asks = false;
    for (auto fr : obj) {
      od::field field;
      if (std::move(fr).get(field)) return "bad data";
      od::raw_json_string key = field.key();
      if (key == "bids" || key == "b") {
        if (has_bids) return "bids twice";
        has_bids = true;
        if (Err e = ReadLevels(field.value(), book.mutable_bids())) return e;
      } else if (key == "asks" || key == "a") {
        if (has_asks) return "asks twice";
        has_asks = true;
        if (Err e = ReadLevels(field.value(), book.mutable_asks())) return e;
      }
    }
    return kOk;
  });
  if (!st.ok()) return st;
  return book;
}

absl::StatusOr<std::vector<RestTicker>> ParseTickers(std::string_view body) {
  std::vector<RestTicker> out;
  std::vector<std::pair<std::string, std::string>> volumes;  // (baseVol, quoteVol) as named, per row
  absl::Status st = WithData(body, "/api/v1/futures/market/tickers", [&](od::value data) -> Err {
    od::array arr;
    if (data.get_array().get(arr)) return "data must be an array";
    for (auto item : arr) {
      od::object obj;
      if (item.get_object().get(obj)) return "item must be an object";
      RestTicker t;
      std::string last_price, last, base_vol, quote_vol;
      Err e = ForEachScalar(obj, [&](const std::string& k, std::string_view v) -> Err {
        if (k == "symbol") t.symbol = UpperSymbol(v);
        else if (k == "markPrice") return SetDecimal(v, t.ticker.mutable_mark_price(), "bad markPrice");
        else if (k == "lastPrice") return SetDecimal(v, &last_price, "bad lastPrice");
        else if (k == "last") return SetDecimal(v, &last, "bad last");
        else if (k == "open") return SetDecimal(v, t.ticker.mutable_open_price(), "bad open");
        else if (k == "high") return SetDecimal(v, t.ticker.mutable_high_price(), "bad high");
        else if (k == "low") return SetDecimal(v, t.ticker.mutable_low_price(), "bad low");
        else if (k == "baseVol") return SetDecimal(v, &base_vol, "bad baseVol");
        else if (k == "quoteVol") return SetDecimal(v, &quote_vol, "bad quoteVol");
        return kOk;
      });
      if (e) return e;
      if (t.symbol.empty()) return "ticker without symbol";
      t.ticker.set_last_price(!last_price.empty() ? last_price : last);
      volumes.emplace_back(std::move(base_vol), std::move(quote_vol));
      out.push_back(std::move(t));
    }
    return kOk;
  });
  if (!st.ok()) return st;
  // The naming is decided once for the whole reply, from every row's volumes and 24 h range.
  std::vector<VolumeRow> rows;
  rows.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    rows.push_back({volumes[i].first, volumes[i].second, out[i].ticker.low_price(), out[i].ticker.high_price()});
  }
  const bool swapped = VolumeNamesSwapped(rows);
  for (size_t i = 0; i < out.size(); ++i) {
    auto& [base_vol, quote_vol] = volumes[i];
    out[i].ticker.set_base_volume(swapped ? quote_vol : base_vol);
    out[i].ticker.set_quote_volume(swapped ? base_vol : quote_vol);
  }
  return out;
}

absl::StatusOr<KlinePage> ParseKlinePage(std::string_view body, v1::KlineInterval interval,
                                         v1::PriceType price_type) {
  std::vector<v1::Kline> out;
  absl::Status st = WithData(body, "/api/v1/futures/market/kline", [&](od::value data) -> Err {
    od::array arr;
    if (data.get_array().get(arr)) return "data must be an array";
    for (auto item : arr) {
      od::object obj;
      if (item.get_object().get(obj)) return "row must be an object";
      v1::Kline k;
      k.set_interval(interval);
      k.set_price_type(price_type == v1::PRICE_TYPE_UNSPECIFIED ? v1::PRICE_TYPE_LAST : price_type);
      std::string base_vol, quote_vol;
      bool has_time = false;
      Err e = ForEachScalar(obj, [&](const std::string& key, std::string_view v) -> Err {
        if (key == "open") return SetDecimal(v, k.mutable_open(), "bad open");
        else if (key == "high") return SetDecimal(v, k.mutable_high(), "bad high");
        else if (key == "low") return SetDecimal(v, k.mutable_low(), "bad low");
        else if (key == "close") return SetDecimal(v, k.mutable_close(), "bad close");
        else if (key == "baseVol") return SetDecimal(v, &base_vol, "bad baseVol");
        else if (key == "quoteVol") return SetDecimal(v, &quote_vol, "bad quoteVol");
        else if (key == "time") {
          auto t = ParseTimeMs(v);
          if (!t) return "bad time";
          k.set_open_time_ms(*t);
          has_time = true;
        }
        return kOk;
      });
      if (e) return e;
      if (!has_time || k.close().empty()) return "row needs time and close";
      // Kept as named for now; the reply's naming is decided once all rows are read.
      k.set_base_volume(base_vol);
      k.set_quote_volume(quote_vol);
      out.push_back(std::move(k));
    }
    return kOk;
  });
  if (!st.ok()) return st;
  // The naming is decided once for the whole reply, from every row's volumes and range.
  std::vector<VolumeRow> rows;
  rows.reserve(out.size());
  for (const v1::Kline& k : out) rows.push_back({k.base_volume(), k.quote_volume(), k.low(), k.high()});
  KlinePage page;
  page.volumes = DecideVolumeNames(rows);
  // The exchange sends newest first; callers want oldest first.
  std::sort(out.begin(), out.end(),
            [](const v1::Kline& a, const v1::Kline& b) { return a.open_time_ms() < b.open_time_ms(); });
  page.klines = std::move(out);
  return page;
}

void SwapKlineVolumes(v1::Kline* k) { k->mutable_base_volume()->swap(*k->mutable_quote_volume()); }

absl::StatusOr<std::vector<v1::Kline>> ParseKlines(std::string_view body, v1::KlineInterval interval,
                                                   v1::PriceType price_type) {
  auto page = ParseKlinePage(body, interval, price_type);
  if (!page.ok()) return page.status();
  if (page->volumes == VolumeVerdict::kSwapped) {
    for (v1::Kline& k : page->klines) SwapKlineVolumes(&k);
  }
  return std::move(page->klines);
}

namespace {

// One funding object (funding_rate, and each row of funding_rate/batch): the rate in percent.
Err ParseFundingObject(od::object obj, v1::GetFundingRateResponse* resp) {
  v1::MarkPrice* mp = resp->mutable_mark_price();
  return ForEachScalar(obj, [&](const std::string& k, std::string_view v) -> Err {
    if (k == "symbol") resp->set_symbol(UpperSymbol(v));
    else if (k == "markPrice") return SetDecimal(v, mp->mutable_mark_price(), "bad markPrice");
    else if (k == "indexPrice") return SetDecimal(v, mp->mutable_index_price(), "bad indexPrice");
    else if (k == "lastPrice") return SetDecimal(v, resp->mutable_last_price(), "bad lastPrice");
    else if (k == "fundingRate") {
      if (!v.empty()) {
        auto fraction = ShiftDecimalLeft(v, 2);
        if (!fraction) return "bad fundingRate";
        mp->set_funding_rate(*fraction);
        mp->set_funding_rate_percent(S(v));
      }
    } else if (k == "nextFundingTime") {
      if (auto t = ParseTimeMs(v)) mp->set_next_funding_time_ms(*t);
    } else if (k == "fundingTime") {
      if (auto t = ParseTimeMs(v)) mp->set_funding_time_ms(*t);
    } else if (k == "fundingInterval") {
      resp->set_funding_interval_hours(ToInt32(v));
    }
    return kOk;
  });
}

}  // namespace

absl::StatusOr<v1::GetFundingRateResponse> ParseFundingRate(std::string_view body) {
  v1::GetFundingRateResponse resp;
  absl::Status st = WithData(body, "/api/v1/futures/market/funding_rate", [&](od::value data) -> Err {
    od::object obj;
    if (Err e = AsObject(data, &obj)) return e;
    return ParseFundingObject(obj, &resp);
  });
  if (!st.ok()) return st;
  return resp;
}

absl::StatusOr<std::vector<v1::GetFundingRateResponse>> ParseFundingRates(std::string_view body) {
  std::vector<v1::GetFundingRateResponse> out;
  absl::Status st = WithData(body, "/api/v1/futures/market/funding_rate/batch", [&](od::value data) -> Err {
    od::array arr;
    if (data.get_array().get(arr)) return "data must be an array";
    for (auto item : arr) {
      od::object obj;
      if (item.get_object().get(obj)) return "item must be an object";
      v1::GetFundingRateResponse r;
      if (Err e = ParseFundingObject(obj, &r)) return e;
      if (r.symbol().empty()) return "funding row without symbol";
      out.push_back(std::move(r));
    }
    return kOk;
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<v1::FundingRecord>> ParseFundingRateHistory(std::string_view body) {
  std::vector<v1::FundingRecord> out;
  absl::Status st = WithData(body, "/api/v1/futures/market/get_funding_rate_history", [&](od::value data) -> Err {
    od::array arr;
    if (data.get_array().get(arr)) return "data must be an array";
    for (auto item : arr) {
      od::object obj;
      if (item.get_object().get(obj)) return "item must be an object";
      v1::FundingRecord r;
      Err e = ForEachScalar(obj, [&](const std::string& k, std::string_view v) -> Err {
        if (k == "fundingRate") {
          auto percent = MultiplyDecimal(v, "100");
          if (!IsDecimal(v) || !percent) return "bad fundingRate";
          r.set_funding_rate(S(v));
          r.set_funding_rate_percent(NormalizeDecimal(*percent));
        } else if (k == "fundingTime") {
          auto t = ParseTimeMs(v);
          if (!t) return "bad fundingTime";
          r.set_funding_time_ms(*t);
        } else if (k == "markPrice") {
          return SetDecimal(v, r.mutable_mark_price(), "bad markPrice");
        }
        return kOk;
      });
      if (e) return e;
      if (r.funding_rate().empty() || r.funding_time_ms() == 0) return "record needs fundingRate and fundingTime";
      out.push_back(std::move(r));
    }
    return kOk;
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<v1::PositionTier>> ParsePositionTiers(std::string_view body) {
  std::vector<v1::PositionTier> out;
  absl::Status st = WithData(body, "/api/v1/futures/position/get_position_tiers", [&](od::value data) -> Err {
    od::array arr;
    if (data.get_array().get(arr)) return "data must be an array";
    for (auto item : arr) {
      od::object obj;
      if (item.get_object().get(obj)) return "item must be an object";
      v1::PositionTier t;
      Err e = ForEachScalar(obj, [&](const std::string& k, std::string_view v) -> Err {
        if (k == "level") t.set_level(ToInt32(v));
        else if (k == "startValue") return SetDecimal(v, t.mutable_start_value(), "bad startValue");
        else if (k == "endValue") return SetDecimal(v, t.mutable_end_value(), "bad endValue");
        else if (k == "leverage" || k == "maxLeverage") t.set_max_leverage(ToInt32(v));
        else if (k == "maintenanceMarginRate" || k == "maintMarginRate") {
          return SetDecimal(v, t.mutable_maintenance_margin_rate(), "bad maintenanceMarginRate");
        }
        return kOk;
      });
      if (e) return e;
      out.push_back(std::move(t));
    }
    return kOk;
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace bx::md
