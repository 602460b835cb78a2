#include "sim/message_log.h"

#include <algorithm>

namespace bx::sim {

void MessageLog::Add(int64_t ts_ms, uint64_t conn, std::string_view dir, std::string_view kind,
                     std::string_view text) {
  if (capacity_ == 0) return;
  LogEntry e;
  e.ts_ms = ts_ms;
  e.conn = conn;
  e.dir = std::string(dir);
  e.kind = std::string(kind);
  if (text.size() > max_text_) {
    e.text = std::string(text.substr(0, max_text_)) + "...(" + std::to_string(text.size()) + " bytes)";
  } else {
    e.text = std::string(text);
  }
  std::lock_guard<std::mutex> lock(mu_);
  e.seq = next_seq_++;
  entries_.push_back(std::move(e));
  while (entries_.size() > capacity_) entries_.pop_front();
}

std::vector<LogEntry> MessageLog::Read(uint64_t since, size_t limit, uint64_t* next) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LogEntry> out;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), since,
                             [](const LogEntry& e, uint64_t s) { return e.seq < s; });
  for (; it != entries_.end() && out.size() < limit; ++it) out.push_back(*it);
  *next = out.empty() ? std::max(since, entries_.empty() ? next_seq_ : entries_.front().seq)
                      : out.back().seq + 1;
  if (out.empty() && since > next_seq_) *next = next_seq_;
  return out;
}

}  // namespace bx::sim
