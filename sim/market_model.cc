#include "sim/market_model.h"

#include <algorithm>

namespace bx::sim {
namespace {

__extension__ using Int128 = __int128;

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Dec TicksToPrice(int64_t ticks, Dec tick) { return Dec::FromUnits(ticks * tick.units()); }

// Uniform integer in [-k, k].
int64_t Uniform(std::mt19937_64& rng, int64_t k) {
  if (k <= 0) return 0;
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * k + 1)) - k;
}

}  // namespace

void MarketModel::CandleSeries::Touch(int64_t now_ms, Dec price) {
  const int64_t open = now_ms / kMinuteMs * kMinuteMs;
  if (minutes.empty()) {
    first_open_ms = open;
    minutes.push_back({open, price, price, price, price, Dec(), Dec()});
    return;
  }
  while (minutes.back().open_ms < open) {
    Dec c = minutes.back().close;
    minutes.push_back({minutes.back().open_ms + kMinuteMs, c, c, c, c, Dec(), Dec()});
  }
}

void MarketModel::CandleSeries::Add(int64_t now_ms, Dec price, Dec qty) {
  Touch(now_ms, price);
  Candle& c = minutes.back();
  c.high = std::max(c.high, price);
  c.low = std::min(c.low, price);
  c.close = price;
  c.base_vol += qty;
  c.quote_vol += qty * price;
}

MarketModel::MarketModel(const SymbolCatalog& catalog, Options options, int64_t now_ms)
    : catalog_(catalog), options_(options), rng_(SplitMix(options.seed)) {
  states_.resize(catalog_.all().size());
  for (size_t i = 0; i < states_.size(); ++i) {
    const SymbolSpec& spec = catalog_.all()[i];
    State& s = states_[i];
    const Dec tick = spec.tick();
    s.mid_ticks = std::max<int64_t>(10, (spec.start_price / tick).Round(0).units() / Dec::kOne);
    s.last = BestBid(static_cast<int>(i));
    UpdateMarkIndex(static_cast<int>(i));
    GenerateHistory(static_cast<int>(i), now_ms);
  }
}

uint64_t MarketModel::Hash(uint64_t a, uint64_t b, uint64_t c) const {
  return SplitMix(SplitMix(SplitMix(options_.seed ^ 0x51ed5eedULL) ^ a) ^ (b * 0x9e37ULL)) ^
         SplitMix(c + 0x1234567ULL);
}

void MarketModel::GenerateHistory(int sym, int64_t now_ms) {
  State& s = states_[Idx(sym)];
  const SymbolSpec& spec = catalog_.all()[Idx(sym)];
  const Dec tick = spec.tick();
  std::mt19937_64 rng(Hash(static_cast<uint64_t>(sym), 0xC0FFEE, 0));
  const int n = std::max(0, options_.history_minutes);
  std::vector<Candle> back;
  back.reserve(static_cast<size_t>(n));
  const int64_t now_open = now_ms / kMinuteMs * kMinuteMs;
  int64_t p = s.mid_ticks;  // close of the minute being generated
  for (int k = 1; k <= n; ++k) {
    const int64_t sd = std::max<int64_t>(1, p * 8 / 10'000);  // ~0.08 % per minute
    const int64_t open = std::max<int64_t>(10, p + Uniform(rng, sd * 17 / 10));
    const int64_t hi = std::max(open, p) + static_cast<int64_t>(rng() % static_cast<uint64_t>(sd / 2 + 1));
    const int64_t lo = std::max<int64_t>(1, std::min(open, p) - static_cast<int64_t>(
                                                                   rng() % static_cast<uint64_t>(sd / 2 + 1)));
    Candle c;
    c.open_ms = now_open - k * kMinuteMs;
    c.open = TicksToPrice(open, tick);
    c.close = TicksToPrice(p, tick);
    c.high = TicksToPrice(hi, tick);
    c.low = TicksToPrice(lo, tick);
    const Dec notional = Dec::FromInt(static_cast<int64_t>(5'000 + rng() % 500'000));
    c.base_vol = std::max(spec.lot(), (notional / c.close).Truncate(spec.base_precision));
    c.quote_vol = c.base_vol * c.close;  // b x c = q, as captured
    back.push_back(c);
    p = open;
  }
  std::reverse(back.begin(), back.end());
  for (CandleSeries* series : {&s.last_candles, &s.mark_candles}) {
    series->minutes = back;
    series->first_open_ms = back.empty() ? now_open : back.front().open_ms;
    series->Touch(now_ms, s.last);
  }
}

Dec MarketModel::BestBid(int sym) const {
  return TicksToPrice(states_[Idx(sym)].mid_ticks, catalog_.all()[Idx(sym)].tick());
}

Dec MarketModel::BestAsk(int sym) const {
  return TicksToPrice(states_[Idx(sym)].mid_ticks + 1, catalog_.all()[Idx(sym)].tick());
}

void MarketModel::UpdateMarkIndex(int sym) {
  State& s = states_[Idx(sym)];
  const SymbolSpec& spec = catalog_.all()[Idx(sym)];
  const Dec mid = Dec::FromUnits((BestBid(sym).units() + BestAsk(sym).units()) / 2);
  s.mark = mid.Round(spec.quote_precision);
  const int64_t wiggle = static_cast<int64_t>(Hash(static_cast<uint64_t>(sym), 0x1D, static_cast<uint64_t>(steps_)) % 5) - 2;
  s.index = s.mark + spec.tick().MulInt(wiggle);
}

void MarketModel::Step(int64_t now_ms) {
  ++steps_;
  for (size_t i = 0; i < states_.size(); ++i) {
    State& s = states_[i];
    const int sym = static_cast<int>(i);
    if (catalog_.all()[i].tradable()) {
      // ~0.0056 % standard deviation per step: about 3 % a day at 300 ms steps.
      const int64_t k = std::max<int64_t>(1, s.mid_ticks * 97 / 1'000'000);
      s.mid_ticks = std::max<int64_t>(10, s.mid_ticks + Uniform(rng_, k));
    }
    UpdateMarkIndex(sym);
    s.mark_candles.Add(now_ms, s.mark, Dec());
    s.last_candles.Touch(now_ms, s.last);
  }
}

std::vector<PublicTrade> MarketModel::GenerateTrades(int64_t now_ms) {
  std::vector<PublicTrade> out;
  for (size_t i = 0; i < states_.size(); ++i) {
    const SymbolSpec& spec = catalog_.all()[i];
    if (!spec.tradable()) continue;
    const int sym = static_cast<int>(i);
    PublicTrade t;
    t.sym = sym;
    t.ts_ms = now_ms;
    t.buy = (rng_() & 1) != 0;
    t.price = t.buy ? BestAsk(sym) : BestBid(sym);
    const Dec notional = Dec::FromInt(static_cast<int64_t>(20 + rng_() % 20'000));
    t.qty = std::max(spec.lot(), (notional / t.price).Truncate(spec.base_precision));
    RecordTrade(sym, t.price, t.qty, now_ms);
    out.push_back(t);
  }
  return out;
}

void MarketModel::SetMid(int sym, Dec price, int64_t now_ms) {
  State& s = states_[Idx(sym)];
  const Dec tick = catalog_.all()[Idx(sym)].tick();
  s.mid_ticks = std::max<int64_t>(1, (price / tick).Round(0).units() / Dec::kOne);
  UpdateMarkIndex(sym);
  RecordTrade(sym, BestBid(sym), Dec(), now_ms);
  s.mark_candles.Add(now_ms, s.mark, Dec());
}

void MarketModel::RecordTrade(int sym, Dec price, Dec qty, int64_t now_ms) {
  State& s = states_[Idx(sym)];
  s.last = price;
  s.last_candles.Add(now_ms, price, qty);
}

Dec MarketModel::LevelQty(int sym, int64_t price_ticks, int depth_index) const {
  const SymbolSpec& spec = catalog_.all()[Idx(sym)];
  // The top of the book refreshes every step; deeper levels keep their size at a given price.
  const uint64_t gen = depth_index < 20 ? static_cast<uint64_t>(steps_) : 0;
  const uint64_t h = Hash(static_cast<uint64_t>(sym), static_cast<uint64_t>(price_ticks), gen);
  const Dec notional = Dec::FromInt(static_cast<int64_t>(50 + h % 60'000));
  const Dec price = TicksToPrice(price_ticks, spec.tick());
  return std::max(spec.lot(), (notional / price).Truncate(spec.base_precision));
}

std::vector<Level> MarketModel::Bids(int sym, int n) const {
  const int depth = options_.book_depth;
  const int count = (n <= 0 || n > depth) ? depth : n;
  const State& s = states_[Idx(sym)];
  const Dec tick = catalog_.all()[Idx(sym)].tick();
  std::vector<Level> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const int64_t t = s.mid_ticks - i;
    if (t <= 0) break;
    out.push_back({TicksToPrice(t, tick), LevelQty(sym, t, i)});
  }
  return out;
}

std::vector<Level> MarketModel::Asks(int sym, int n) const {
  const int depth = options_.book_depth;
  const int count = (n <= 0 || n > depth) ? depth : n;
  const State& s = states_[Idx(sym)];
  const Dec tick = catalog_.all()[Idx(sym)].tick();
  std::vector<Level> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const int64_t t = s.mid_ticks + 1 + i;
    out.push_back({TicksToPrice(t, tick), LevelQty(sym, t, i)});
  }
  return out;
}

std::vector<Fill> MarketModel::Take(int sym, bool buy, Dec qty, std::optional<Dec> limit) const {
  std::vector<Fill> fills;
  const State& s = states_[Idx(sym)];
  const Dec tick = catalog_.all()[Idx(sym)].tick();
  Dec left = qty;
  for (int i = 0; i < options_.book_depth && left > Dec(); ++i) {
    const int64_t t = buy ? s.mid_ticks + 1 + i : s.mid_ticks - i;
    if (t <= 0) break;
    const Dec price = TicksToPrice(t, tick);
    if (limit && (buy ? price > *limit : price < *limit)) break;
    const Dec take = std::min(left, LevelQty(sym, t, i));
    fills.push_back({price, take});
    left -= take;
  }
  if (!limit && left > Dec() && !fills.empty()) fills.back().qty += left;  // beyond the book: last level
  return fills;
}

std::vector<Candle> MarketModel::Aggregate(const CandleSeries& series, const KlineInterval& interval,
                                           int64_t from_open, int64_t to_open) const {
  std::vector<Candle> out;
  if (series.minutes.empty()) return out;
  const int64_t first = series.first_open_ms;
  const int64_t last = series.minutes.back().open_ms;
  const int64_t lo = std::max(from_open, first);
  const int64_t hi = std::min(interval.NextOpen(to_open) - 1, last);
  if (lo > hi) return out;
  size_t i = static_cast<size_t>((lo - first + kMinuteMs - 1) / kMinuteMs);
  const size_t end = static_cast<size_t>((hi - first) / kMinuteMs);
  for (; i <= end && i < series.minutes.size(); ++i) {
    const Candle& m = series.minutes[i];
    const int64_t bucket = interval.OpenTime(m.open_ms);
    if (out.empty() || out.back().open_ms != bucket) {
      Candle c = m;
      c.open_ms = bucket;
      out.push_back(c);
    } else {
      Candle& c = out.back();
      c.high = std::max(c.high, m.high);
      c.low = std::min(c.low, m.low);
      c.close = m.close;
      c.base_vol += m.base_vol;
      c.quote_vol += m.quote_vol;
    }
  }
  return out;
}

Candle MarketModel::CurrentCandle(int sym, const KlineInterval& interval, int64_t now_ms, bool mark) const {
  const State& s = states_[Idx(sym)];
  const CandleSeries& series = mark ? s.mark_candles : s.last_candles;
  const int64_t open = interval.OpenTime(now_ms);
  auto c = Aggregate(series, interval, open, open);
  if (c.empty()) {
    const Dec p = mark ? s.mark : s.last;
    return {open, p, p, p, p, Dec(), Dec()};
  }
  return c.back();
}

std::vector<Candle> MarketModel::Klines(int sym, const KlineInterval& interval, int64_t start_ms,
                                        int64_t end_ms, int limit, bool mark, int64_t now_ms) const {
  const State& s = states_[Idx(sym)];
  const CandleSeries& series = mark ? s.mark_candles : s.last_candles;
  if (limit <= 0 || series.minutes.empty()) return {};
  const int64_t end = (end_ms > 0) ? std::min(end_ms, now_ms) : now_ms;
  std::vector<Candle> all;
  if (start_ms > 0 && end_ms <= 0) {
    int64_t from = interval.OpenTime(std::max(start_ms, series.first_open_ms));
    if (from < start_ms) from = interval.NextOpen(from);
    int64_t to = from;
    for (int i = 1; i < limit && interval.NextOpen(to) <= end; ++i) to = interval.NextOpen(to);
    all = Aggregate(series, interval, from, to);
  } else {
    const int64_t to = interval.OpenTime(end);
    int64_t from = to;
    for (int i = 1; i < limit; ++i) {
      const int64_t prev = interval.OpenTime(from - 1);
      if (prev < std::max<int64_t>(start_ms, interval.OpenTime(series.first_open_ms))) break;
      from = prev;
    }
    all = Aggregate(series, interval, std::max(from, start_ms > 0 ? start_ms : from), to);
  }
  // Candles whose open lies before start_ms were clipped partial buckets: drop them.
  std::vector<Candle> out;
  for (auto it = all.rbegin(); it != all.rend() && static_cast<int>(out.size()) < limit; ++it) {
    if (start_ms > 0 && it->open_ms < start_ms) continue;
    out.push_back(*it);
  }
  return out;
}

Ticker24h MarketModel::Ticker(int sym, int64_t now_ms) const {
  const State& s = states_[Idx(sym)];
  const auto& m = s.last_candles.minutes;
  Ticker24h t;
  t.last = s.last;
  t.open = t.high = t.low = s.last;
  const int64_t from = now_ms - kDayMs;
  bool first = true;
  for (auto it = m.rbegin(); it != m.rend() && it->open_ms + kMinuteMs > from; ++it) {
    if (first) {
      t.high = it->high;
      t.low = it->low;
      first = false;
    }
    t.open = it->open;
    t.high = std::max(t.high, it->high);
    t.low = std::min(t.low, it->low);
    t.base_vol += it->base_vol;
    t.quote_vol += it->quote_vol;
  }
  // Percent change with 10 decimals, computed exactly.
  if (t.open.is_zero()) {
    t.change_pct = "0";
  } else {
    constexpr int64_t kTen10 = 10'000'000'000LL;
    Int128 num = Int128(t.last.units() - t.open.units()) * 100 * kTen10;
    Int128 q = num / t.open.units();
    Int128 r = num % t.open.units();
    if (2 * (r < 0 ? -r : r) >= t.open.units()) q += (num < 0 ? -1 : 1);
    const bool neg = q < 0;
    if (neg) q = -q;
    const int64_t ip = static_cast<int64_t>(q / kTen10);
    const int64_t fp = static_cast<int64_t>(q % kTen10);
    std::string f = std::to_string(fp);
    t.change_pct = (neg && q != 0 ? "-" : "") + std::to_string(ip) + "." + std::string(10 - f.size(), '0') + f;
  }
  return t;
}

Dec MarketModel::FundingRatePct(int sym, int64_t settle_ms) const {
  const uint64_t h = Hash(static_cast<uint64_t>(sym), 0xF00D, static_cast<uint64_t>(settle_ms));
  // -0.01 % .. +0.03 %, in steps of 0.000001 %.
  return Dec::FromUnits((static_cast<int64_t>(h % 40'001) - 10'000) * 100);
}

FundingInfo MarketModel::Funding(int sym, int64_t now_ms) const {
  FundingInfo f;
  f.interval_hours = catalog_.all()[Idx(sym)].funding_interval_hours;
  const int64_t iv = int64_t{f.interval_hours} * 3'600'000;
  f.last_settle_ms = now_ms / iv * iv;
  f.next_settle_ms = f.last_settle_ms + iv;
  f.settled_rate_pct = FundingRatePct(sym, f.last_settle_ms);
  f.rate_pct = FundingRatePct(sym, f.next_settle_ms);
  return f;
}

std::vector<std::pair<int64_t, Dec>> MarketModel::FundingHistory(int sym, int64_t start_ms, int64_t end_ms,
                                                                 int limit, int64_t now_ms) const {
  std::vector<std::pair<int64_t, Dec>> out;
  const int64_t iv = int64_t{catalog_.all()[Idx(sym)].funding_interval_hours} * 3'600'000;
  int64_t t = (end_ms > 0 ? std::min(end_ms, now_ms) : now_ms) / iv * iv;
  const Dec hundred = Dec::FromInt(100);
  while (static_cast<int>(out.size()) < limit && t >= start_ms && t > 0) {
    out.emplace_back(t, FundingRatePct(sym, t) / hundred);
    t -= iv;
  }
  return out;
}

}  // namespace bx::sim
