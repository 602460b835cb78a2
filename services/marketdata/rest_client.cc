#include "services/marketdata/rest_client.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/marketdata/rest_parse.h"

namespace bx::md {

MarketRestClient::MarketRestClient(net::HttpClient* http, Executor* io, const Clock& clock,
                                   RestClientOptions options)
    : http_(http),
      io_(io),
      clock_(clock),
      options_(options),
      tokens_(options.burst),
      background_tokens_(std::max(1.0, options.background_per_second)),
      floor_tokens_(FloorRate() > 0 ? FloorCap() : 0.0),
      last_refill_(clock.Steady()),
      alive_(std::make_shared<bool>(true)) {}

namespace {

constexpr size_t kMaxSymbolsPerTickersQuery = 50;

absl::Status Closed() { return absl::UnavailableError("server shutting down: exchange REST calls are closed"); }

}  // namespace

MarketRestClient::~MarketRestClient() {
  // A caller (a unary RPC's reactor) may be waiting for its callback: never drop one silently.
  Close();
  alive_.reset();
}

void MarketRestClient::Close() {
  closed_ = true;
  std::deque<Call> queued;
  queued.swap(foreground_);
  for (auto& c : background_) queued.push_back(std::move(c));
  background_.clear();
  for (auto& c : queued) c.done(Closed());
}

void MarketRestClient::Get(std::string target, RestPriority priority, Callback done) {
  Get(std::move(target), priority, std::move(done), nullptr);
}

void MarketRestClient::Get(std::string target, RestPriority priority, Callback done, Wanted wanted) {
  std::weak_ptr<bool> alive = alive_;
  io_->Post([this, alive,
             call = Call{std::move(target), priority, std::move(done), std::move(wanted)}]() mutable {
    if (alive.expired()) return call.done(Closed());
    Enqueue(std::move(call));
  });
}

void MarketRestClient::Enqueue(Call call) {
  if (closed_) return call.done(Closed());
  if (foreground_.size() + background_.size() >= options_.max_queue) DropUnwanted();
  if (foreground_.size() + background_.size() >= options_.max_queue) {
    stats_.rejected_queue_full.fetch_add(1, std::memory_order_relaxed);
    call.done(absl::ResourceExhaustedError(
        "too many exchange REST calls queued (the public budget is 10 requests/s); retry later"));
    return;
  }
  (call.priority == RestPriority::kForeground ? foreground_ : background_).push_back(std::move(call));
  Tick();
}

void MarketRestClient::DropUnwanted() {
  std::vector<Call> gone;
  for (auto* q : {&foreground_, &background_}) {
    if (std::all_of(q->begin(), q->end(), [](const Call& c) { return !c.wanted || c.wanted(); })) continue;
    auto keep = std::stable_partition(q->begin(), q->end(), [](const Call& c) { return !c.wanted || c.wanted(); });
    for (auto it = keep; it != q->end(); ++it) gone.push_back(std::move(*it));
    q->erase(keep, q->end());
  }
  for (auto& c : gone) c.done(absl::CancelledError("the caller gave up before the REST rate gate let the call go"));
}

void MarketRestClient::Refill() {
  const auto now = clock_.Steady();
  const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  last_refill_ = now;
  tokens_ = std::min(options_.burst, tokens_ + elapsed * options_.requests_per_second);
  background_tokens_ = std::min(std::max(1.0, options_.background_per_second),
                                background_tokens_ + elapsed * options_.background_per_second);
  floor_tokens_ = std::min(FloorCap(), floor_tokens_ + elapsed * FloorRate());
}

double MarketRestClient::FloorCap() const {
  // A window's worth: clients' calls fill the sliding window in bursts, so the slots free up
  // together once per window, and the floor must be able to take its whole share then.
  const double window_s = std::chrono::duration<double>(options_.window).count();
  return std::max(1.0, FloorRate() * window_s);
}

double MarketRestClient::FloorRate() const {
  return std::max(0.0, std::min(options_.background_floor_per_second, options_.background_per_second));
}

bool MarketRestClient::FloorAvailable() const {
  return FloorRate() > 0 && floor_tokens_ >= 1 && background_tokens_ >= 1 && tokens_ >= 1 &&
         in_flight_ < MaxInFlight() && WindowRoom() > 0;
}

size_t MarketRestClient::WindowRoom() const {
  const size_t max = options_.max_per_window > 0
                         ? options_.max_per_window
                         : static_cast<size_t>(std::max(1.0, std::floor(options_.requests_per_second)));
  const auto now = clock_.Steady();
  const size_t in_window = static_cast<size_t>(
      std::count_if(sent_.begin(), sent_.end(), [&](const auto& t) { return now - t < options_.window; }));
  return in_window >= max ? 0 : max - in_window;
}

bool MarketRestClient::BackgroundBudgetAvailable() const {
  // On the floor's share a call may queue now and goes at the next free slot, ahead of clients'.
  if (FloorRate() > 0 && in_flight_ < MaxInFlight() && static_cast<double>(background_.size()) + 1 <= floor_tokens_ &&
      static_cast<double>(background_.size()) + 1 <= background_tokens_) {
    return true;
  }
  return foreground_.empty() && background_.empty() && in_flight_ < MaxInFlight() &&
         tokens_ >= 1 + options_.background_reserve &&
         background_tokens_ >= 1 && WindowRoom() >= 1 + static_cast<size_t>(options_.background_reserve);
}

double MarketRestClient::BackgroundRate() const {
  const double window_max = options_.max_per_window > 0
                                ? static_cast<double>(options_.max_per_window)
                                : std::max(1.0, std::floor(options_.requests_per_second));
  const double window_s = std::chrono::duration<double>(options_.window).count();
  // A background call goes while the window holds fewer than window_max - reserve calls.
  const double by_window = window_s > 0 ? std::max(0.0, window_max - options_.background_reserve) / window_s
                                        : options_.requests_per_second;
  return std::max(0.0, std::min({options_.background_per_second, options_.requests_per_second, by_window}));
}

size_t MarketRestClient::MaxInFlight() const { return std::max<size_t>(1, options_.max_in_flight); }

void MarketRestClient::Tick() {
  Refill();
  // Before spending tokens: a call whose client cancelled or timed out while it waited would use
  // the budget for nobody (a burst of short-deadline GetKlines used to drain the gate for
  // max_queue / rate seconds after its callers had gone, the degraded-mode poller waiting behind).
  DropUnwanted();
  // The background floor first: clients' calls come before background work, but never take the
  // whole gate while background calls wait.
  while (!background_.empty() && FloorAvailable()) {
    tokens_ -= 1;
    background_tokens_ -= 1;
    floor_tokens_ -= 1;
    Call c = std::move(background_.front());
    background_.pop_front();
    Send(std::move(c));
  }
  // A call waits here, not in the HTTP client's queue, while every connection is busy: its send
  // time below is then the time it reaches the exchange, which the window counts.
  while (!foreground_.empty() && in_flight_ < MaxInFlight() && tokens_ >= 1 && WindowRoom() > 0) {
    tokens_ -= 1;
    Call c = std::move(foreground_.front());
    foreground_.pop_front();
    Send(std::move(c));
  }
  while (foreground_.empty() && !background_.empty() && in_flight_ < MaxInFlight() &&
         tokens_ >= 1 + options_.background_reserve &&
         background_tokens_ >= 1 && WindowRoom() >= 1 + static_cast<size_t>(options_.background_reserve)) {
    tokens_ -= 1;
    background_tokens_ -= 1;
    Call c = std::move(background_.front());
    background_.pop_front();
    Send(std::move(c));
  }
}

void MarketRestClient::Send(Call call) {
  const auto now = clock_.Steady();
  while (!sent_.empty() && now - sent_.front() >= options_.window) sent_.pop_front();
  sent_.push_back(now);
  ++in_flight_;
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  net::HttpRequest req;
  req.method = "GET";
  req.target = call.target;
  req.timeout = options_.timeout;
  std::string endpoint = call.target.substr(0, call.target.find('?'));
  http_->Send(std::move(req), [this, alive = std::weak_ptr<bool>(alive_), endpoint,
                               done = std::move(call.done)](net::HttpResult r) {
    if (alive.expired()) return done(Closed());
    --in_flight_;
    if (!r.status.ok()) {
      stats_.failures.fetch_add(1, std::memory_order_relaxed);
      done(absl::Status(r.status.code(), std::string(r.status.message()) + " (" + endpoint + ")"));
    } else if (r.response.status != 200) {
      stats_.failures.fetch_add(1, std::memory_order_relaxed);
      done(HttpError(r.response.status, endpoint));
    } else {
      done(std::move(r.response.body));
    }
    // The connection is free: the next queued call need not wait for the next tick.
    if (!alive.expired() && !closed_) Tick();
  });
}

std::string TickersTarget(const std::vector<std::string>& symbols) {
  std::string target = "/api/v1/futures/market/tickers";
  if (!symbols.empty() && symbols.size() <= kMaxSymbolsPerTickersQuery) {
    absl::StrAppend(&target, "?symbols=", absl::StrJoin(symbols, ","));
  }
  return target;
}

}  // namespace bx::md
