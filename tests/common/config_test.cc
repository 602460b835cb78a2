#include "common/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace bx {
namespace {

using Env = std::map<std::string, std::string>;

EnvLookup FromMap(const Env& env) {
  return [env](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<OptSpec> Specs() {
  auto specs = CommonServiceOptions("127.0.0.1:50051", "127.0.0.1:9090", ExchangeFeed::kPublic);
  specs.push_back({.name = "max-streams", .type = OptType::kInt, .default_value = "64", .help = "h", .min = 1, .max = 1000});
  specs.push_back({.name = "reflection", .type = OptType::kBool, .default_value = "true", .help = "h"});
  specs.push_back({.name = "api-secret", .type = OptType::kString, .help = "h", .env_or_file_only = true});
  return specs;
}

absl::StatusOr<Config> Load(std::vector<const char*> args, const Env& env = {}) {
  args.insert(args.begin(), "prog");
  return Config::Load("prog", Specs(), static_cast<int>(args.size()), args.data(), FromMap(env));
}

std::string WriteTemp(const std::string& text) {
  char name[] = "/tmp/bx-config-XXXXXX";
  int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

TEST(Config, Defaults) {
  auto c = Load({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Str("grpc-addr"), "127.0.0.1:50051");
  EXPECT_EQ(c->Int("max-streams"), 64);
  EXPECT_TRUE(c->Bool("reflection"));
  EXPECT_EQ(c->SourceOf("grpc-addr"), "default");
  EXPECT_EQ(c->Duration("shutdown-grace"), std::chrono::seconds(5));
}

TEST(Config, PrecedenceFlagOverEnvOverFileOverDefault) {
  std::string file = WriteTemp("grpc_addr: 127.0.0.1:1111\nmetrics-addr: 127.0.0.1:2222\nmax_streams: 3\n");
  auto c = Load({"--config", file.c_str(), "--grpc-addr=127.0.0.1:3333"},
                {{"BITUNIX_GRPC_ADDR", "127.0.0.1:4444"}, {"BITUNIX_METRICS_ADDR", "127.0.0.1:5555"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Str("grpc-addr"), "127.0.0.1:3333");
  EXPECT_EQ(c->SourceOf("grpc-addr"), "flag");
  EXPECT_EQ(c->Str("metrics-addr"), "127.0.0.1:5555");
  EXPECT_EQ(c->SourceOf("metrics-addr"), "env");
  EXPECT_EQ(c->Int("max-streams"), 3);
  EXPECT_EQ(c->SourceOf("max-streams"), "file");
  std::remove(file.c_str());
}

TEST(Config, ConfigFileFromEnvironment) {
  std::string file = WriteTemp("log_level: debug\n");
  auto c = Load({}, {{"BITUNIX_CONFIG", file}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Str("log-level"), "debug");
  std::remove(file.c_str());
}

TEST(Config, UnknownFlagIsAnErrorWithSuggestion) {
  auto c = Load({"--grpc-adr=127.0.0.1:1"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown flag --grpc-adr"), std::string::npos);
  EXPECT_NE(c.status().message().find("did you mean --grpc-addr"), std::string::npos);
}

TEST(Config, UnknownYamlKeyIsAnError) {
  std::string file = WriteTemp("grpc_addr: 127.0.0.1:1\nlog_levle: info\n");
  auto c = Load({"--config", file.c_str()});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown key 'log_levle'"), std::string::npos);
  EXPECT_NE(c.status().message().find("did you mean 'log_level'"), std::string::npos);
  std::remove(file.c_str());
}

TEST(Config, BadValuesNameTheirSourceAndWhatIsExpected) {
  auto c = Load({"--grpc-addr=nohost", "--max-streams=0", "--log-level=loud"},
                {{"BITUNIX_WS_URL", "ftp://x"}, {"BITUNIX_SHUTDOWN_GRACE", "5 parsecs"}});
  ASSERT_FALSE(c.ok());
  const std::string msg(c.status().message());
  EXPECT_NE(msg.find("'nohost' for --grpc-addr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected an integer in [1, 1000]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected one of: debug, info, warn, error"), std::string::npos) << msg;
  EXPECT_NE(msg.find("BITUNIX_WS_URL"), std::string::npos) << msg;
  EXPECT_NE(msg.find("BITUNIX_SHUTDOWN_GRACE"), std::string::npos) << msg;
}

TEST(Config, SecretsAreRefusedOnTheCommandLineAndNeverEchoed) {
  auto c = Load({"--api-secret=hunter2"});
  ASSERT_FALSE(c.ok());
  const std::string msg(c.status().message());
  EXPECT_NE(msg.find("not accepted on the command line"), std::string::npos);
  EXPECT_EQ(msg.find("hunter2"), std::string::npos);
  // The space-separated form: the value is not echoed as a stray argument either.
  auto spaced = Load({"--api-secret", "hunter2", "--grpc-addr=127.0.0.1:1"});
  ASSERT_FALSE(spaced.ok());
  const std::string spaced_msg(spaced.status().message());
  EXPECT_NE(spaced_msg.find("not accepted on the command line"), std::string::npos) << spaced_msg;
  EXPECT_EQ(spaced_msg.find("hunter2"), std::string::npos) << spaced_msg;
  EXPECT_EQ(spaced_msg.find("unexpected argument"), std::string::npos) << spaced_msg;
  auto ok = Load({}, {{"BITUNIX_API_SECRET", "hunter2"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->Str("api-secret"), "hunter2");
}

// Both services may share one config file or environment, so the other service's WebSocket URL
// is accepted there (and ignored); as a flag it can only be a mistake, and is named as one.
TEST(Config, TheOtherServicesEndpointIsRefusedAsAFlagAndIgnoredInSharedSettings) {
  auto flag = Load({"--private-ws-url=ws://127.0.0.1:9/private/"});
  ASSERT_FALSE(flag.ok());
  const std::string msg(flag.status().message());
  EXPECT_NE(msg.find("--private-ws-url is an option of bitunix-orders, not of prog"), std::string::npos) << msg;
  auto spaced = Load({"--private-ws-url", "ws://127.0.0.1:9/private/", "--grpc-addr=127.0.0.1:1"});
  ASSERT_FALSE(spaced.ok());
  EXPECT_EQ(std::string(spaced.status().message()).find("unexpected argument"), std::string::npos)
      << "the flag's value is not a stray argument: " << spaced.status();
  const std::string file = WriteTemp("private_ws_url: ws://127.0.0.1:9/private/\nws_url: ws://127.0.0.1:9/public/\n");
  auto shared = Load({"--config", file.c_str()}, {{"BITUNIX_PRIVATE_WS_URL", "ws://127.0.0.1:8/private/"}});
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ(shared->Str("ws-url"), "ws://127.0.0.1:9/public/");
  std::remove(file.c_str());
  // The service that does read it takes it as a flag.
  auto orders_specs = CommonServiceOptions("127.0.0.1:50052", "127.0.0.1:9102", ExchangeFeed::kPrivate);
  const char* argv[] = {"bitunix-orders", "--private-ws-url=ws://127.0.0.1:9/private/"};
  auto orders = Config::Load("bitunix-orders", orders_specs, 2, argv, FromMap({}));
  ASSERT_TRUE(orders.ok()) << orders.status();
  EXPECT_EQ(orders->Str("private-ws-url"), "ws://127.0.0.1:9/private/");
  const char* md_flag[] = {"bitunix-orders", "--ws-url=ws://127.0.0.1:9/public/"};
  auto refused = Config::Load("bitunix-orders", orders_specs, 2, md_flag, FromMap({}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("--ws-url is an option of bitunix-marketdata"), std::string::npos)
      << refused.status();
}

TEST(Config, EmptyYamlValuesAreEmptyNotTheTextNull) {
  const std::string file = WriteTemp("ca_file:\nws_url: ~\nrest_url: null\n");
  auto c = Load({"--config", file.c_str()});
  std::remove(file.c_str());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Str("ca-file"), "");
  EXPECT_EQ(c->Str("ws-url"), "");
  EXPECT_EQ(c->Str("rest-url"), "");
  // An empty value where a value is required says what is expected (not "invalid value 'null'").
  const std::string bad = WriteTemp("reflection:\n");
  auto b = Load({"--config", bad.c_str()});
  std::remove(bad.c_str());
  ASSERT_FALSE(b.ok());
  const std::string msg(b.status().message());
  EXPECT_NE(msg.find("expected true or false"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("null"), std::string::npos) << msg;
}

TEST(Config, NumbersArePlainDecimalsNotNanInfOrHex) {
  std::vector<OptSpec> specs = Specs();
  specs.push_back({.name = "rate", .type = OptType::kDouble, .default_value = "10", .help = "h"});
  auto load = [&](const char* arg) {
    std::vector<const char*> args = {"prog", arg};
    return Config::Load("prog", specs, 2, args.data(), FromMap({}));
  };
  for (const char* good : {"--rate=10", "--rate=0.5", "--rate=1e3", "--rate=-2.5"}) {
    EXPECT_TRUE(load(good).ok()) << good;
  }
  for (const char* bad : {"--rate=nan", "--rate=NaN", "--rate=inf", "--rate=-infinity", "--rate=0x10",
                          "--rate= 5", "--rate=5 ", "--rate=", "--rate=1e999"}) {
    auto c = load(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("expected a number"), std::string::npos) << c.status();
  }
  EXPECT_EQ(load("--rate=0.5")->Double("rate"), 0.5);
}

TEST(Config, BoolForms) {
  auto c = Load({"--no-reflection"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->Bool("reflection"));
  auto d = Load({"--reflection=false"});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->Bool("reflection"));
  auto e = Load({"--reflection=maybe"});
  EXPECT_FALSE(e.ok());
}

TEST(Config, MissingValueAndStrayArgument) {
  EXPECT_FALSE(Load({"--grpc-addr"}).ok());
  EXPECT_FALSE(Load({"positional"}).ok());
}

TEST(Config, BrokenYaml) {
  std::string file = WriteTemp("grpc_addr: [unclosed\n");
  auto c = Load({"--config", file.c_str()});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("config file"), std::string::npos);
  std::remove(file.c_str());
  auto missing = Load({"--config", "/nonexistent/x.yaml"});
  EXPECT_FALSE(missing.ok());
}

TEST(Config, HelpListsEveryOptionWithDefaultEnvAndYaml) {
  auto c = Load({"--help"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->help_requested());
  const std::string usage = c->Usage();
  for (const auto& s : Specs()) {
    if (s.other_service.empty()) {
      EXPECT_NE(usage.find("--" + s.name), std::string::npos) << s.name;
    } else {
      EXPECT_EQ(usage.find("--" + s.name), std::string::npos) << s.name << " belongs to " << s.other_service;
    }
  }
  EXPECT_NE(usage.find("default: 127.0.0.1:50051"), std::string::npos);
  EXPECT_NE(usage.find("env: BITUNIX_GRPC_ADDR"), std::string::npos);
  EXPECT_NE(usage.find("yaml: grpc_addr"), std::string::npos);
}

TEST(Duration, Parses) {
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(*ParseDuration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(*ParseDuration("1h"), std::chrono::hours(1));
  EXPECT_EQ(*ParseDuration("40"), std::chrono::milliseconds(40));
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("1d").ok());
  EXPECT_FALSE(ParseDuration("").ok());
}

}  // namespace
}  // namespace bx
