#include "sim/firehose.h"

#include <cstring>
#include <random>

#include "sim/frames.h"
#include "sim/market_model.h"
#include "common/time_util.h"
#include "sim/ws_framing.h"

namespace bx::sim {
namespace {

constexpr char kTsPlaceholder[] = "1000000000000";         // 13 digits, as every ms ts until 2286
constexpr char kTimePlaceholder[] = "1970-01-01T00:00:00Z";  // 20 chars

}  // namespace

FirehosePool::FirehosePool(const SymbolCatalog& catalog, const MarketModel& model, uint64_t seed) {
  pools_.resize(catalog.all().size());
  std::mt19937_64 rng(seed ^ 0xF12EF05EULL);
  for (size_t i = 0; i < pools_.size(); ++i) {
    const SymbolSpec& spec = catalog.all()[i];
    if (!spec.tradable()) continue;
    const int sym = static_cast<int>(i);
    Pool& pool = pools_[i];
    for (size_t k = 0; k < kFramesPerSymbol; ++k) {
      PublicTrade t;
      t.sym = sym;
      t.ts_ms = 0;
      t.buy = (rng() & 1) != 0;
      const int64_t offset = static_cast<int64_t>(rng() % 21) - 10;
      t.price = (t.buy ? model.BestAsk(sym) : model.BestBid(sym)) + spec.tick().MulInt(offset);
      t.qty = spec.lot().MulInt(static_cast<int64_t>(1 + rng() % 5000));
      std::string json = TradeFrame(spec.symbol, 1'000'000'000'000LL, {t}, spec.quote_precision,
                                    spec.base_precision);
      // TradeFrame wrote ts 1000000000000 and t 1970-01-01T00:00:00Z: remember where.
      const size_t ts_pos = json.find(kTsPlaceholder);
      const size_t t_pos = json.find(kTimePlaceholder);
      std::string frame = EncodeServerFrame(WsOpcode::kText, json);
      const size_t header = frame.size() - json.size();
      pool.frames.push_back({pool.bytes.size(), frame.size(), header + ts_pos, header + t_pos});
      pool.bytes += frame;
    }
  }
}

size_t FirehosePool::Append(int sym, size_t count, int64_t ts_ms, std::string* out, size_t* cursor) const {
  const Pool& pool = pools_[static_cast<size_t>(sym)];
  if (pool.frames.empty() || count == 0) return 0;
  char ts[16];
  std::snprintf(ts, sizeof ts, "%013lld", static_cast<long long>(ts_ms));
  const std::string iso = FormatIso8601Seconds(ts_ms);
  const size_t start = out->size();
  for (size_t n = 0; n < count; ++n) {
    const Frame& f = pool.frames[*cursor];
    if (++*cursor == pool.frames.size()) *cursor = 0;
    const size_t at = out->size();
    out->append(pool.bytes, f.offset, f.size);
    char* base = out->data() + at;
    std::memcpy(base + f.ts_at, ts, 13);
    std::memcpy(base + f.t_at, iso.data(), 20);
  }
  return out->size() - start;
}

}  // namespace bx::sim
