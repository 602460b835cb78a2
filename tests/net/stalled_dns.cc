#include "tests/net/stalled_dns.h"

#include <dlfcn.h>
#include <netdb.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>

namespace {

std::mutex g_mu;
std::condition_variable g_cv;
bool g_released = true;
bool g_answer_loopback = false;
std::atomic<int> g_started{0};
std::atomic<int> g_returned{0};

using GetAddrInfoFn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);

GetAddrInfoFn RealGetAddrInfo() {
  static const auto real = reinterpret_cast<GetAddrInfoFn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  return real;
}

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  if (node != nullptr && std::string_view(node) == bx::net::testing::kStalledHost) {
    g_started.fetch_add(1);
    bool loopback;
    {
      std::unique_lock<std::mutex> lock(g_mu);
      g_cv.wait(lock, [] { return g_released; });
      loopback = g_answer_loopback;
    }
    int r = EAI_AGAIN;
    if (loopback) {
      addrinfo h{};
      if (hints != nullptr) h = *hints;
      h.ai_flags &= ~AI_ADDRCONFIG;  // a sandbox may have no configured address but loopback
      r = RealGetAddrInfo()("127.0.0.1", service, &h, res);
    }
    g_returned.fetch_add(1);
    return r;
  }
  return RealGetAddrInfo()(node, service, hints, res);
}

namespace bx::net::testing {

StalledDns::StalledDns(bool answer_loopback) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_released = false;
  g_answer_loopback = answer_loopback;
  g_started = 0;
  g_returned = 0;
}

StalledDns::~StalledDns() { Release(); }

void StalledDns::Release() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_released = true;
  g_cv.notify_all();
}

int StalledDns::started() { return g_started.load(); }
int StalledDns::returned() { return g_returned.load(); }

int ProcessThreadCount() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

}  // namespace bx::net::testing
