// The floor under every latency figure: a 64-byte TCP ping-pong between two processes on
// loopback (TCP_NODELAY, blocking reads), as perf-facts.md measured it (28 µs p50 there). Each
// round trip is two thread wake-ups, so it also shows what the machine's idle states cost: run it
// once plainly and once while something holds --cpu-dma-latency-us=0 (or pass it here).
//
//   bench-loopback-rtt [round_trips=20000] [runs=3] [--cpu-dma-latency-us=N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/cpu_latency.h"

namespace {

bool ReadFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// One run: fork an echo peer, time `n` round trips; returns the sorted round trips in µs.
std::vector<double> Run(int n) {
  const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("listen");
    std::exit(1);
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int c = ::accept(ls, nullptr, nullptr);
    NoDelay(c);
    char buf[64];
    while (ReadFull(c, buf, sizeof buf)) {
      if (::write(c, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) break;
    }
    ::_exit(0);
  }
  ::close(ls);
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  NoDelay(s);
  char buf[64] = {};
  std::vector<double> rtt;
  rtt.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n + 1000; ++i) {  // the first 1,000 warm up
    const auto t0 = std::chrono::steady_clock::now();
    if (::write(s, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf) || !ReadFull(s, buf, sizeof buf)) {
      std::fprintf(stderr, "ping-pong failed\n");
      std::exit(1);
    }
    if (i >= 1000) rtt.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  ::close(s);
  ::waitpid(pid, nullptr, 0);
  std::sort(rtt.begin(), rtt.end());
  return rtt;
}

double At(const std::vector<double>& v, double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))]; }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  long long qos = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--cpu-dma-latency-us=", 0) == 0) {
      qos = std::atoll(arg.c_str() + 21);
    } else {
      pos.push_back(arg);
    }
  }
  const int n = pos.size() > 0 ? std::atoi(pos[0].c_str()) : 20000;
  const int runs = pos.size() > 1 ? std::atoi(pos[1].c_str()) : 3;
  auto hold = bx::CpuLatencyRequest::FromOption(qos);
  if (!hold.ok()) {
    std::fprintf(stderr, "bench-loopback-rtt: %s\n", std::string(hold.status().message()).c_str());
    return 2;
  }
  std::vector<double> p50, p99;
  for (int r = 0; r < runs; ++r) {
    auto v = Run(n);
    p50.push_back(At(v, 0.5));
    p99.push_back(At(v, 0.99));
    std::printf("run %d: p50 %.1f p99 %.1f us\n", r + 1, p50.back(), p99.back());
  }
  std::sort(p50.begin(), p50.end());
  std::sort(p99.begin(), p99.end());
  std::printf("loopback TCP RTT (64 B, %d round trips x %d runs%s): p50 %.1f (%.1f-%.1f) us, p99 %.1f (%.1f-%.1f) us\n",
              n, runs, qos >= 0 ? ", CPU wake-up latency request held" : "", p50[p50.size() / 2], p50.front(),
              p50.back(), p99[p99.size() / 2], p99.front(), p99.back());
  return 0;
}
