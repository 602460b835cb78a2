#include "common/process.h"

#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/logging.h"

namespace bx {
namespace {

sigset_t ShutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void BlockShutdownSignals() {
  sigset_t set = ShutdownSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

std::optional<int> WaitForShutdownSignal(std::optional<std::chrono::milliseconds> timeout) {
  sigset_t set = ShutdownSet();
  if (!timeout) {
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    return sig;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout->count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout->count() % 1000) * 1'000'000);
  int sig = sigtimedwait(&set, nullptr, &ts);
  if (sig < 0) return std::nullopt;
  return sig;
}

void PrintReadyLine(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string line = "{";
  bool first = true;
  for (const auto& [k, v] : fields) {
    if (!first) line += ',';
    first = false;
    line += '"' + JsonEscape(k) + "\":\"" + JsonEscape(v) + '"';
  }
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

std::optional<std::string> ReadFileTrimmed(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace bx
