// Structured logging to stderr: human-readable text or JSON lines. Thread-safe; one line per call.
//
//   bx::Log(bx::LogLevel::kInfo, "upstream", "connected", {{"url", url}, {"conn", 2}});
//
// Never log secrets: API keys, secrets, signatures and bearer tokens have no place in fields.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bx {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// One key/value of a log line. Numbers and bools are written unquoted in JSON.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
  LogField(std::string_view k, T v) : key(k), value(std::to_string(v)), quoted(false) {}
  std::string_view key;
  std::string value;
  bool quoted;
};

/// Configure once at startup (before threads start). Defaults: info, text.
void InitLogging(LogLevel min_level, bool json);
bool ParseLogLevel(std::string_view s, LogLevel* out);
bool LogEnabled(LogLevel level);

void Log(LogLevel level, std::string_view component, std::string_view msg,
         std::initializer_list<LogField> fields = {});

/// JSON string escaping (exposed for tests and the JSON ready line).
std::string JsonEscape(std::string_view s);

/// Logs at most `burst` lines per `interval` per key, then a summary of how many were suppressed.
/// For per-frame problems (parse errors, drops) that must never flood the log.
class RateLimitedLog {
 public:
  RateLimitedLog(int burst, std::chrono::milliseconds interval) : burst_(burst), interval_(interval) {}
  void Log(LogLevel level, std::string_view component, std::string_view key, std::string_view msg,
           std::initializer_list<LogField> fields = {});

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    int count = 0;
    int64_t suppressed = 0;
  };
  int burst_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace bx
