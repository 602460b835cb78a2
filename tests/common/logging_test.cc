#include "common/logging.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace bx {
namespace {

TEST(Logging, JsonEscape) {
  EXPECT_EQ(JsonEscape("a\"b\\c\n\x01"), "a\\\"b\\\\c\\n\\u0001");
}

TEST(Logging, JsonLinesAreValidJson) {
  InitLogging(LogLevel::kDebug, true);
  testing::internal::CaptureStderr();
  Log(LogLevel::kWarn, "upstream", "closed \"abruptly\"", {{"code", 1006}, {"url", "ws://x"}, {"ok", false}});
  std::string out = testing::internal::GetCapturedStderr();
  InitLogging(LogLevel::kInfo, false);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["component"], "upstream");
  EXPECT_EQ(j["msg"], "closed \"abruptly\"");
  EXPECT_EQ(j["code"], 1006);
  EXPECT_EQ(j["url"], "ws://x");
  EXPECT_EQ(j["ok"], false);
}

TEST(Logging, TextLinesCannotBeForgedThroughAFieldValue) {
  // A caller-supplied value (a symbol, a client id) with a newline or a tab must not start a line
  // of its own: it is quoted and escaped.
  InitLogging(LogLevel::kInfo, false);
  testing::internal::CaptureStderr();
  Log(LogLevel::kInfo, "audit", "PlaceOrder",
      {{"symbol", "BTCUSDT\n2026-11-27T00:00:00.000Z\tinfo\t[audit]\tforged"}, {"client_id", "a\tb\x7f"}});
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.find('\t'), std::string::npos) << out;
  EXPECT_NE(out.find("symbol=\"BTCUSDT\\n2026"), std::string::npos) << out;
  EXPECT_NE(out.find("client_id=\"a\\tb"), std::string::npos) << out;
}

TEST(Logging, LevelFilter) {
  InitLogging(LogLevel::kWarn, false);
  testing::internal::CaptureStderr();
  Log(LogLevel::kInfo, "c", "hidden");
  Log(LogLevel::kError, "c", "shown");
  std::string out = testing::internal::GetCapturedStderr();
  InitLogging(LogLevel::kInfo, false);
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("shown"), std::string::npos);
}

TEST(Logging, RateLimitedLogSuppressesFloods) {
  InitLogging(LogLevel::kInfo, false);
  RateLimitedLog rl(3, std::chrono::hours(1));
  testing::internal::CaptureStderr();
  for (int i = 0; i < 100; ++i) rl.Log(LogLevel::kWarn, "parser", "bad-frame", "malformed frame");
  rl.Log(LogLevel::kWarn, "parser", "other", "different key");
  std::string out = testing::internal::GetCapturedStderr();
  size_t n = 0;
  for (size_t p = out.find("malformed frame"); p != std::string::npos; p = out.find("malformed frame", p + 1)) ++n;
  EXPECT_EQ(n, 3u);
  EXPECT_NE(out.find("different key"), std::string::npos);
}

TEST(Logging, ParseLevel) {
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("debug", &l));
  EXPECT_EQ(l, LogLevel::kDebug);
  EXPECT_FALSE(ParseLogLevel("verbose", &l));
}

}  // namespace
}  // namespace bx
