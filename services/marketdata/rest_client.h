// The exchange's public REST API for market data, behind one rate gate: every call (unary RPCs,
// the degraded-mode poller, symbol refreshes) shares the public budget (10 requests/s per IP),
// and the poller only spends what is left above a reserve kept for clients' calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/net/http_client.h"
#include "services/marketdata/executor.h"

namespace bx::md {

struct RestClientOptions {
  double requests_per_second = 8;  ///< under the exchange's 10/s public limit
  double burst = 8;
  /// And never more than this many calls in any sliding `window` (a token bucket alone lets a
  /// full burst plus a second of refill, 2x the rate, into one second; the exchange counts per
  /// second and answers 10005). 0 = floor(requests_per_second).
  size_t max_per_window = 0;
  std::chrono::milliseconds window{1025};  ///< one second plus a margin for clock and transit
  /// Background work (degraded-mode polling, refreshes) spends at most this many requests/s, and
  /// only while this many tokens stay for clients' calls.
  double background_per_second = 4;
  double background_reserve = 2;
  /// Background work's floor: while background calls wait, at least this many requests/s go to
  /// them (within background_per_second) even when clients' calls fill the gate. Without it a
  /// client polling GetKlines at 6/s would leave the degraded-mode poller nothing, and every
  /// stream of a degraded book would go without data for as long as that client kept on.
  /// 0 = clients' calls always first.
  double background_floor_per_second = 2;
  std::chrono::milliseconds timeout{5000};
  /// Calls handed to the HTTP client and not yet answered: at most its connections
  /// (HttpClientOptions::max_connections). More would wait in the HTTP client's own queue, out of
  /// this gate's sight: behind a slow exchange they pile up there, and when it speeds up they all
  /// reach it at once, far above the budget the gate counted them in.
  size_t max_in_flight = 4;
  size_t max_queue = 256;  ///< queued calls beyond this fail fast with RESOURCE_EXHAUSTED
};

enum class RestPriority { kForeground, kBackground };

/// The tickers endpoint's target for `symbols`: named in the query while they are 1 to 50, else
/// every ticker (no `symbols`, ~800 rows, the same one token of the budget): ~10 bytes of query
/// string per symbol, and some proxies refuse request lines over a few KB.
std::string TickersTarget(const std::vector<std::string>& symbols);

/// Counters for metrics.
struct RestStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> rejected_queue_full{0};
};

class MarketRestClient {
 public:
  using Callback = std::function<void(absl::StatusOr<std::string> body)>;
  /// Whether the caller still wants the reply (false once its client cancelled or its deadline
  /// passed). Asked on the io thread while the call waits in the gate.
  using Wanted = std::function<bool()>;

  /// `http` callbacks and Tick() run on `io`'s thread.
  MarketRestClient(net::HttpClient* http, Executor* io, const Clock& clock, RestClientOptions options);
  ~MarketRestClient();

  /// Thread-safe. GETs `target` (path + query) when the rate gate allows; `done` runs on the io
  /// thread with the body of a 200 reply, or an error (HTTP status, transport, timeout;
  /// UNAVAILABLE once the client is closed). Every `done` runs exactly once.
  void Get(std::string target, RestPriority priority, Callback done);
  /// The same, for a caller that may give up while its call waits for the gate: a queued call
  /// whose `wanted` says false is never sent (`done` gets CANCELLED) and spends no token, so calls
  /// nobody waits for any more neither use the public budget nor hold back the poller.
  void Get(std::string target, RestPriority priority, Callback done, Wanted wanted);
  /// io thread: fails every queued call with UNAVAILABLE and every later one at once (shutdown;
  /// the destructor does it too). Calls already sent still get their reply.
  void Close();
  /// io thread: refills tokens and sends what they allow. Called every few tens of ms.
  void Tick();
  /// io thread: whether a background call could be sent now (the poller asks before queueing).
  bool BackgroundBudgetAvailable() const;
  /// What background_floor_per_second grants (at most background_per_second).
  double FloorRate() const;
  /// The most background calls per second the gate lets through, with no client calls: the
  /// background rate, bounded by the overall rate and by the sliding window less the reserve.
  double BackgroundRate() const;

  RestStats& stats() { return stats_; }

 private:
  struct Call {
    std::string target;
    RestPriority priority;
    Callback done;
    Wanted wanted;  // empty: always wanted
  };
  void Enqueue(Call call);
  /// Fails the queued calls nobody wants any more (CANCELLED), without sending them.
  void DropUnwanted();
  void Refill();
  size_t MaxInFlight() const;
  /// Calls the sliding window still allows now.
  size_t WindowRoom() const;
  /// A background call may go now on the floor's share, whatever clients have queued.
  bool FloorAvailable() const;
  double FloorCap() const;
  void Send(Call call);

  net::HttpClient* http_;
  Executor* io_;
  const Clock& clock_;
  const RestClientOptions options_;
  RestStats stats_;
  // io thread only:
  double tokens_;
  double background_tokens_;
  double floor_tokens_;  ///< background_floor_per_second's bucket, at most FloorCap()
  size_t in_flight_ = 0;  // handed to http_, no reply yet
  std::chrono::steady_clock::time_point last_refill_;
  std::deque<std::chrono::steady_clock::time_point> sent_;  // send times within the window
  std::deque<Call> foreground_;
  std::deque<Call> background_;
  bool closed_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace bx::md
