// Typed configuration from flags, environment and an optional YAML file, validated at startup.
//
// Every option has one name, e.g. "grpc-addr", used three ways:
//   flag  --grpc-addr=HOST:PORT  (or --grpc-addr HOST:PORT; bools also as --flag / --no-flag)
//   env   BITUNIX_GRPC_ADDR      (prefix configurable)
//   YAML  grpc_addr: HOST:PORT   (grpc-addr accepted too) in the file named by --config
// Precedence: flag > environment > file > default. Unknown flags and unknown YAML keys are errors,
// and every value is checked against its type before the program starts.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace bx {

enum class OptType { kString, kInt, kDouble, kBool, kDuration, kHostPort, kUrl, kPath, kChoice };

struct OptSpec {
  std::string name;           ///< "grpc-addr"
  OptType type = OptType::kString;
  std::string default_value;  ///< textual default ("" = unset)
  std::string help;
  std::vector<std::string> choices;  ///< kChoice
  int64_t min = INT64_MIN;           ///< kInt bounds
  int64_t max = INT64_MAX;
  bool env_or_file_only = false;     ///< never accepted on the command line (secrets, paths to them)
  /// Set on another service's option ("bitunix-marketdata"): accepted, and ignored, from the
  /// environment or a --config file both services share; refused as a flag, which could only be
  /// a mistake; not listed in --help.
  std::string other_service;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment.
std::optional<std::string> ProcessEnv(const std::string& name);

class Config {
 public:
  /// Parses and validates. On --help, returns a Config with help_requested() true (no validation
  /// of missing values). Errors name the option, where its value came from, and what is expected.
  static absl::StatusOr<Config> Load(std::string program, std::vector<OptSpec> specs, int argc,
                                     const char* const* argv, const EnvLookup& env = ProcessEnv,
                                     std::string env_prefix = "BITUNIX_");

  bool help_requested() const { return help_; }
  /// --help text: every option with its type, default, environment variable and YAML key.
  std::string Usage() const;

  const std::string& Str(const std::string& name) const;
  int64_t Int(const std::string& name) const;
  double Double(const std::string& name) const;
  bool Bool(const std::string& name) const;
  std::chrono::milliseconds Duration(const std::string& name) const;
  /// "flag", "env", "file" or "default".
  const std::string& SourceOf(const std::string& name) const;
  std::string EnvName(const std::string& name) const;

 private:
  struct Value {
    std::string text;
    std::string source;
  };
  const Value& Get(const std::string& name) const;

  std::string program_;
  std::string env_prefix_;
  std::vector<OptSpec> specs_;
  std::map<std::string, Value> values_;
  bool help_ = false;
};

/// Parses "250ms", "5s", "2m", "1h", "1500" (ms). Negative durations are refused.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

/// Which exchange WebSocket a service reads: bitunix-marketdata the public one (--ws-url),
/// bitunix-orders the private one (--private-ws-url). Both use --rest-url.
enum class ExchangeFeed { kPublic, kPrivate };

/// Options every service binary has: grpc-addr, metrics-addr, rest-url, its WebSocket URL,
/// config, log-level, log-format, shutdown-grace. The other service's WebSocket URL is there as an
/// `other_service` option (a shared config file or environment may set it; a flag may not).
std::vector<OptSpec> CommonServiceOptions(const std::string& default_grpc_addr, const std::string& default_metrics_addr,
                                          ExchangeFeed feed);

}  // namespace bx
