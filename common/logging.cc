#include "common/logging.h"

#include <algorithm>

#include <cstdio>
#include <ctime>

namespace bx {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_json{false};
std::mutex g_write_mu;

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  return buf;
}

}  // namespace

void InitLogging(LogLevel min_level, bool json) {
  g_min_level = static_cast<int>(min_level);
  g_json = json;
}

bool ParseLogLevel(std::string_view s, LogLevel* out) {
  if (s == "debug") *out = LogLevel::kDebug;
  else if (s == "info") *out = LogLevel::kInfo;
  else if (s == "warn") *out = LogLevel::kWarn;
  else if (s == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

void Log(LogLevel level, std::string_view component, std::string_view msg,
         std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line;
  line.reserve(128);
  if (g_json.load(std::memory_order_relaxed)) {
    line += "{\"ts\":\"" + Timestamp() + "\",\"level\":\"" + LevelName(level) + "\",\"component\":\"";
    line += JsonEscape(component);
    line += "\",\"msg\":\"";
    line += JsonEscape(msg);
    line += '"';
    for (const auto& f : fields) {
      line += ",\"";
      line += JsonEscape(f.key);
      line += "\":";
      if (f.quoted) {
        line += '"';
        line += JsonEscape(f.value);
        line += '"';
      } else {
        line += f.value;
      }
    }
    line += "}\n";
  } else {
    line += Timestamp();
    line += ' ';
    line += LevelName(level);
    line += " [";
    line += component;
    line += "] ";
    line += msg;
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      // Quoted (and so escaped) when it could be misread: spaces, quotes, '=', and control
      // characters (a raw newline or tab in a caller-supplied value could forge a log line).
      bool needs_quotes =
          f.quoted && (f.value.empty() || f.value.find_first_of(" \"=") != std::string::npos ||
                       std::any_of(f.value.begin(), f.value.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }));
      if (needs_quotes) {
        line += '"';
        line += JsonEscape(f.value);
        line += '"';
      } else {
        line += f.value;
      }
    }
    line += '\n';
  }
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void RateLimitedLog::Log(LogLevel level, std::string_view component, std::string_view key,
                         std::string_view msg, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  int64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    Window& w = windows_[std::string(key)];
    if (w.count == 0 || now - w.start >= interval_) {
      suppressed = w.suppressed;
      w.start = now;
      w.count = 0;
      w.suppressed = 0;
    }
    if (w.count >= burst_) {
      ++w.suppressed;
      return;
    }
    ++w.count;
  }
  if (suppressed > 0) {
    bx::Log(level, component, "similar messages suppressed", {{"key", key}, {"suppressed", suppressed}});
  }
  bx::Log(level, component, msg, fields);
}

}  // namespace bx
