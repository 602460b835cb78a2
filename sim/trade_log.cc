#include "sim/trade_log.h"

#include <algorithm>

namespace bx::sim {

uint64_t TradeLog::Add(int sym, TradeLogEntry e) {
  if (capacity_ == 0 || sym < 0) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<size_t>(sym) >= per_symbol_.size()) return 0;
  Symbol& s = per_symbol_[static_cast<size_t>(sym)];
  e.seq = s.next_seq++;
  const uint64_t seq = e.seq;
  s.entries.push_back(std::move(e));
  while (s.entries.size() > capacity_) s.entries.pop_front();
  return seq;
}

void TradeLog::MarkStalled(int sym, uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sym < 0 || static_cast<size_t>(sym) >= per_symbol_.size()) return;
  auto& entries = per_symbol_[static_cast<size_t>(sym)].entries;
  auto it = std::lower_bound(entries.begin(), entries.end(), seq,
                             [](const TradeLogEntry& e, uint64_t v) { return e.seq < v; });
  if (it != entries.end() && it->seq == seq) it->stalled = true;
}

std::vector<TradeLogEntry> TradeLog::Read(int sym, uint64_t since, size_t limit, uint64_t* next) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TradeLogEntry> out;
  if (sym < 0 || static_cast<size_t>(sym) >= per_symbol_.size()) {
    *next = since;
    return out;
  }
  const Symbol& s = per_symbol_[static_cast<size_t>(sym)];
  auto it = std::lower_bound(s.entries.begin(), s.entries.end(), since,
                             [](const TradeLogEntry& e, uint64_t v) { return e.seq < v; });
  for (; it != s.entries.end() && out.size() < limit; ++it) out.push_back(*it);
  *next = out.empty() ? std::min(std::max<uint64_t>(since, 1), s.next_seq) : out.back().seq + 1;
  if (out.empty() && !s.entries.empty() && since < s.entries.front().seq) *next = s.entries.front().seq;
  return out;
}

}  // namespace bx::sim
