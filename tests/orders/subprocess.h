// Child processes for integration tests: the real bitunix-sim and bitunix-orders binaries on
// port 0. stdout is a pipe (the one JSON ready line), stderr goes to a file the test can read.
// Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/net/http_client.h"

namespace boost::asio {
class io_context;
}

namespace bx::orders::testing {

class Subprocess {
 public:
  /// Starts `argv` with the current environment plus `env` (NAME=value entries).
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv,
                                                           const std::vector<std::string>& env = {});
  ~Subprocess();

  /// The next stdout line, or nullopt after `timeout` / EOF.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  /// SIGTERM, then waits up to `grace` (SIGKILL after); returns the exit status (or -signal).
  int Terminate(std::chrono::milliseconds grace);
  /// Waits up to `timeout` for the child to exit by itself; nullopt if it did not.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  /// Everything the child wrote to stderr so far.
  std::string Stderr() const;
  pid_t pid() const { return pid_; }

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string buffer_;
  std::optional<int> status_;
};

/// The simulator binary, started on port 0 with the given credentials.
class SimProcess {
 public:
  static std::unique_ptr<SimProcess> Start(const std::string& api_key, const std::string& api_secret,
                                           const std::vector<std::string>& extra_args = {});
  ~SimProcess();

  std::string rest, public_ws, private_ws, control;
  /// POST /control/<name> with a JSON body; the parsed reply.
  nlohmann::json Control(const std::string& name, const nlohmann::json& body);
  /// GET /control/<name>.
  nlohmann::json Get(const std::string& target);
  /// Orders on the simulated account with this client id.
  int CountClientId(const std::string& client_id);
  Subprocess& process() { return *proc_; }

 private:
  std::unique_ptr<Subprocess> proc_;
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<std::thread> thread_;
  struct Guard;
  std::unique_ptr<Guard> guard_;
};

/// Path of a binary in the build tree (BITUNIX_BINARY_DIR).
std::string BinaryPath(const std::string& relative);

}  // namespace bx::orders::testing
