// Process plumbing shared by the binaries: signal waiting and the one-line JSON "ready" report.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bx {

/// Blocks SIGINT and SIGTERM in the calling thread and every thread started after it; call first
/// thing in main(). Signals are then received only through WaitForShutdownSignal().
void BlockShutdownSignals();

/// Waits for SIGINT/SIGTERM (or the timeout); returns the signal number, or nullopt on timeout.
std::optional<int> WaitForShutdownSignal(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

/// Prints exactly one JSON object line on stdout, e.g. {"grpc":"127.0.0.1:4123","metrics":"..."},
/// and flushes. Test harnesses and scripts read it to find the bound ports.
void PrintReadyLine(const std::vector<std::pair<std::string, std::string>>& fields);

/// Reads a whole file (secrets, tokens). Trailing newlines are stripped.
std::optional<std::string> ReadFileTrimmed(const std::string& path);

}  // namespace bx
