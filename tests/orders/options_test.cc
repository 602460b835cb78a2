#include "services/orders/orders_options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace bx::orders {
namespace {

struct TempFile {
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/orders-opt-XXXXXX";
    int fd = mkstemp(tmpl);
    path = tmpl;
    FILE* f = fdopen(fd, "w");
    std::fputs(content.c_str(), f);
    std::fclose(f);
  }
  ~TempFile() { std::remove(path.c_str()); }
  std::string path;
};

absl::StatusOr<Config> Load(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  std::vector<const char*> argv = {"bitunix-orders"};
  for (auto& a : args) argv.push_back(a.c_str());
  return Config::Load("bitunix-orders", OrdersOptionSpecs(), static_cast<int>(argv.size()), argv.data(),
                      [env](const std::string& k) -> std::optional<std::string> {
                        auto it = env.find(k);
                        if (it == env.end()) return std::nullopt;
                        return it->second;
                      });
}

TEST(OrdersOptions, SecretsNeverAsFlags) {
  auto c = Load({"--api-secret=hunter2-secret"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("not accepted on the command line"), std::string::npos);
  EXPECT_EQ(c.status().message().find("hunter2-secret"), std::string::npos);
  EXPECT_FALSE(Load({"--api-key=k"}).ok());
}

TEST(OrdersOptions, AnUnusableCaFileStopsTheStartWithTheReason) {
  auto c = Load({}, {{"BITUNIX_API_KEY", "k"}, {"BITUNIX_API_SECRET", "s"}, {"BITUNIX_CA_FILE", "/nonexistent/ca.pem"}});
  ASSERT_TRUE(c.ok()) << c.status();
  auto o = OrdersOptionsFromConfig(*c);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("'/nonexistent/ca.pem': No such file or directory"), std::string::npos)
      << o.status();
}

TEST(OrdersOptions, CredentialsFromEnvOrFiles) {
  auto c = Load({}, {{"BITUNIX_API_KEY", "env-key"}, {"BITUNIX_API_SECRET", "env-secret"}});
  ASSERT_TRUE(c.ok()) << c.status();
  auto o = OrdersOptionsFromConfig(*c);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->api_key, "env-key");
  EXPECT_EQ(o->api_secret, "env-secret");
  TempFile key("file-key\n"), secret("file-secret\n");
  auto f = Load({"--api-key-file=" + key.path, "--api-secret-file", secret.path});
  auto of = OrdersOptionsFromConfig(*f);
  ASSERT_TRUE(of.ok()) << of.status();
  EXPECT_EQ(of->api_key, "file-key");
  EXPECT_EQ(of->api_secret, "file-secret");
  // Both forms for one credential: refused, without echoing the value.
  auto both = Load({"--api-secret-file=" + secret.path}, {{"BITUNIX_API_SECRET", "env-secret"}});
  auto ob = OrdersOptionsFromConfig(*both);
  ASSERT_FALSE(ob.ok());
  EXPECT_EQ(ob.status().message().find("env-secret"), std::string::npos);
}

TEST(OrdersOptions, TokensFileAndLimits) {
  TempFile tokens("bot trade tok-0123456789abcdef\nview read tok-fedcba9876543210\n");
  auto c = Load({"--auth-tokens-file=" + tokens.path, "--rate-limit-private=8", "--mode=paper"});
  auto o = OrdersOptionsFromConfig(*c);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->tokens.size(), 2u);
  EXPECT_EQ(o->mode, Mode::kPaper);
  EXPECT_EQ(o->engine.mode, Mode::kPaper);
  EXPECT_DOUBLE_EQ(o->limiter.buckets[static_cast<size_t>(Bucket::kPrivate)].rate_per_s, 8);
  EXPECT_DOUBLE_EQ(o->limiter.buckets[static_cast<size_t>(Bucket::kBatch)].rate_per_s, 1);
  EXPECT_FALSE(Load({"--mode=yolo"}).ok());
  auto zero = Load({"--rate-limit-cancel=0"});
  EXPECT_FALSE(OrdersOptionsFromConfig(*zero).ok());
}

TEST(OrdersOptions, ReadinessProbeDeadlineAndBusyGrace) {
  auto defaults = Load({});
  auto d = OrdersOptionsFromConfig(*defaults);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->health_timeout, std::chrono::seconds(10));
  EXPECT_EQ(d->health_busy_grace, std::chrono::milliseconds(0));  // 3 x --health-interval + 10s
  auto c = Load({"--health-timeout=2s", "--health-busy-grace=90s"});
  auto o = OrdersOptionsFromConfig(*c);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->health_timeout, std::chrono::seconds(2));
  EXPECT_EQ(o->health_busy_grace, std::chrono::seconds(90));
  EXPECT_FALSE(OrdersOptionsFromConfig(*Load({"--health-timeout=0"})).ok());
}

// A live reconcile window shorter than the exchange's timestamp window could call a placement
// "never placed" that the exchange still executes. Paper mode (the simulator) may shorten it.
// The latency mode is off unless asked for, by flag, environment or the YAML file.
TEST(OrdersOptions, BusyPollIsOffByDefaultAndOnByFlagEnvOrYaml) {
  const std::map<std::string, std::string> creds = {{"BITUNIX_API_KEY", "k"}, {"BITUNIX_API_SECRET", "s"}};
  auto busy = [&](std::vector<std::string> args, std::map<std::string, std::string> env) {
    env.insert(creds.begin(), creds.end());
    auto c = Load(std::move(args), env);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return false;
    auto o = OrdersOptionsFromConfig(*c);
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() && o->busy_poll;
  };
  EXPECT_FALSE(busy({}, {}));
  EXPECT_TRUE(busy({"--busy-poll=true"}, {}));
  EXPECT_TRUE(busy({}, {{"BITUNIX_BUSY_POLL", "true"}}));
  TempFile yaml("busy_poll: true\n");
  EXPECT_TRUE(busy({"--config=" + yaml.path}, {}));
  EXPECT_FALSE(busy({"--config=" + yaml.path, "--busy-poll=false"}, {}));
}

TEST(OrdersOptions, ALiveReconcileWindowCoversTheExchangesTimestampWindow) {
  auto d = OrdersOptionsFromConfig(*Load({}));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->engine.reconcile_window, std::chrono::minutes(5));
  auto short_live = OrdersOptionsFromConfig(*Load({"--reconcile-window=30s"}));
  ASSERT_FALSE(short_live.ok());
  EXPECT_NE(short_live.status().message().find("--reconcile-window must be at least 90s"), std::string::npos);
  EXPECT_TRUE(OrdersOptionsFromConfig(*Load({"--reconcile-window=90s"})).ok());
  auto paper = OrdersOptionsFromConfig(*Load({"--mode=paper", "--reconcile-window=4s"}));
  ASSERT_TRUE(paper.ok()) << paper.status();
  EXPECT_EQ(paper->engine.reconcile_window, std::chrono::seconds(4));
}

TEST(OrdersOptions, HelpListsEveryOptionWithItsDefault) {
  auto c = Load({"--help"});
  ASSERT_TRUE(c.ok());
  const std::string usage = c->Usage();
  for (const auto& spec : OrdersOptionSpecs()) {
    if (!spec.other_service.empty()) continue;  // market data's --ws-url: not this program's
    EXPECT_NE(usage.find("--" + spec.name + "="), std::string::npos) << spec.name;
  }
  EXPECT_EQ(usage.find("--ws-url="), std::string::npos);
  EXPECT_NE(usage.find("default: 127.0.0.1:50052"), std::string::npos);
  EXPECT_NE(usage.find("BITUNIX_API_SECRET"), std::string::npos);
}

TEST(SafeToStart, ClosedByDefaultAndOtherFootguns) {
  OrdersAppOptions o;
  o.rest_url = *ParseUrl("https://fapi.bitunix.com");
  o.api_key = "k";
  o.api_secret = "s";
  auto open = CheckSafeToStart(o);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.message().find("open order API"), std::string::npos);
  o.auth.insecure_no_auth = true;
  EXPECT_TRUE(CheckSafeToStart(o).ok());
  o.mode = Mode::kPaper;
  EXPECT_FALSE(CheckSafeToStart(o).ok());  // paper mode aimed at the live exchange
  // Paper mode: neither endpoint may be the live exchange, whatever the spelling.
  o.private_ws_url = *ParseUrl("ws://127.0.0.1:9000/private/");
  for (const char* live : {"https://FAPI.BITUNIX.COM", "https://fapi.bitunix.com.", "https://api.Bitunix.com"}) {
    o.rest_url = *ParseUrl(live);
    auto s = CheckSafeToStart(o);
    EXPECT_FALSE(s.ok()) << live;
    EXPECT_NE(s.message().find("--rest-url is the live exchange"), std::string::npos) << s.message();
  }
  o.rest_url = *ParseUrl("http://127.0.0.1:9000");
  EXPECT_TRUE(CheckSafeToStart(o).ok());
  o.rest_url = *ParseUrl("http://notbitunix.com");
  EXPECT_TRUE(CheckSafeToStart(o).ok());
  o.rest_url = *ParseUrl("http://127.0.0.1:9000");
  o.private_ws_url = *ParseUrl("wss://fapi.bitunix.com/private/");  // the default, left in place
  auto ws = CheckSafeToStart(o);
  EXPECT_FALSE(ws.ok());
  EXPECT_NE(ws.message().find("--private-ws-url is the live exchange"), std::string::npos) << ws.message();
  o.rest_url = *ParseUrl("https://fapi.bitunix.com");
  o.mode = Mode::kLive;
  // --insecure-no-auth next to tokens or mTLS would let calls without credentials in.
  o.tokens_file = "/run/secrets/tokens";
  auto both = CheckSafeToStart(o);
  EXPECT_FALSE(both.ok());
  EXPECT_NE(both.message().find("--insecure-no-auth cannot be combined"), std::string::npos) << both.message();
  o.tokens_file.clear();
  o.api_secret.clear();
  EXPECT_FALSE(CheckSafeToStart(o).ok());
  o.api_secret = "s";
  o.client_ca_file = "/ca.pem";
  EXPECT_FALSE(CheckSafeToStart(o).ok());  // mTLS without a server certificate
}

}  // namespace
}  // namespace bx::orders
