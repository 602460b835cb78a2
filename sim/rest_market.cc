// Public market endpoints (no signature): trading_pairs, tickers, depth, kline, funding rates.
#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sim/rest_api.h"

namespace bx::sim {
namespace {

const std::string* Param(const RestRequest& req, std::string_view name) {
  for (const auto& [k, v] : req.query) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

RestReply Err(int code, const std::string& msg) { return {200, ErrorBody(code, msg)}; }
RestReply NotTradable() { return Err(20015, "this Futures is not allowed to trade."); }

// `symbols=A,B`: the listed specs, or nullopt when one is not listed at all (20015).
std::optional<std::vector<const SymbolSpec*>> SymbolsParam(const SymbolCatalog& cat, const RestRequest& req) {
  std::vector<const SymbolSpec*> out;
  const std::string* p = Param(req, "symbols");
  if (p == nullptr || p->empty()) {
    for (const auto& s : cat.all()) out.push_back(&s);
    return out;
  }
  for (absl::string_view name : absl::StrSplit(*p, ',', absl::SkipWhitespace())) {
    const SymbolSpec* s = cat.Find(std::string(name));
    if (s == nullptr) return std::nullopt;
    out.push_back(s);
  }
  return out;
}

}  // namespace

RestReply RestApi::TradingPairs(const RestRequest& req) {
  auto specs = SymbolsParam(exchange_.catalog(), req);
  if (!specs) return NotTradable();
  OJson data = OJson::array();
  for (const SymbolSpec* s : *specs) {
    OJson item;
    // The captured (trimmed) reply orders symbol, base, quote, basePrecision, quotePrecision,
    // symbolStatus, minTradeVolume; the other documented fields follow.
    item["symbol"] = s->symbol;
    item["base"] = s->base;
    item["quote"] = s->quote;
    item["basePrecision"] = s->base_precision;
    item["quotePrecision"] = s->quote_precision;
    item["symbolStatus"] = s->status;
    item["minTradeVolume"] = s->min_qty.ToString();
    item["minBuyPriceOffset"] = "-0.95";
    item["maxSellPriceOffset"] = "100";
    item["maxLimitOrderVolume"] = s->max_limit_qty.ToString();
    item["maxMarketOrderVolume"] = s->max_market_qty.ToString();
    item["minLeverage"] = s->min_leverage;
    item["maxLeverage"] = s->max_leverage;
    item["defaultLeverage"] = s->default_leverage;
    item["defaultMarginMode"] = "1";
    item["priceProtectScope"] = "0.02";
    item["isApiSupported"] = true;
    item["maxFundingRate"] = "0.3";
    item["minFundingRate"] = "-0.3";
    data.push_back(std::move(item));
  }
  return {200, MarketOk(data)};
}

RestReply RestApi::Tickers(const RestRequest& req) {
  auto specs = SymbolsParam(exchange_.catalog(), req);
  if (!specs) return NotTradable();
  const int64_t now = clock_.NowMs();
  OJson data = exchange_.ReadMarket([&](const MarketModel& m) {
    OJson arr = OJson::array();
    for (const SymbolSpec* s : *specs) {
      const int sym = exchange_.catalog().IndexOf(s->symbol);
      const Ticker24h t = m.Ticker(sym, now);
      const int pd = s->quote_precision;
      OJson item;
      item["symbol"] = s->symbol;
      item["markPrice"] = m.Mark(sym).ToString(pd);
      item["lastPrice"] = t.last.ToString(pd);
      item["open"] = t.open.ToString(pd);
      item["last"] = t.last.ToString(pd);
      item["quoteVol"] = t.quote_vol.ToString();
      item["baseVol"] = t.base_vol.ToString(s->base_precision);
      item["high"] = t.high.ToString(pd);
      item["low"] = t.low.ToString(pd);
      arr.push_back(std::move(item));
    }
    return arr;
  });
  return {200, MarketOk(data)};
}

RestReply RestApi::Depth(const RestRequest& req) {
  const std::string* symbol = Param(req, "symbol");
  if (symbol == nullptr || symbol->empty()) return Err(1, "Network Error");  // as captured live
  const SymbolSpec* spec = exchange_.catalog().Find(*symbol);
  if (spec == nullptr || !spec->tradable()) return NotTradable();
  int levels = 0;  // whole book
  if (const std::string* limit = Param(req, "limit")) {
    static const std::map<std::string, int> kAllowed = {{"1", 1}, {"5", 5}, {"15", 15}, {"50", 50}, {"max", 0}};
    auto it = kAllowed.find(*limit);
    if (it == kAllowed.end()) {
      return Err(10008, absl::StrCat("Parameter ", *limit,
                                     " does not match, alternative value [\"1\",\"5\",\"15\",\"50\",\"max\"]."));
    }
    levels = it->second;
  }
  const int sym = exchange_.catalog().IndexOf(spec->symbol);
  const int pd = spec->quote_precision;
  const int qd = spec->base_precision;
  // Built as text: the whole book is thousands of levels.
  std::string body = exchange_.ReadMarket([&](const MarketModel& m) {
    auto side = [&](const std::vector<Level>& ls) {
      std::string out = "[";
      for (size_t i = 0; i < ls.size(); ++i) {
        if (i > 0) out += ',';
        absl::StrAppend(&out, "[\"", ls[i].price.ToString(pd), "\",\"", ls[i].qty.ToString(qd), "\"]");
      }
      return out + "]";
    };
    return absl::StrCat("{\"code\":0,\"msg\":\"Success\",\"data\":{\"asks\":", side(m.Asks(sym, levels)),
                        ",\"bids\":", side(m.Bids(sym, levels)), "}}");
  });
  return {200, std::move(body)};
}

RestReply RestApi::Kline(const RestRequest& req) {
  const std::string* symbol = Param(req, "symbol");
  if (symbol == nullptr || symbol->empty()) return Err(10002, "Parameter error: symbol is required");
  const SymbolSpec* spec = exchange_.catalog().Find(*symbol);
  if (spec == nullptr || !spec->tradable()) return NotTradable();
  const std::string* interval_name = Param(req, "interval");
  if (interval_name == nullptr || interval_name->empty()) {
    return Err(10002, "Parameter error: interval is required");
  }
  int64_t limit = 100;
  if (const std::string* l = Param(req, "limit"); l != nullptr && !l->empty()) {
    auto v = ParseInt(*l);
    if (!v || *v <= 0) return Err(10002, absl::StrCat("Parameter error: limit '", *l, "' is not a positive integer"));
    limit = std::min<int64_t>(*v, 200);
  }
  int64_t start = 0, end = 0;
  for (auto [name, out] : {std::pair<const char*, int64_t*>{"startTime", &start}, {"endTime", &end}}) {
    if (const std::string* t = Param(req, name); t != nullptr && !t->empty()) {
      auto v = ParseInt(*t);
      if (!v || *v < 0) return Err(10002, absl::StrCat("Parameter error: ", name, " '", *t, "' is not a ms timestamp"));
      *out = *v;
    }
  }
  bool mark = false;
  if (const std::string* type = Param(req, "type"); type != nullptr && !type->empty()) {
    if (*type == "MARK_PRICE") {
      mark = true;
    } else if (*type != "LAST_PRICE") {
      return Err(10002, absl::StrCat("Parameter error: type '", *type, "' (LAST_PRICE or MARK_PRICE)"));
    }
  }
  auto interval = KlineFromRest(*interval_name);
  if (!interval) return {200, MarketOk(OJson::array())};  // live: unsupported interval is a success with []
  const int sym = exchange_.catalog().IndexOf(spec->symbol);
  const int pd = spec->quote_precision;
  const int64_t now = clock_.NowMs();
  OJson data = exchange_.ReadMarket([&](const MarketModel& m) {
    OJson arr = OJson::array();
    for (const Candle& c : m.Klines(sym, *interval, start, end, static_cast<int>(limit), mark, now)) {
      OJson row;
      row["open"] = c.open.ToString(pd);
      row["high"] = c.high.ToString(pd);
      row["low"] = c.low.ToString(pd);
      row["close"] = c.close.ToString(pd);
      row["quoteVol"] = c.quote_vol.ToString();                      // quote turnover
      row["baseVol"] = c.base_vol.ToString(spec->base_precision);  // base volume
      row["time"] = std::to_string(c.open_ms);
      arr.push_back(std::move(row));
    }
    return arr;
  });
  return {200, MarketOk(data)};
}

namespace {

OJson FundingObject(const SymbolSpec& s, int sym, const MarketModel& m, int64_t now) {
  OJson o;
  o["symbol"] = s.symbol;
  const FundingInfo f = m.Funding(sym, now);
  const int pd = s.quote_precision;
  if (s.tradable()) {
    o["markPrice"] = m.Mark(sym).ToString(pd);
    o["lastPrice"] = m.Last(sym).ToString(pd);
    o["indexPrice"] = m.Index(sym).ToString(pd);
    o["fundingRate"] = f.rate_pct.ToString();
  } else {
    // Delisted rows, as captured: rate "0", mark "0", index null.
    o["markPrice"] = "0";
    o["lastPrice"] = "0";
    o["indexPrice"] = nullptr;
    o["fundingRate"] = "0";
  }
  o["nextFundingTime"] = std::to_string(f.next_settle_ms);
  o["fundingInterval"] = f.interval_hours;
  o["maxFundingRate"] = "0.3";
  o["minFundingRate"] = "-0.3";
  return o;
}

}  // namespace

RestReply RestApi::FundingRate(const RestRequest& req) {
  const std::string* symbol = Param(req, "symbol");
  if (symbol == nullptr || symbol->empty()) return Err(10002, "Parameter error: symbol is required");
  const SymbolSpec* spec = exchange_.catalog().Find(*symbol);
  if (spec == nullptr || !spec->tradable()) return NotTradable();
  const int sym = exchange_.catalog().IndexOf(spec->symbol);
  const int64_t now = clock_.NowMs();
  OJson data = exchange_.ReadMarket([&](const MarketModel& m) { return FundingObject(*spec, sym, m, now); });
  return {200, MarketOk(data)};
}

RestReply RestApi::FundingRateBatch(const RestRequest&) {
  const int64_t now = clock_.NowMs();
  OJson data = exchange_.ReadMarket([&](const MarketModel& m) {
    OJson arr = OJson::array();
    int i = 0;
    for (const auto& s : exchange_.catalog().all()) arr.push_back(FundingObject(s, i++, m, now));
    return arr;
  });
  return {200, MarketOk(data)};
}

RestReply RestApi::FundingRateHistory(const RestRequest& req) {
  const std::string* symbol = Param(req, "symbol");
  if (symbol == nullptr || symbol->empty()) return Err(10002, "Parameter error: symbol is required");
  const SymbolSpec* spec = exchange_.catalog().Find(*symbol);
  if (spec == nullptr || !spec->tradable()) return NotTradable();
  int64_t start = 0, end = 0, limit = 100;
  // The docs spell it "starTime"; accept the intended spelling too.
  for (auto [name, out] : {std::pair<const char*, int64_t*>{"starTime", &start},
                           {"startTime", &start},
                           {"endTime", &end},
                           {"limit", &limit}}) {
    if (const std::string* t = Param(req, name); t != nullptr && !t->empty()) {
      auto v = ParseInt(*t);
      if (!v || *v < 0) return Err(10002, absl::StrCat("Parameter error: ", name, " '", *t, "' is not an integer"));
      *out = *v;
    }
  }
  limit = std::clamp<int64_t>(limit, 1, 200);
  const int sym = exchange_.catalog().IndexOf(spec->symbol);
  const int64_t now = clock_.NowMs();
  static const KlineInterval kMinute = *KlineFromRest("1m");
  OJson data = exchange_.ReadMarket([&](const MarketModel& m) {
    OJson arr = OJson::array();
    for (const auto& [t, rate] : m.FundingHistory(sym, start, end, static_cast<int>(limit), now)) {
      auto candle = m.Klines(sym, kMinute, 0, t, 1, true, now);
      OJson o;
      o["symbol"] = spec->symbol;
      o["fundingRate"] = rate.ToString();  // a fraction here, not percent (as captured)
      o["fundingTime"] = std::to_string(t);
      o["markPrice"] = candle.empty() ? m.Mark(sym).ToString(spec->quote_precision)
                                      : candle[0].close.ToString(spec->quote_precision);
      arr.push_back(std::move(o));
    }
    return arr;
  });
  return {200, MarketOk(data)};
}

RestReply RestApi::PositionTiers(const RestRequest& req) {
  const std::string* symbol = Param(req, "symbol");
  if (symbol == nullptr || symbol->empty()) return Err(10002, "Parameter error: symbol is required");
  const SymbolSpec* spec = exchange_.catalog().Find(*symbol);
  if (spec == nullptr || !spec->tradable()) return NotTradable();
  OJson data = OJson::array();
  const char* bounds[][4] = {{"1", "0", "200000", "0.004"},
                             {"2", "200000", "1000000", "0.01"},
                             {"3", "1000000", "5000000", "0.025"}};
  int lev = spec->max_leverage;
  for (const auto& b : bounds) {
    OJson t;
    t["symbol"] = spec->symbol;
    t["level"] = std::stoi(b[0]);
    t["startValue"] = b[1];
    t["endValue"] = b[2];
    t["leverage"] = lev;
    t["maintenanceMarginRate"] = b[3];
    data.push_back(std::move(t));
    lev = std::max(1, lev / 2);
  }
  return {200, MarketOk(data)};
}

}  // namespace bx::sim
