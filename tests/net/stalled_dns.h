// A host-name lookup that stalls on demand, for the transport tests of what a hung DNS server does
// to a connect attempt. Linking stalled_dns.cc replaces getaddrinfo for the whole binary (so each
// such test has a binary of its own): lookups of kStalledHost wait until the test releases them,
// every other name goes to the C library.
#pragma once

namespace bx::net::testing {

inline constexpr const char* kStalledHost = "stalled-dns.invalid";

/// While one exists, lookups of kStalledHost stall until Release() or its destruction. Released,
/// they fail with EAI_AGAIN, or answer 127.0.0.1 when made with `answer_loopback` (a late answer
/// a client must no longer act on). Destroy it before anything a test waits on the lookups for.
class StalledDns {
 public:
  explicit StalledDns(bool answer_loopback = false);
  ~StalledDns();
  StalledDns(const StalledDns&) = delete;
  StalledDns& operator=(const StalledDns&) = delete;

  void Release();
  /// Lookups of kStalledHost begun / returned since this was made.
  static int started();
  static int returned();
};

/// The threads this process has now (Linux: /proc/self/status), for waiting until a lookup
/// thread has exited; -1 if unknown.
int ProcessThreadCount();

}  // namespace bx::net::testing
