// Kline intervals: the REST names (1m ... 1M), the WS channel suffixes (1min ... 1month), and the
// open time of the candle containing a given instant (UTC; weeks start on Monday, months are
// calendar months).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bx::sim {

struct KlineInterval {
  std::string rest;  ///< "1m", "1h", "1M"
  std::string ws;    ///< "1min", "60min", "1month"
  int64_t ms = 0;    ///< nominal length (0 for calendar months)
  bool month = false;

  /// Open time (ms) of the candle that contains `t_ms`.
  int64_t OpenTime(int64_t t_ms) const;
  /// Open time of the next candle after the one opening at `open_ms`.
  int64_t NextOpen(int64_t open_ms) const;
};

/// Every interval, REST and WS forms aligned; 3m exists only on WS, per the reference.
const std::vector<KlineInterval>& AllKlineIntervals();
std::optional<KlineInterval> KlineFromRest(std::string_view name);
std::optional<KlineInterval> KlineFromWs(std::string_view suffix);

}  // namespace bx::sim
