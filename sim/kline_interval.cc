#include "sim/kline_interval.h"

namespace bx::sim {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;

// Howard Hinnant's civil-from-days / days-from-civil (public-domain algorithms).
void CivilFromDays(int64_t z, int64_t* y, int* m) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

int64_t KlineInterval::OpenTime(int64_t t_ms) const {
  if (month) {
    int64_t y = 0;
    int m = 0;
    CivilFromDays(FloorDiv(t_ms, kDay), &y, &m);
    return DaysFromCivil(y, m, 1) * kDay;
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
    int64_t y = 0;
    int m = 0;
    CivilFromDays(FloorDiv(open_ms, kDay), &y, &m);
    if (++m == 13) {
      m = 1;
      ++y;
    }
    return DaysFromCivil(y, m, 1) * kDay;
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
