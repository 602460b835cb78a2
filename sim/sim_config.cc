#include "sim/sim_config.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "sim/decimal.h"

namespace bx::sim {

std::vector<OptSpec> SimOptionSpecs() {
  return {
      {.name = "config", .type = OptType::kPath, .help = "YAML file with option values."},
      {.name = "addr", .type = OptType::kHostPort, .default_value = "127.0.0.1:0",
       .help = "The exchange port: REST under /api/v1/futures/ and WebSockets at /public/ and /private/."},
      {.name = "control-addr", .type = OptType::kHostPort, .default_value = "127.0.0.1:0",
       .help = "Control API (fault injection, stats, log); port 0 picks a free port."},
      {.name = "tls-cert", .type = OptType::kPath, .help = "PEM certificate chain: serve https/wss."},
      {.name = "tls-key", .type = OptType::kPath, .help = "PEM private key for --tls-cert."},
      {.name = "seed", .type = OptType::kInt, .default_value = "1", .help = "Market model seed.", .min = 0},
      {.name = "symbols", .type = OptType::kString,
       .default_value = "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT,BTCUSDC",
       .help = "Listed (OPEN) symbols; PREVIEWUSDT (PREVIEW) and HALTUSDT (STOP) are always listed too."},
      {.name = "api-key", .type = OptType::kString, .default_value = "sim-api-key",
       .help = "The simulated account's API key."},
      {.name = "api-secret", .type = OptType::kString, .default_value = "sim-api-secret",
       .help = "The simulated account's API secret.", .env_or_file_only = true},
      {.name = "balance", .type = OptType::kString, .default_value = "100000",
       .help = "Starting USDT balance of the simulated account."},
      {.name = "push-interval", .type = OptType::kDuration, .default_value = "300ms",
       .help = "Cadence of depth_book*, ticker, tickers and price pushes (live: ~310 ms)."},
      {.name = "kline-interval-push", .type = OptType::kDuration, .default_value = "2s",
       .help = "Cadence of kline pushes."},
      {.name = "trade-rate", .type = OptType::kDouble, .default_value = "5",
       .help = "Model trades per second per symbol (0 = none)."},
      {.name = "firehose-rate", .type = OptType::kString, .default_value = "0",
       .help = "Trade frames/s per subscribed symbol on top of the model (0 = off, max or -1 = as fast "
               "as the socket takes); pre-encoded, coalesced writes."},
      {.name = "ws-idle-timeout", .type = OptType::kDuration, .default_value = "60s",
       .help = "Close (without a close frame) a socket that sent nothing for this long."},
      {.name = "ws-max-msgs-per-sec", .type = OptType::kInt, .default_value = "5",
       .help = "More inbound messages than this in one second disconnects.", .min = 1},
      {.name = "ws-max-subs", .type = OptType::kInt, .default_value = "300",
       .help = "Subscriptions per connection.", .min = 1},
      {.name = "ws-subscribe-delay", .type = OptType::kString, .default_value = "0",
       .help = "A public subscribe takes effect after a random delay in MIN-MAX (e.g. 100-600, ms unless "
               "a unit is given; live: 103-598 ms); N = exactly N; 0 = at once."},
      {.name = "rest-time-window", .type = OptType::kDuration, .default_value = "60s",
       .help = "Allowed |timestamp - server time| for signed REST calls and WS login."},
      {.name = "log-capacity", .type = OptType::kInt, .default_value = "10000",
       .help = "Messages kept by GET /control/log.", .min = 0},
      {.name = "trade-log-capacity", .type = OptType::kInt, .default_value = "10000",
       .help = "Model trades kept per symbol for GET /control/trades.", .min = 0, .max = 10000000},
      {.name = "book-depth", .type = OptType::kInt, .default_value = "8000",
       .help = "Levels per side of the full book (depth_books, depth limit=max).", .min = 15, .max = 100000},
      {.name = "rest-rate-limits", .type = OptType::kBool, .default_value = "true",
       .help = "Enforce the reference's REST rate limits (10005)."},
      {.name = "rest-idle-timeout", .type = OptType::kDuration, .default_value = "300s",
       .help = "Close a keep-alive REST connection whose next request has not arrived within this time."},
      {.name = "rest-idle-close", .type = OptType::kChoice, .default_value = "close_notify",
       .help = "How an idle REST connection is closed over TLS (timeout or POST /control/close_idle_rest): "
               "close_notify (a TLS close_notify, then the FIN) or abrupt (the FIN alone: the client sees "
               "a truncated stream). Plain HTTP: always the FIN.",
       .choices = {"close_notify", "abrupt"}},
      {.name = "gzip-replies", .type = OptType::kBool, .default_value = "false",
       .help = "Send REST bodies gzip-encoded (Content-Encoding: gzip) to requests whose "
               "Accept-Encoding accepts gzip."},
      {.name = "threads", .type = OptType::kInt, .default_value = "2", .help = "I/O threads.", .min = 1,
       .max = 64},
      {.name = "log-level", .type = OptType::kChoice, .default_value = "info", .help = "Minimum log level.",
       .choices = {"debug", "info", "warn", "error"}},
      {.name = "log-format", .type = OptType::kChoice, .default_value = "text", .help = "Log line format.",
       .choices = {"text", "json"}},
  };
}

absl::StatusOr<int64_t> ParseFirehoseRate(std::string_view text) {
  if (text == "max" || text == "-1") return -1;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("firehose rate '", std::string(text), "': expected a frames/s count >= 0, max or -1"));
  }
  return v;
}

absl::StatusOr<std::pair<std::chrono::milliseconds, std::chrono::milliseconds>> ParseDelayRange(
    std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("delay range '", std::string(text),
                                                   "': expected MIN-MAX or N, durations from 0 to 60s"));
  };
  const size_t dash = text.find('-');
  auto lo = ParseDuration(text.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : ParseDuration(text.substr(dash + 1));
  if (!lo.ok() || !hi.ok() || lo->count() < 0 || *hi < *lo || *hi > std::chrono::seconds(60)) return bad();
  return std::make_pair(*lo, *hi);
}

absl::StatusOr<SimConfig> SimConfigFrom(const Config& cfg) {
  SimConfig c;
  c.addr = cfg.Str("addr");
  c.control_addr = cfg.Str("control-addr");
  c.tls_cert = cfg.Str("tls-cert");
  c.tls_key = cfg.Str("tls-key");
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  c.seed = static_cast<uint64_t>(cfg.Int("seed"));
  c.symbols = cfg.Str("symbols");
  c.api_key = cfg.Str("api-key");
  c.api_secret = cfg.Str("api-secret");
  if (c.api_key.empty() || c.api_secret.empty()) {
    return absl::InvalidArgumentError("--api-key and the api secret must not be empty");
  }
  c.balance = cfg.Str("balance");
  auto bal = Dec::Parse(c.balance);
  if (!bal || bal->is_negative()) {
    return absl::InvalidArgumentError(absl::StrCat("--balance '", c.balance, "': expected a decimal >= 0"));
  }
  c.push_interval = cfg.Duration("push-interval");
  c.kline_push_interval = cfg.Duration("kline-interval-push");
  if (c.push_interval.count() <= 0 || c.kline_push_interval.count() <= 0) {
    return absl::InvalidArgumentError("--push-interval and --kline-interval-push must be > 0");
  }
  c.trade_rate = cfg.Double("trade-rate");
  if (c.trade_rate < 0 || c.trade_rate > 10'000) {
    return absl::InvalidArgumentError("--trade-rate: expected 0 .. 10000 trades/s");
  }
  auto fh = ParseFirehoseRate(cfg.Str("firehose-rate"));
  if (!fh.ok()) return absl::InvalidArgumentError(absl::StrCat("--", fh.status().message()));
  c.firehose_rate = *fh;
  c.ws_idle_timeout = cfg.Duration("ws-idle-timeout");
  c.ws_max_msgs_per_sec = static_cast<int>(cfg.Int("ws-max-msgs-per-sec"));
  c.ws_max_subs = static_cast<int>(cfg.Int("ws-max-subs"));
  auto delay = ParseDelayRange(cfg.Str("ws-subscribe-delay"));
  if (!delay.ok()) return absl::InvalidArgumentError(absl::StrCat("--ws-subscribe-delay: ", delay.status().message()));
  c.ws_subscribe_delay_min = delay->first;
  c.ws_subscribe_delay_max = delay->second;
  c.trade_log_capacity = static_cast<size_t>(cfg.Int("trade-log-capacity"));
  c.rest_time_window = cfg.Duration("rest-time-window");
  c.log_capacity = static_cast<size_t>(cfg.Int("log-capacity"));
  c.book_depth = static_cast<int>(cfg.Int("book-depth"));
  c.rest_rate_limits = cfg.Bool("rest-rate-limits");
  c.rest_idle_timeout = cfg.Duration("rest-idle-timeout");
  if (c.rest_idle_timeout.count() <= 0) return absl::InvalidArgumentError("--rest-idle-timeout must be > 0");
  c.rest_idle_close_notify = cfg.Str("rest-idle-close") == "close_notify";
  c.gzip_replies = cfg.Bool("gzip-replies");
  c.threads = static_cast<int>(cfg.Int("threads"));
  return c;
}

}  // namespace bx::sim
