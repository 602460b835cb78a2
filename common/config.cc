#include "common/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/url.h"

namespace bx {
namespace {

std::string YamlKey(const std::string& name) {
  std::string k = name;
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Suggest(const std::string& unknown, const std::vector<OptSpec>& specs) {
  std::string best;
  size_t best_d = 4;
  std::string u = unknown;
  std::replace(u.begin(), u.end(), '_', '-');
  for (const auto& s : specs) {
    size_t d = EditDistance(u, s.name);
    if (d < best_d) {
      best_d = d;
      best = s.name;
    }
  }
  return best;
}

const char* TypeName(OptType t) {
  switch (t) {
    case OptType::kString: return "STRING";
    case OptType::kInt: return "INT";
    case OptType::kDouble: return "NUMBER";
    case OptType::kBool: return "BOOL";
    case OptType::kDuration: return "DURATION";
    case OptType::kHostPort: return "HOST:PORT";
    case OptType::kUrl: return "URL";
    case OptType::kPath: return "PATH";
    case OptType::kChoice: return "CHOICE";
  }
  return "?";
}

std::optional<bool> ParseBool(std::string_view v) {
  std::string s = absl::AsciiStrToLower(std::string(v));
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return std::nullopt;
}

// Checks `text` against the spec; returns an explanation of what is expected on failure.
std::optional<std::string> Validate(const OptSpec& spec, const std::string& text) {
  switch (spec.type) {
    case OptType::kString:
    case OptType::kPath:
      return std::nullopt;
    case OptType::kInt: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
        return "expected an integer";
      }
      if (v < spec.min || v > spec.max) {
        return absl::StrCat("expected an integer in [", spec.min, ", ", spec.max, "]");
      }
      return std::nullopt;
    }
    case OptType::kDouble: {
      // A plain decimal number: strtod alone would also take "nan", "inf", hex floats and
      // leading spaces, and a NaN slips through every range check after it.
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      const bool plain = !text.empty() && text.find_first_not_of("0123456789.+-eE") == std::string::npos;
      if (!plain || end != text.c_str() + text.size() || !std::isfinite(v)) return "expected a number";
      return std::nullopt;
    }
    case OptType::kBool:
      if (!ParseBool(text)) return "expected true or false";
      return std::nullopt;
    case OptType::kDuration: {
      auto d = ParseDuration(text);
      if (!d.ok()) return std::string(d.status().message());
      return std::nullopt;
    }
    case OptType::kHostPort: {
      auto hp = ParseHostPort(text);
      if (!hp.ok()) return std::string(hp.status().message());
      return std::nullopt;
    }
    case OptType::kUrl: {
      if (text.empty()) return std::nullopt;  // optional endpoints may be unset
      auto u = ParseUrl(text);
      if (!u.ok()) return std::string(u.status().message());
      return std::nullopt;
    }
    case OptType::kChoice:
      if (std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
        return absl::StrCat("expected one of: ", absl::StrJoin(spec.choices, ", "));
      }
      return std::nullopt;
  }
  return std::nullopt;
}

// An empty value (`key:`), `~` or `null` is the empty string: yaml-cpp would turn it into the
// text "null" (a CA file, an API key or a URL named "null").
std::string YamlScalarText(const YAML::Node& node) {
  if (node.IsNull()) return "";
  if (node.IsSequence()) {
    std::vector<std::string> parts;
    for (const auto& item : node) {
      if (!item.IsNull()) parts.push_back(item.as<std::string>());
    }
    return absl::StrJoin(parts, ",");
  }
  return node.as<std::string>();
}

}  // namespace

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  std::string num(text.substr(0, i));
  std::string unit(text.substr(i));
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || end != num.c_str() + num.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad duration '", std::string(text), "': expected e.g. 250ms, 5s, 2m, 1h"));
  }
  double ms = 0;
  if (unit.empty() || unit == "ms") {
    ms = v;
  } else if (unit == "s") {
    ms = v * 1000;
  } else if (unit == "m") {
    ms = v * 60'000;
  } else if (unit == "h") {
    ms = v * 3'600'000;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("bad duration unit '", unit, "' in '", std::string(text), "': use ms, s, m or h"));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

absl::StatusOr<Config> Config::Load(std::string program, std::vector<OptSpec> specs, int argc,
                                    const char* const* argv, const EnvLookup& env,
                                    std::string env_prefix) {
  Config cfg;
  cfg.program_ = std::move(program);
  cfg.env_prefix_ = std::move(env_prefix);
  cfg.specs_ = std::move(specs);
  std::map<std::string, const OptSpec*> by_name;
  for (const auto& s : cfg.specs_) by_name[s.name] = &s;

  std::vector<std::string> errors;
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cfg.help_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      errors.push_back(absl::StrCat("unexpected argument '", arg, "' (options look like --name=value)"));
      continue;
    }
    std::string body = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    auto it = by_name.find(body);
    bool negated = false;
    if (it == by_name.end() && body.rfind("no-", 0) == 0) {
      auto neg = by_name.find(body.substr(3));
      if (neg != by_name.end() && neg->second->type == OptType::kBool && !value) {
        it = neg;
        negated = true;
      }
    }
    if (it == by_name.end()) {
      std::string hint = Suggest(body, cfg.specs_);
      errors.push_back(absl::StrCat("unknown flag --", body,
                                    hint.empty() ? "" : absl::StrCat(" (did you mean --", hint, "?)"),
                                    "; see --help"));
      continue;
    }
    const OptSpec& spec = *it->second;
    if (!spec.other_service.empty()) {
      if (!value && i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) ++i;
      errors.push_back(absl::StrCat("--", spec.name, " is an option of ", spec.other_service, ", not of ", cfg.program_,
                                    ", which would ignore it; see --help for this program's endpoints"));
      continue;
    }
    if (spec.env_or_file_only) {
      // `--api-secret VALUE`: swallow the value too, so that it is not echoed as an unexpected
      // argument below.
      if (!value && i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) ++i;
      errors.push_back(absl::StrCat("--", spec.name,
                                    " is not accepted on the command line (it would show in ps and "
                                    "shell history); set ",
                                    cfg.EnvName(spec.name), " or '", YamlKey(spec.name),
                                    "' in the --config file"));
      continue;
    }
    if (!value) {
      if (spec.type == OptType::kBool) {
        value = negated ? "false" : "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        errors.push_back(absl::StrCat("flag --", spec.name, " needs a value"));
        continue;
      }
    }
    flags[spec.name] = *value;
  }

  // The config file: flag, then environment.
  std::string config_path;
  if (auto f = flags.find("config"); f != flags.end()) {
    config_path = f->second;
  } else if (by_name.count("config")) {
    if (auto e = env(cfg.EnvName("config")); e && !e->empty()) config_path = *e;
  }
  std::map<std::string, std::string> file_values;
  if (!config_path.empty() && !cfg.help_) {
    try {
      YAML::Node root = YAML::LoadFile(config_path);
      if (root.IsNull()) {
        // empty file: nothing to apply
      } else if (!root.IsMap()) {
        errors.push_back(absl::StrCat("config file ", config_path,
                                      ": expected a mapping of option: value"));
      } else {
        for (const auto& kv : root) {
          std::string key = kv.first.as<std::string>();
          std::string name = key;
          std::replace(name.begin(), name.end(), '_', '-');
          auto it = by_name.find(name);
          if (it == by_name.end() || name == "config") {
            std::string hint = Suggest(name, cfg.specs_);
            errors.push_back(absl::StrCat(
                "config file ", config_path, ": unknown key '", key, "'",
                hint.empty() ? "" : absl::StrCat(" (did you mean '", YamlKey(hint), "'?)")));
            continue;
          }
          if (kv.second.IsMap()) {
            errors.push_back(absl::StrCat("config file ", config_path, ": key '", key,
                                          "' must be a scalar or a list"));
            continue;
          }
          file_values[name] = YamlScalarText(kv.second);
        }
      }
    } catch (const YAML::Exception& e) {
      errors.push_back(absl::StrCat("config file ", config_path, ": ", e.what()));
    }
  }

  for (const auto& spec : cfg.specs_) {
    Value v;
    if (auto f = flags.find(spec.name); f != flags.end()) {
      v = {f->second, "flag"};
    } else if (auto e = env(cfg.EnvName(spec.name)); e.has_value()) {
      v = {*e, "env"};
    } else if (auto fv = file_values.find(spec.name); fv != file_values.end()) {
      v = {fv->second, "file"};
    } else {
      v = {spec.default_value, "default"};
    }
    if (!cfg.help_ && !(v.text.empty() && v.source == "default")) {
      if (auto why = Validate(spec, v.text)) {
        std::string where = v.source == "flag"  ? absl::StrCat("--", spec.name)
                            : v.source == "env" ? cfg.EnvName(spec.name)
                            : v.source == "file"
                                ? absl::StrCat("'", YamlKey(spec.name), "' in ", config_path)
                                : absl::StrCat("default of --", spec.name);
        bool secret = spec.env_or_file_only;
        errors.push_back(absl::StrCat("invalid value ", secret ? "(hidden)" : absl::StrCat("'", v.text, "'"),
                                      " for ", where, ": ", *why));
      }
    }
    cfg.values_[spec.name] = std::move(v);
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  return cfg;
}

std::string Config::EnvName(const std::string& name) const {
  std::string e = env_prefix_ + name;
  for (auto& c : e) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return e;
}

std::string Config::Usage() const {
  std::ostringstream os;
  os << "Usage: " << program_ << " [--option=value ...]\n\n"
     << "Every option can also be set by environment variable or by key in the YAML file named by\n"
     << "--config. Precedence: flag > environment > file > default.\n\nOptions:\n";
  for (const auto& s : specs_) {
    if (!s.other_service.empty()) continue;
    os << "  --" << s.name << "=" << TypeName(s.type);
    if (s.type == OptType::kChoice) os << " {" << absl::StrJoin(s.choices, "|") << "}";
    os << "\n      " << s.help << "\n"
       << "      default: " << (s.default_value.empty() ? "(none)" : s.default_value)
       << "   env: " << EnvName(s.name) << "   yaml: " << YamlKey(s.name);
    if (s.env_or_file_only) os << "   (environment or file only, never a flag)";
    os << "\n";
  }
  os << "  --help\n      Print this help and exit.\n";
  return os.str();
}

const Config::Value& Config::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    static const Value kEmpty{"", "default"};
    return kEmpty;
  }
  return it->second;
}

const std::string& Config::Str(const std::string& name) const { return Get(name).text; }

int64_t Config::Int(const std::string& name) const {
  const auto& t = Get(name).text;
  int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

double Config::Double(const std::string& name) const { return std::strtod(Get(name).text.c_str(), nullptr); }

bool Config::Bool(const std::string& name) const { return ParseBool(Get(name).text).value_or(false); }

std::chrono::milliseconds Config::Duration(const std::string& name) const {
  auto d = ParseDuration(Get(name).text);
  return d.ok() ? *d : std::chrono::milliseconds(0);
}

const std::string& Config::SourceOf(const std::string& name) const { return Get(name).source; }

std::vector<OptSpec> CommonServiceOptions(const std::string& default_grpc_addr, const std::string& default_metrics_addr,
                                          ExchangeFeed feed) {
  std::vector<OptSpec> specs = {
      {.name = "config", .type = OptType::kPath, .help = "YAML file with option values (keys as in 'yaml:' below)."},
      {.name = "grpc-addr", .type = OptType::kHostPort, .default_value = default_grpc_addr,
       .help = "Address the gRPC server listens on; port 0 picks a free port."},
      {.name = "metrics-addr", .type = OptType::kHostPort, .default_value = default_metrics_addr,
       .help = "Address of the Prometheus /metrics endpoint; port 0 picks a free port."},
      {.name = "ws-url", .type = OptType::kUrl, .default_value = "wss://fapi.bitunix.com/public/",
       .help = "Exchange public WebSocket URL."},
      {.name = "private-ws-url", .type = OptType::kUrl, .default_value = "wss://fapi.bitunix.com/private/",
       .help = "Exchange private WebSocket URL."},
      {.name = "rest-url", .type = OptType::kUrl, .default_value = "https://fapi.bitunix.com",
       .help = "Exchange REST base URL."},
      {.name = "ca-file", .type = OptType::kPath,
       .help = "PEM CA bundle for TLS to the exchange; empty = the system CA store."},
      {.name = "log-level", .type = OptType::kChoice, .default_value = "info", .help = "Minimum log level.",
       .choices = {"debug", "info", "warn", "error"}},
      {.name = "log-format", .type = OptType::kChoice, .default_value = "text",
       .help = "Log line format on stderr.", .choices = {"text", "json"}},
      {.name = "shutdown-grace", .type = OptType::kDuration, .default_value = "5s",
       .help = "On SIGTERM/SIGINT: how long streams and calls get to finish before exit."},
      {.name = "cpu-dma-latency-us", .type = OptType::kInt, .default_value = "-1",
       .help = "Low-latency tuning, machine-wide while the process runs: hold a PM QoS request "
               "(/dev/cpu_dma_latency) for this CPU wake-up latency. 0 keeps idle CPUs polling instead of "
               "sleeping, which cuts every thread hand-off on a call's path (docs/BENCHMARKS.md) and costs the "
               "CPU time of the idle cores. Needs root or a privileged container. -1: off.",
       .min = -1, .max = 1000000},
  };
  for (auto& spec : specs) {
    if (spec.name == "ws-url" && feed == ExchangeFeed::kPrivate) spec.other_service = "bitunix-marketdata";
    if (spec.name == "private-ws-url" && feed == ExchangeFeed::kPublic) spec.other_service = "bitunix-orders";
  }
  return specs;
}

}  // namespace bx
