// The simulated market: per symbol a seeded random-walk mid, a deep consistent book around it,
// trades at the book, 1-minute candles (with synthetic history) from which klines and 24 h tickers
// are derived, mark/index prices and funding. Everything is a deterministic function of the seed
// and the sequence of calls (Step, GenerateTrades, SetMid, RecordTrade).
//
// Not thread-safe: the owner (Exchange) serialises access.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <vector>

#include "sim/decimal.h"
#include "sim/kline_interval.h"
#include "sim/symbols.h"

namespace bx::sim {

struct Level {
  Dec price;
  Dec qty;
};

struct Candle {
  int64_t open_ms = 0;
  Dec open, high, low, close;
  Dec base_vol;   ///< base coin volume
  Dec quote_vol;  ///< quote turnover
};

struct PublicTrade {
  int sym = 0;
  int64_t ts_ms = 0;
  Dec price;
  Dec qty;
  bool buy = true;  ///< taker side
};

struct Ticker24h {
  Dec open, last, high, low, base_vol, quote_vol;
  std::string change_pct;  ///< "1.3103182302": (last - open) / open * 100, 10 decimals
};

struct FundingInfo {
  Dec rate_pct;          ///< predicted rate for the next settlement, percent
  Dec settled_rate_pct;  ///< rate settled at last_settle_ms, percent
  int64_t last_settle_ms = 0;
  int64_t next_settle_ms = 0;
  int interval_hours = 8;
};

struct Fill {
  Dec price;
  Dec qty;
};

class MarketModel {
 public:
  struct Options {
    uint64_t seed = 1;
    int book_depth = 8000;  ///< levels per side in the full book (depth_books, depth limit=max)
    int history_minutes = 30 * 24 * 60;
  };
  MarketModel(const SymbolCatalog& catalog, Options options, int64_t now_ms);

  const SymbolCatalog& catalog() const { return catalog_; }
  size_t size() const { return states_.size(); }

  /// One random-walk step of every OPEN symbol's mid (and mark/index), at `now_ms`.
  void Step(int64_t now_ms);
  /// One trade per OPEN symbol at the top of the book (random side and size); recorded in candles.
  std::vector<PublicTrade> GenerateTrades(int64_t now_ms);
  /// Moves `sym`'s mid so that the last price becomes `price` (rounded to the tick).
  void SetMid(int sym, Dec price, int64_t now_ms);
  /// Records an executed trade (also the account's fills) into last price and candles.
  void RecordTrade(int sym, Dec price, Dec qty, int64_t now_ms);

  Dec BestBid(int sym) const;
  Dec BestAsk(int sym) const;
  Dec Last(int sym) const { return states_[Idx(sym)].last; }
  Dec Mark(int sym) const { return states_[Idx(sym)].mark; }
  Dec Index(int sym) const { return states_[Idx(sym)].index; }
  /// Top `n` levels (n <= 0 or > depth: the whole book). Bids descending, asks ascending.
  std::vector<Level> Bids(int sym, int n) const;
  std::vector<Level> Asks(int sym, int n) const;
  /// Walks the opposite side for a taker of `qty` (buy takes asks). Does not change the book.
  /// Without a limit, what the book cannot absorb fills at its last level; with one, only levels
  /// at or better than `limit` are taken (the total may then be less than qty).
  std::vector<Fill> Take(int sym, bool buy, Dec qty, std::optional<Dec> limit = std::nullopt) const;

  Ticker24h Ticker(int sym, int64_t now_ms) const;
  /// The candle of `interval` containing now (aggregated from 1-minute candles).
  Candle CurrentCandle(int sym, const KlineInterval& interval, int64_t now_ms, bool mark) const;
  /// Up to `limit` candles, newest first, opening in [start_ms, end_ms] (0 = unbounded). With only
  /// a start, the oldest `limit` from it; otherwise the newest `limit` up to the end.
  std::vector<Candle> Klines(int sym, const KlineInterval& interval, int64_t start_ms, int64_t end_ms,
                             int limit, bool mark, int64_t now_ms) const;
  FundingInfo Funding(int sym, int64_t now_ms) const;
  /// Settled rates (fraction, not percent) at settlement times in [start_ms, end_ms], newest first.
  std::vector<std::pair<int64_t, Dec>> FundingHistory(int sym, int64_t start_ms, int64_t end_ms,
                                                      int limit, int64_t now_ms) const;
  int64_t steps() const { return steps_; }

 private:
  struct CandleSeries {
    int64_t first_open_ms = 0;
    std::vector<Candle> minutes;  // contiguous 1-minute candles
    void Touch(int64_t now_ms, Dec price);  // roll forward to now's minute (flat candles)
    void Add(int64_t now_ms, Dec price, Dec qty);
  };
  struct State {
    int64_t mid_ticks = 0;  // best bid = mid_ticks * tick, best ask = (mid_ticks + 1) * tick
    Dec last, mark, index;
    CandleSeries last_candles;
    CandleSeries mark_candles;
  };

  size_t Idx(int sym) const { return static_cast<size_t>(sym); }
  Dec LevelQty(int sym, int64_t price_ticks, int depth_index) const;
  uint64_t Hash(uint64_t a, uint64_t b, uint64_t c) const;
  Dec FundingRatePct(int sym, int64_t settle_ms) const;
  void UpdateMarkIndex(int sym);
  void GenerateHistory(int sym, int64_t now_ms);
  std::vector<Candle> Aggregate(const CandleSeries& series, const KlineInterval& interval,
                                int64_t from_open, int64_t to_open) const;

  const SymbolCatalog& catalog_;
  Options options_;
  std::mt19937_64 rng_;
  std::vector<State> states_;
  int64_t steps_ = 0;
};

}  // namespace bx::sim
