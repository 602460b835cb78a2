#include "services/orders/orders_options.h"

#include "absl/strings/str_cat.h"
#include "common/process.h"

namespace bx::orders {

std::vector<OptSpec> OrdersOptionSpecs() {
  std::vector<OptSpec> specs = CommonServiceOptions("127.0.0.1:50052", "127.0.0.1:9102", ExchangeFeed::kPrivate);
  auto add = [&specs](OptSpec s) { specs.push_back(std::move(s)); };
  add({.name = "mode", .type = OptType::kChoice, .default_value = "live",
       .help = "live: the real exchange. paper: a simulator (refuses fapi.bitunix.com). dry-run: validate and "
               "sign, never send state-changing requests.",
       .choices = {"live", "paper", "dry-run"}});
  add({.name = "api-key", .type = OptType::kString, .help = "Exchange API key (prefer --api-key-file).",
       .env_or_file_only = true});
  add({.name = "api-secret", .type = OptType::kString, .help = "Exchange API secret (prefer --api-secret-file).",
       .env_or_file_only = true});
  add({.name = "api-key-file", .type = OptType::kPath,
       .help = "File holding the exchange API key (e.g. a Kubernetes Secret mount)."});
  add({.name = "api-secret-file", .type = OptType::kPath,
       .help = "File holding the exchange API secret (e.g. a Kubernetes Secret mount)."});
  add({.name = "auth-tokens-file", .type = OptType::kPath,
       .help = "Caller tokens, one per line: '<name> <read|trade> <token>'; "
               "a line 'revoke-all' alone revokes every token (docs/ORDERS.md)."});
  add({.name = "auth-tokens-reload", .type = OptType::kDuration, .default_value = "10s",
       .help = "Re-read --auth-tokens-file this often; a change is applied when two checks in a row read the "
               "same complete, valid file (a file being written is waited for), an invalid one is logged and "
               "the tokens in force stay (0: never)."});
  add({.name = "insecure-no-auth", .type = OptType::kBool, .default_value = "false",
       .help = "DEVELOPMENT ONLY: accept unauthenticated calls when no tokens and no mTLS are configured."});
  add({.name = "tls-cert", .type = OptType::kPath, .help = "PEM certificate of the gRPC server (enables TLS)."});
  add({.name = "tls-key", .type = OptType::kPath, .help = "PEM private key of the gRPC server."});
  add({.name = "client-ca-file", .type = OptType::kPath,
       .help = "PEM CA for client certificates: enables mTLS (clients must present a certificate)."});
  add({.name = "mtls-role", .type = OptType::kChoice, .default_value = "trade",
       .help = "Role of mTLS-verified clients that send no bearer token.", .choices = {"read", "trade"}});
  add({.name = "audit-file", .type = OptType::kPath,
       .help = "Also append audit records (one JSON line per state-changing call) to this file."});
  add({.name = "rate-limit-private", .type = OptType::kDouble, .default_value = "10",
       .help = "Requests/s for private endpoints (documented: 10/s per UID)."});
  add({.name = "rate-limit-cancel", .type = OptType::kDouble, .default_value = "5",
       .help = "Requests/s for cancel_orders and flash_close_position (documented: 5/s)."});
  add({.name = "rate-limit-batch", .type = OptType::kDouble, .default_value = "1",
       .help = "Requests/s for batch_order (stricter of the documented 1/s and 5/s)."});
  add({.name = "rate-limit-public", .type = OptType::kDouble, .default_value = "10",
       .help = "Requests/s for public market endpoints (documented: 10/s per IP)."});
  add({.name = "rate-limit-burst", .type = OptType::kDouble, .default_value = "1",
       .help = "Tokens a bucket may save while idle (1 keeps every 1 s window within budget + 1)."});
  add({.name = "rate-limit-queue", .type = OptType::kInt, .default_value = "256",
       .help = "Calls that may wait for a token per bucket and lane.", .min = 1, .max = 100000});
  add({.name = "rest-timeout", .type = OptType::kDuration, .default_value = "5s",
       .help = "Per-attempt timeout of an exchange REST call (capped by the caller's deadline)."});
  add({.name = "default-timeout", .type = OptType::kDuration, .default_value = "10s",
       .help = "Deadline of gRPC calls that carry none."});
  add({.name = "max-timeout", .type = OptType::kDuration, .default_value = "60s",
       .help = "Longest deadline honoured for a gRPC call."});
  add({.name = "http-connections", .type = OptType::kInt, .default_value = "4",
       .help = "Keep-alive connections to the exchange REST API.", .min = 1, .max = 64});
  add({.name = "rules-refresh", .type = OptType::kDuration, .default_value = "5m",
       .help = "How often trading_pairs (symbol rules for validation) is reloaded."});
  add({.name = "max-clock-skew", .type = OptType::kDuration, .default_value = "30s",
       .help = "Not ready while the exchange clock (from HTTP Date) differs from ours by more than this."});
  add({.name = "apply-clock-skew", .type = OptType::kBool, .default_value = "true",
       .help = "Correct request timestamps by the estimated exchange clock skew."});
  add({.name = "health-interval", .type = OptType::kDuration, .default_value = "30s",
       .help = "Readiness probe cadence (a signed account read)."});
  add({.name = "health-timeout", .type = OptType::kDuration, .default_value = "10s",
       .help = "Deadline of one readiness probe: how long it may wait for a rate-limit token or a free exchange "
               "connection before it is refused as busy."});
  add({.name = "health-busy-grace", .type = OptType::kDuration, .default_value = "0",
       .help = "A readiness probe refused as busy (no rate-limit token, no free exchange connection, or the "
               "exchange's 10005/10006/HTTP 429) keeps the service ready while a signed request was answered (a success "
               "or a business refusal such as 20003) within this (0: 3 x --health-interval + --health-timeout)."});
  add({.name = "resolve-reserve", .type = OptType::kDuration, .default_value = "1500ms",
       .help = "Part of a placement's deadline kept for resolving a lost answer by client id."});
  add({.name = "reconcile-window", .type = OptType::kDuration, .default_value = "5m",
       .help = "How long an UNKNOWN placement is looked for in the background (at least 90s in live mode)."});
  add({.name = "private-stream", .type = OptType::kBool, .default_value = "true",
       .help = "Connect the private WebSocket (order/position/balance/tpsl updates)."});
  add({.name = "busy-poll", .type = OptType::kBool, .default_value = "false",
       .help = "Latency mode: one thread serves gRPC and the exchange connections and never sleeps (it polls "
               "both), so no request waits for a thread to wake. Costs one CPU core at 100 % all the time; "
               "give the container a whole core for it."});
  add({.name = "ws-ping-interval", .type = OptType::kDuration, .default_value = "15s",
       .help = "JSON ping cadence on the private WebSocket."});
  add({.name = "max-update-streams-per-caller", .type = OptType::kInt, .default_value = "16",
       .help = "StreamUpdates streams one caller (token or mTLS identity) may hold open; each start reads "
               "orders, positions and the account over REST.",
       .min = 1, .max = 100000});
  add({.name = "stream-queue", .type = OptType::kInt, .default_value = "4096",
       .help = "Per-StreamUpdates-stream queue bound (events, statuses included); overflow first collapses "
               "side-by-side statuses into the later one, then drops the oldest update and sends a Gap.",
       .min = 16, .max = 1000000});
  add({.name = "margin-coin", .type = OptType::kString, .default_value = "USDT",
       .help = "Default margin coin of account calls."});
  return specs;
}

namespace {

absl::StatusOr<std::string> Secret(const Config& c, const std::string& value_opt, const std::string& file_opt) {
  const std::string& file = c.Str(file_opt);
  const std::string& value = c.Str(value_opt);
  if (!file.empty() && !value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("set either --", file_opt, " or ", c.EnvName(value_opt),
                                                   ", not both"));
  }
  if (!file.empty()) {
    auto text = ReadFileTrimmed(file);
    if (!text) return absl::InvalidArgumentError(absl::StrCat("cannot read --", file_opt, " ", file));
    if (text->empty()) return absl::InvalidArgumentError(absl::StrCat("--", file_opt, " ", file, " is empty"));
    return *text;
  }
  return value;
}

}  // namespace

absl::StatusOr<OrdersAppOptions> OrdersOptionsFromConfig(const Config& c) {
  OrdersAppOptions o;
  o.grpc_addr = c.Str("grpc-addr");
  o.metrics_addr = c.Str("metrics-addr");
  auto rest = ParseUrl(c.Str("rest-url"));
  if (!rest.ok()) return rest.status();
  o.rest_url = *rest;
  auto ws = ParseUrl(c.Str("private-ws-url"));
  if (!ws.ok()) return ws.status();
  o.private_ws_url = *ws;
  o.exchange_tls.ca_file = c.Str("ca-file");
  if (absl::Status tls = net::CheckTlsOptions(o.exchange_tls); !tls.ok()) return tls;
  o.http_max_connections = static_cast<size_t>(c.Int("http-connections"));

  const std::string mode = c.Str("mode");
  o.mode = mode == "paper" ? Mode::kPaper : mode == "dry-run" ? Mode::kDryRun : Mode::kLive;
  o.engine.mode = o.mode;
  auto key = Secret(c, "api-key", "api-key-file");
  if (!key.ok()) return key.status();
  auto secret = Secret(c, "api-secret", "api-secret-file");
  if (!secret.ok()) return secret.status();
  o.api_key = *key;
  o.api_secret = *secret;

  if (const std::string& path = c.Str("auth-tokens-file"); !path.empty()) {
    auto file = ReadTokensFile(path);
    if (!file.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--auth-tokens-file: ", file.status().message()));
    }
    o.tokens = std::move(file->tokens);
    o.tokens_file = path;
    o.tokens_text = std::move(file->text);
  }
  o.tokens_reload = c.Duration("auth-tokens-reload");
  o.auth.insecure_no_auth = c.Bool("insecure-no-auth");
  o.auth.mtls_role = c.Str("mtls-role") == "read" ? Role::kReadOnly : Role::kTrading;
  o.tls_cert_file = c.Str("tls-cert");
  o.tls_key_file = c.Str("tls-key");
  o.client_ca_file = c.Str("client-ca-file");
  o.audit_file = c.Str("audit-file");

  const double burst = c.Double("rate-limit-burst");
  o.limiter.buckets[static_cast<size_t>(Bucket::kPublic)] = {c.Double("rate-limit-public"), burst};
  o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {c.Double("rate-limit-private"), burst};
  o.limiter.buckets[static_cast<size_t>(Bucket::kCancel)] = {c.Double("rate-limit-cancel"), burst};
  o.limiter.buckets[static_cast<size_t>(Bucket::kBatch)] = {c.Double("rate-limit-batch"), burst};
  for (const auto& b : o.limiter.buckets) {
    if (b.rate_per_s <= 0 || b.burst < 1) {
      return absl::InvalidArgumentError("rate limits must be > 0 and --rate-limit-burst >= 1");
    }
  }
  o.limiter.max_queue_per_lane = static_cast<size_t>(c.Int("rate-limit-queue"));
  o.rest.request_timeout = c.Duration("rest-timeout");
  o.service.default_timeout = c.Duration("default-timeout");
  o.service.max_timeout = c.Duration("max-timeout");
  o.service.stream_max_queue = static_cast<size_t>(c.Int("stream-queue"));
  o.service.max_update_streams_per_caller = static_cast<size_t>(c.Int("max-update-streams-per-caller"));
  o.service.default_margin_coin = c.Str("margin-coin");
  o.engine.default_margin_coin = c.Str("margin-coin");
  o.engine.resolve_reserve = c.Duration("resolve-reserve");
  o.engine.reconcile_window = c.Duration("reconcile-window");
  o.rules_refresh = c.Duration("rules-refresh");
  o.max_clock_skew = c.Duration("max-clock-skew");
  o.apply_clock_skew = c.Bool("apply-clock-skew");
  o.health_interval = c.Duration("health-interval");
  o.health_timeout = c.Duration("health-timeout");
  o.health_busy_grace = c.Duration("health-busy-grace");
  o.enable_private_stream = c.Bool("private-stream");
  o.busy_poll = c.Bool("busy-poll");
  o.private_stream.ping_interval = c.Duration("ws-ping-interval");
  o.private_stream.idle_timeout = std::max(o.private_stream.ping_interval * 3, std::chrono::milliseconds(10000));
  if (o.rest.request_timeout.count() <= 0 || o.service.default_timeout.count() <= 0 ||
      o.rules_refresh.count() <= 0 || o.health_interval.count() <= 0 || o.health_timeout.count() <= 0 ||
      o.private_stream.ping_interval.count() <= 0) {
    return absl::InvalidArgumentError("timeouts and intervals must be greater than 0");
  }
  // An attempt the exchange holds on to can still be executed while its timestamp is inside the
  // exchange's window (a spot probe: 60 s accepted, 61 s refused; futures undocumented). A shorter
  // window than that could call a placement "never placed" that then lands.
  if (o.mode == Mode::kLive && o.engine.reconcile_window < std::chrono::seconds(90)) {
    return absl::InvalidArgumentError(
        "--reconcile-window must be at least 90s in live mode: a request may be executed up to the exchange's "
        "timestamp window (about 60 s) after it was signed");
  }
  return o;
}

}  // namespace bx::orders
