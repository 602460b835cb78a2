// Integration-test scaffolding: child processes on port 0 (the real bitunix-sim, and the
// bitunix-marketdata binary for shutdown tests) whose one JSON ready line is read from stdout, and
// a tiny blocking HTTP client for the simulator's control API and /metrics. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bx::md::testing {

using Json = nlohmann::json;

class ChildProcess {
 public:
  /// Starts argv[0] with argv; stdout is a pipe, stderr goes to a temp file. nullptr on failure.
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv);
  ~ChildProcess();

  /// The next stdout line, or nullopt after `timeout` or EOF.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  /// Sends `sig`.
  void Signal(int sig);
  /// Waits up to `timeout` for exit; the exit code (or -signal), nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  /// SIGTERM, wait up to `grace`, then SIGKILL.
  int Terminate(std::chrono::milliseconds grace);
  std::string Stderr() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string err_path_;
  std::string buffer_;
  std::optional<int> status_;
};

/// Blocking HTTP/1.1 request to host:port (Connection: close). Returns (status, body); status 0 on
/// a transport error.
std::pair<int, std::string> HttpRequest(const std::string& base_url, const std::string& method,
                                        const std::string& target, const std::string& body = "",
                                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The simulator binary on port 0.
class SimProcess {
 public:
  /// Extra flags after the defaults (--seed 1); fails the test on error.
  static std::unique_ptr<SimProcess> Start(const std::vector<std::string>& flags = {});
  ~SimProcess();

  const std::string& rest() const { return rest_; }
  const std::string& public_ws() const { return public_ws_; }
  const std::string& control() const { return control_; }

  /// POST /control/<path> with a JSON body; returns the reply (ok:true expected).
  Json Control(const std::string& path, const Json& body = Json::object());
  Json Stats();
  /// Live subscriptions of "channel:SYMBOL" summed over connections.
  int Subscriptions(const std::string& key);
  ChildProcess& process() { return *child_; }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::string rest_, public_ws_, control_;
};

}  // namespace bx::md::testing
