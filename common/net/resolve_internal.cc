#include "common/net/resolve_internal.h"

#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include <boost/asio/error.hpp>

namespace bx::net::internal {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

error_code FromGaiError(int err, int saved_errno) {
  switch (err) {
    case EAI_AGAIN:
      return asio::error::host_not_found_try_again;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
      return asio::error::host_not_found;
    case EAI_SERVICE:
      return asio::error::service_not_found;
    case EAI_SOCKTYPE:
      return asio::error::socket_type_not_supported;
    case EAI_FAMILY:
      return asio::error::address_family_not_supported;
    case EAI_MEMORY:
      return asio::error::no_memory;
    case EAI_SYSTEM:
      return error_code(saved_errno, boost::system::system_category());
    default:
      return asio::error::no_recovery;
  }
}

// getaddrinfo(3), blocking; what Asio's resolver does on its thread (the same hints as its
// default query: TCP, any family, address_configured).
error_code Lookup(const std::string& host, uint16_t port, Endpoints* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  errno = 0;
  const int err = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (err != 0) return FromGaiError(err, errno);
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    tcp::endpoint ep;
    if (ai->ai_addrlen > ep.capacity()) continue;
    std::memcpy(ep.data(), ai->ai_addr, ai->ai_addrlen);
    ep.resize(ai->ai_addrlen);
    out->push_back(ep);
  }
  ::freeaddrinfo(res);
  if (out->empty()) return asio::error::host_not_found;
  return {};
}

}  // namespace

// Lookup threads whose getaddrinfo has not returned yet, process-wide. A stalled DNS server keeps
// each for the resolver's own timeout (resolv.conf: seconds to tens of seconds), and every
// connect attempt that gave up on one may start another: past the cap, an attempt fails at once
// instead of adding a thread.
std::atomic<int> g_lookups_running{0};

struct HostLookup::State {
  std::mutex mu;
  LookupDone done;  // guarded by mu; empty once run or cancelled
};

void HostLookup::Cancel() {
  if (!state_) return;
  LookupDone done;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    done = std::move(state_->done);
    state_->done = nullptr;
  }
  // `done` is destroyed here, on the caller's thread; the lookup thread keeps only the State.
  state_.reset();
}

int HostLookupsRunning() { return g_lookups_running.load(std::memory_order_relaxed); }

std::unique_ptr<HostLookup> StartHostLookup(std::string host, uint16_t port, LookupDone done) {
  auto state = std::make_shared<HostLookup::State>();
  state->done = std::move(done);
  if (g_lookups_running.fetch_add(1, std::memory_order_relaxed) >= kMaxHostLookupsRunning) {
    g_lookups_running.fetch_sub(1, std::memory_order_relaxed);
    // Still asynchronous for the caller: `done` posts to its executor.
    std::lock_guard<std::mutex> lock(state->mu);
    LookupDone d = std::move(state->done);
    state->done = nullptr;
    d(asio::error::host_not_found_try_again, {});
    return std::make_unique<HostLookup>(std::move(state));
  }
  auto run = [state, host = std::move(host), port] {
    Endpoints endpoints;
    const error_code ec = Lookup(host, port, &endpoints);
    g_lookups_running.fetch_sub(1, std::memory_order_relaxed);
    // Under the lock, so a Cancel() that returned has made this a no-op, and one that is waiting
    // returns only after `done` (a post to the caller's executor) finished and was destroyed.
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->done) return;
    LookupDone d = std::move(state->done);
    state->done = nullptr;
    d(ec, std::move(endpoints));
  };
  try {
    std::thread(std::move(run)).detach();
  } catch (const std::system_error& e) {
    // No thread to be had: fail the lookup rather than the caller (still asynchronously).
    g_lookups_running.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(state->mu);
    LookupDone d = std::move(state->done);
    state->done = nullptr;
    if (d) d(error_code(e.code().value(), boost::system::system_category()), {});
  }
  return std::make_unique<HostLookup>(std::move(state));
}

}  // namespace bx::net::internal
