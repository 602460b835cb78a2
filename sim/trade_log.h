// Bounded per-symbol log of the model trades the simulator executed (the `trade` pushes of
// --trade-rate, not the firehose), with the exact strings it pushed, for GET /control/trades: a
// test can compare what a client received with what the exchange executed. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace bx::sim {

struct TradeLogEntry {
  uint64_t seq = 0;     ///< per symbol, from 1, never reused
  int64_t ts_ms = 0;    ///< the push's envelope `ts` (the trade's execution time)
  std::string t;        ///< the item's `t` (ISO-8601, whole seconds)
  std::string p, v, s;  ///< the item's price, volume and side ("buy" / "sell"), as pushed
  /// A stall (POST /control/stall) withheld the push from some or all subscribers.
  bool stalled = false;
};

class TradeLog {
 public:
  /// `symbols` slots (the catalog's indices), each keeping its last `capacity` trades.
  TradeLog(size_t symbols, size_t capacity) : capacity_(capacity), per_symbol_(symbols) {}

  /// Returns the entry's seq (0 when not kept).
  uint64_t Add(int sym, TradeLogEntry e);
  /// Sets `stalled` on `sym`'s entry `seq` (if still kept).
  void MarkStalled(int sym, uint64_t seq);
  /// `sym`'s entries with seq >= since, oldest first, at most `limit`; *next = the seq to ask for
  /// next.
  std::vector<TradeLogEntry> Read(int sym, uint64_t since, size_t limit, uint64_t* next) const;

 private:
  struct Symbol {
    std::deque<TradeLogEntry> entries;
    uint64_t next_seq = 1;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Symbol> per_symbol_;
};

}  // namespace bx::sim
