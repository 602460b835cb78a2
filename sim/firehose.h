// Pre-encoded trade frames for the firehose: per symbol a pool of complete WS frames (header +
// JSON) whose ts and t fields are patched in place when copied into a write batch. Immutable after
// construction; safe to share across threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/symbols.h"

namespace bx::sim {

class MarketModel;

class FirehosePool {
 public:
  static constexpr size_t kFramesPerSymbol = 512;
  FirehosePool(const SymbolCatalog& catalog, const MarketModel& model, uint64_t seed);

  /// Appends `count` trade frames of symbol `sym` to `out` (continuing from *cursor), with "ts"
  /// set to `ts_ms` and "t" to its whole second. Returns the bytes appended.
  size_t Append(int sym, size_t count, int64_t ts_ms, std::string* out, size_t* cursor) const;
  bool has(int sym) const { return sym >= 0 && static_cast<size_t>(sym) < pools_.size() && !pools_[static_cast<size_t>(sym)].frames.empty(); }

 private:
  struct Frame {
    size_t offset, size, ts_at, t_at;
  };
  struct Pool {
    std::string bytes;
    std::vector<Frame> frames;
  };
  std::vector<Pool> pools_;
};

}  // namespace bx::sim
