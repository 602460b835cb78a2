#include "sim/kline_interval.h"

#include "common/time_util.h"

namespace bx::sim {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;

}  // namespace

int64_t KlineInterval::OpenTime(int64_t t_ms) const {
  if (month) {
    const CivilDate d = CivilFromDays(FloorDiv(t_ms, kDay));
    return DaysFromCivil({d.year, d.month, 1}) * kDay;
  }
  if (ms == 7 * kDay) {
    // 1970-01-01 was a Thursday: shift so weeks open on Monday 00:00 UTC.
    const int64_t shift = 4 * kDay;
    return FloorDiv(t_ms - shift, ms) * ms + shift;
  }
  return FloorDiv(t_ms, ms) * ms;
}

int64_t KlineInterval::NextOpen(int64_t open_ms) const {
  if (month) {
    CivilDate d = CivilFromDays(FloorDiv(open_ms, kDay));
    if (++d.month == 13) {
      d.month = 1;
      ++d.year;
    }
    return DaysFromCivil({d.year, d.month, 1}) * kDay;
  }
  return open_ms + ms;
}

const std::vector<KlineInterval>& AllKlineIntervals() {
  static const std::vector<KlineInterval> kAll = {
      {"1m", "1min", kMin, false},      {"3m", "3min", 3 * kMin, false},
      {"5m", "5min", 5 * kMin, false},  {"15m", "15min", 15 * kMin, false},
      {"30m", "30min", 30 * kMin, false}, {"1h", "60min", kHour, false},
      {"2h", "2h", 2 * kHour, false},   {"4h", "4h", 4 * kHour, false},
      {"6h", "6h", 6 * kHour, false},   {"8h", "8h", 8 * kHour, false},
      {"12h", "12h", 12 * kHour, false}, {"1d", "1day", kDay, false},
      {"3d", "3day", 3 * kDay, false},  {"1w", "1week", 7 * kDay, false},
      {"1M", "1month", 0, true},
  };
  return kAll;
}

std::optional<KlineInterval> KlineFromRest(std::string_view name) {
  // The REST list in the reference has no 3m.
  if (name == "3m") return std::nullopt;
  for (const auto& k : AllKlineIntervals()) {
    if (k.rest == name) return k;
  }
  return std::nullopt;
}

std::optional<KlineInterval> KlineFromWs(std::string_view suffix) {
  for (const auto& k : AllKlineIntervals()) {
    if (k.ws == suffix) return k;
  }
  return std::nullopt;
}

}  // namespace bx::sim
