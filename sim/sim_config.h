// bitunix-sim's options (flags, BITUNIX_SIM_* environment, YAML) and their typed form.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace bx::sim {

struct SimConfig {
  std::string addr = "127.0.0.1:0";
  std::string control_addr = "127.0.0.1:0";
  std::string tls_cert;
  std::string tls_key;
  uint64_t seed = 1;
  std::string symbols = "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT,BTCUSDC";
  std::string api_key = "sim-api-key";
  std::string api_secret = "sim-api-secret";
  std::string balance = "100000";
  std::chrono::milliseconds push_interval{300};
  std::chrono::milliseconds kline_push_interval{2000};
  double trade_rate = 5;
  int64_t firehose_rate = 0;  ///< 0 off, -1 as fast as the socket takes
  std::chrono::milliseconds ws_idle_timeout{60'000};
  int ws_max_msgs_per_sec = 5;
  int ws_max_subs = 300;
  /// A public subscribe takes effect (first push, then the stream's pushes) after a delay drawn
  /// uniformly from [min, max] (live: 103-598 ms after it was sent). 0-0: at once.
  std::chrono::milliseconds ws_subscribe_delay_min{0};
  std::chrono::milliseconds ws_subscribe_delay_max{0};
  /// Model trades kept per symbol for GET /control/trades.
  size_t trade_log_capacity = 10'000;
  std::chrono::milliseconds rest_time_window{60'000};
  size_t log_capacity = 10'000;
  int book_depth = 8000;
  bool rest_rate_limits = true;
  /// Time a keep-alive REST connection gets for its next request before it is closed.
  std::chrono::milliseconds rest_idle_timeout{300'000};
  /// Over TLS, an idle REST connection is closed with a close_notify before the FIN (false: the
  /// FIN alone, a truncation to the client). Plain connections always get the FIN alone.
  bool rest_idle_close_notify = true;
  bool gzip_replies = false;  ///< gzip REST bodies for clients that accept it
  int threads = 2;
};

/// Every option of the binary, including config/log-level/log-format.
std::vector<OptSpec> SimOptionSpecs();
/// Typed view of a loaded Config; errors name the option.
absl::StatusOr<SimConfig> SimConfigFrom(const Config& cfg);
/// "max" or "-1" -> -1, "0" -> 0, "N" -> N; error otherwise.
absl::StatusOr<int64_t> ParseFirehoseRate(std::string_view text);
/// "MIN-MAX" or "N" (N-N), each a duration (a bare number is ms), 0 <= MIN <= MAX <= 60 s.
absl::StatusOr<std::pair<std::chrono::milliseconds, std::chrono::milliseconds>> ParseDelayRange(
    std::string_view text);

}  // namespace bx::sim
