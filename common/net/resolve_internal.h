// Private to common/net: host-name lookups that nothing has to wait for, shared by the HTTP and WS
// adapters. Includes Asio, so only common/net/*.cc may include it.
//
// Asio's resolver runs a blocking getaddrinfo on one background thread per io_context: cancel()
// cannot interrupt a lookup under way, later lookups queue behind a stalled one, and destroying
// the io_context joins that thread, so a stalled DNS server would hold shutdown as long as it
// stalls. Here each lookup runs on a detached thread of its own that holds nothing of the caller
// once the lookup is cancelled: a connect attempt gives up on it at its timeout, and a result that
// arrives later is dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

namespace bx::net::internal {

using Endpoints = std::vector<boost::asio::ip::tcp::endpoint>;

/// Runs on the lookup's thread, at most once, and only if the lookup was not cancelled first.
using LookupDone = std::function<void(boost::system::error_code, Endpoints)>;

/// One lookup in flight; destroying the handle cancels it.
class HostLookup {
 public:
  struct State;
  explicit HostLookup(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ~HostLookup() { Cancel(); }
  HostLookup(const HostLookup&) = delete;
  HostLookup& operator=(const HostLookup&) = delete;

  /// Once this returns, `done` is neither running nor will it run, and it has been destroyed
  /// (here, on the caller's thread): what it captured may go away. It never waits for
  /// getaddrinfo, only (briefly) for a `done` already running.
  void Cancel();

 private:
  std::shared_ptr<State> state_;
};

/// At most this many lookup threads run at once in the process (a stalled DNS server holds each
/// for its own timeout); past it, a lookup fails at once with host_not_found_try_again.
inline constexpr int kMaxHostLookupsRunning = 8;
/// Lookup threads whose getaddrinfo has not returned yet.
int HostLookupsRunning();

/// Starts getaddrinfo(host, port) (TCP, any address family, AI_ADDRCONFIG as Asio's resolver)
/// on a detached thread. `done` gets the addresses, or an Asio error (host_not_found,
/// host_not_found_try_again, ...). Cancel the lookup (destroy the handle) before anything that
/// `done` uses goes away, in particular the io_context it posts to.
std::unique_ptr<HostLookup> StartHostLookup(std::string host, uint16_t port, LookupDone done);

/// StartHostLookup whose result is posted to `executor`, where `handler(ec, endpoints)` runs.
/// `handler` must not own the lookup's owner (capture a weak_ptr): the owner cancels the lookup
/// when it ends or is destroyed, and a strong reference held by the lookup thread would keep it,
/// and the executor it posts to, past the io_context's destruction. Once posted, `handler` is an
/// operation queued on the executor like any other (destroyed with the io_context if not run).
template <class Executor, class Handler>
std::unique_ptr<HostLookup> AsyncHostLookup(const Executor& executor, std::string host, uint16_t port,
                                            Handler handler) {
  return StartHostLookup(
      std::move(host), port,
      [executor, handler = std::move(handler)](boost::system::error_code ec, Endpoints endpoints) mutable {
        boost::asio::post(executor, [handler = std::move(handler), ec, endpoints = std::move(endpoints)]() mutable {
          handler(ec, std::move(endpoints));
        });
      });
}

}  // namespace bx::net::internal
