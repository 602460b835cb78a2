// Bounded log of what the simulator received and sent (WS frames and REST exchanges), for test
// assertions through GET /control/log. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bx::sim {

struct LogEntry {
  uint64_t seq = 0;
  int64_t ts_ms = 0;
  uint64_t conn = 0;
  std::string dir;   ///< "in" | "out"
  std::string kind;  ///< "ws_public" | "ws_private" | "rest"
  std::string text;
};

class MessageLog {
 public:
  /// Texts longer than `max_text` bytes are cut (depth_books frames are hundreds of KB) and end
  /// with "...(N bytes)".
  explicit MessageLog(size_t capacity, size_t max_text = 16 * 1024)
      : capacity_(capacity), max_text_(max_text) {}

  void Add(int64_t ts_ms, uint64_t conn, std::string_view dir, std::string_view kind, std::string_view text);
  /// Entries with seq >= since, oldest first, at most `limit`; *next = the seq to ask for next.
  std::vector<LogEntry> Read(uint64_t since, size_t limit, uint64_t* next) const;

 private:
  size_t capacity_;
  size_t max_text_;
  mutable std::mutex mu_;
  std::deque<LogEntry> entries_;
  uint64_t next_seq_ = 1;
};

}  // namespace bx::sim
