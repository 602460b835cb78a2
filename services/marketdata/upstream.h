// The self-healing upstream: one shared set of exchange WebSocket connections, subscriptions driven
// by demand, feed health, and the REST fallback while the feed is down or stale.
//
// - One exchange subscription per (channel, symbol) however many streams want it; reference
//   counted; unsubscribed after `linger` once the last stream leaves.
// - Subscribe/unsubscribe/ping messages paced under the exchange's 5 messages/s per connection
//   (pings count), many topics per message; more topics than one connection may hold (300) are
//   spread over further connections.
// - JSON pings (library pings are off in WsClient), pong timeout, staleness per topic with
//   per-channel thresholds (a stale topic also triggers a probe ping), exponential backoff with
//   jitter and a cap (reset only by a session healthy for `min_healthy_session`), a circuit
//   breaker after repeated failed connects or short sessions, and on reconnect every wanted topic
//   is subscribed again.
// - There is no subscribe ack (reference section 8): a subscription is confirmed by its first data
//   frame, and re-sent once if none arrives within `confirm-timeout`.
// - While a topic's feed is down or stale, books and tickers are polled over REST (background
//   budget) and published marked DEGRADED, until the feed is back.
//
// Threads: everything runs on one io thread (WsClient handlers, Tick, REST callbacks). Acquire and
// Release may be called from any thread; they post to the io thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/net/ws_client.h"
#include "services/marketdata/atomic_histogram.h"
#include "services/marketdata/event_encoder.h"
#include "services/marketdata/executor.h"
#include "services/marketdata/frame_parser.h"
#include "services/marketdata/hub.h"
#include "services/marketdata/rest_client.h"
#include "services/marketdata/symbol_registry.h"
#include "services/marketdata/topic_demand.h"

namespace bx::md {

struct UpstreamOptions {
  int max_subscriptions_per_connection = 300;  ///< the exchange refuses the 301st
  int max_connections = 16;
  double max_messages_per_second = 4;  ///< the exchange disconnects above 5 (pings count)
  int max_args_per_message = 50;
  std::chrono::milliseconds ping_interval{15000};
  std::chrono::milliseconds pong_timeout{5000};
  std::chrono::milliseconds linger{30000};
  std::chrono::milliseconds confirm_timeout{10000};
  BackoffPolicy backoff{std::chrono::milliseconds(250), std::chrono::milliseconds(30000), 2.0, 0.5};
  int breaker_failures = 6;  ///< consecutive failed connects that open the breaker
  /// A session resets the backoff and the breaker's failure count only once it has been open
  /// and healthy (data or a pong) this long; a shorter one counts as a failed connect.
  std::chrono::milliseconds min_healthy_session{30000};
  std::chrono::milliseconds breaker_cooldown{30000};
  /// Staleness thresholds per channel (0 = never stale: trades can be quiet for minutes).
  std::chrono::milliseconds stale_book{3000};
  std::chrono::milliseconds stale_ticker{5000};
  std::chrono::milliseconds stale_mark_price{5000};
  std::chrono::milliseconds stale_kline{10000};
  std::chrono::milliseconds stale_trade{0};
  std::chrono::milliseconds symbol_refresh{600000};
  bool rest_fallback = true;
  std::chrono::milliseconds rest_poll_interval{1000};  ///< per degraded topic
  /// Idle connections (no topics) beyond the first are closed after this; one that goes down
  /// (the exchange drops idle sockets) while it has no topics is retired at once, without a
  /// reconnect or a failure counted toward the breaker.
  std::chrono::milliseconds idle_connection_close{60000};
  uint64_t seed = 0;  ///< backoff jitter; 0 = random
};

/// Counters for metrics (relaxed atomics).
struct UpstreamStats {
  static constexpr int kChannels = 8;  ///< indexed by v1::Channel; index 7 = not streamed
  std::atomic<uint64_t> frames[kChannels] = {};
  std::atomic<uint64_t> control_frames{0};
  std::atomic<uint64_t> parse_errors{0};
  std::atomic<uint64_t> unknown_channel{0};
  std::atomic<uint64_t> binary_frames{0};  ///< the exchange sends text only
  std::atomic<uint64_t> unsubscribed_frames{0};  ///< data for a topic nobody wants (yet/anymore)
  /// Data for a topic on a connection it is not assigned to (dropped; not an exchange fault).
  std::atomic<uint64_t> other_connection_frames{0};
  /// Data for a topic unsubscribed moments ago (still in flight then; not an exchange fault).
  std::atomic<uint64_t> after_unsubscribe_frames{0};
  std::atomic<uint64_t> empty_books{0};          ///< all-empty levels: the unknown-symbol shape
  std::atomic<uint64_t> subscribe_refusals{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> pong_timeouts{0};
  std::atomic<uint64_t> pings{0};
  std::atomic<uint64_t> subscribe_messages{0};
  std::atomic<uint64_t> unsubscribe_messages{0};
  std::atomic<uint64_t> rest_polls{0};
  std::atomic<uint64_t> breaker_trips{0};
  std::atomic<int> connections_open{0};
  std::atomic<int> connections{0};
  std::atomic<int> stale_topics{0};
  std::atomic<int> degraded_topics{0};
  std::atomic<int> subscribed_topics{0};
  std::atomic<bool> breaker_open{false};
  std::atomic<int64_t> connected_since_ns{0};  ///< first connection's current session; 0 = down
  AtomicHistogram exchange_latency{LatencyBucketsSeconds()};
};

using WsFactory = std::function<std::unique_ptr<net::WsClient>()>;

class UpstreamManager final : public TopicDemand {
 public:
  UpstreamManager(UpstreamOptions options, Hub* hub, SymbolRegistry* symbols, MarketRestClient* rest,
                  Executor* io, WsFactory ws_factory, const Clock& clock);
  ~UpstreamManager();
  UpstreamManager(const UpstreamManager&) = delete;
  UpstreamManager& operator=(const UpstreamManager&) = delete;

  /// io thread: opens the first connection and loads the symbol list.
  void Start();
  /// io thread: timers (pings, pacing, pong timeouts, staleness, linger, backoff, breaker, REST
  /// polls, symbol refresh, ring trimming). Call every few tens of ms.
  void Tick();
  /// io thread: closes every connection for good (no reconnect).
  void Shutdown();

  /// Any thread: a stream wants / no longer wants these topics.
  void Acquire(std::vector<TopicRef> topics) override;
  void Release(std::vector<TopicRef> topics) override;

  /// Any thread: SERVING only while connected, fresh and the symbol list is loaded.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  /// io thread: called whenever ready() changes.
  void set_on_ready_change(std::function<void(bool)> fn) { on_ready_change_ = std::move(fn); }

  UpstreamStats& stats() { return stats_; }
  /// io thread (tests): live exchange subscriptions per connection, and pending topic count.
  std::vector<int> SubscriptionsPerConnection() const;

 private:
  enum class SubState { kNone, kQueued, kSent, kConfirmed };
  struct Conn;
  struct TopicState {
    TopicRing* ring = nullptr;
    std::string channel;
    std::string symbol;
    ChannelSpec spec;
    int refs = 0;
    bool lingering = false;
    std::chrono::steady_clock::time_point linger_until{};
    Conn* conn = nullptr;
    SubState sub = SubState::kNone;
    /// A subscribe for it went out on its connection's current socket and no unsubscribe since:
    /// the exchange may be feeding it, even while `sub` is back to kQueued for a re-send.
    bool on_exchange = false;
    std::chrono::steady_clock::time_point sent_at{};
    std::chrono::steady_clock::time_point last_data{};
    int confirm_retries = 0;
    /// Its connection was probed (a ping) because this subscription passed its confirm timeout
    /// without data; reset by each subscribe sent.
    bool probed_unconfirmed = false;
    TopicHealth health = TopicHealth::kLive;
    std::chrono::steady_clock::time_point unhealthy_since{};
    bool snapshot_next = false;
    /// Degraded after losing its socket (before or after the new one opened): its recovery, at its
    /// first push, carries the reconnect's Gap.
    bool gap_pending = false;
    std::chrono::steady_clock::time_point next_poll{};
    bool poll_in_flight = false;
    /// When a REST poll last published its state (DEGRADED).
    std::chrono::steady_clock::time_point last_rest_data{};
    /// The freshness (max of last_data, last_rest_data) the cache was last hidden for: a state
    /// older than the channel's staleness threshold is hidden once, until newer data arrives.
    std::chrono::steady_clock::time_point cache_hidden_for{};
    /// The symbol left trading_pairs (or is no longer OPEN/CANCEL_ONLY): no data will come.
    /// Streams were told; it no longer counts against readiness, staleness or REST polling.
    bool delisted = false;
    /// Subscribed again because it went silent while its connection still answered (the
    /// exchange may have dropped the subscription): once per silence.
    bool resubscribed_silent = false;
    /// A subscribe for it went out at least once: subscribing it again (a new socket, a move
    /// after a refusal) interrupts a feed its streams already had.
    bool was_subscribed = false;
    /// Its subscription was interrupted and its streams were not told yet what the interruption
    /// cost. A trade topic gets a Gap right before its first push after it (the trades between
    /// the interruption and the exchange applying the new subscribe are lost); a state topic is
    /// published as a snapshot instead.
    bool gap_at_first_push = false;
  };
  enum class ConnState { kDown, kConnecting, kOpen };
  struct PendingUnsubscribe {
    std::string channel;
    std::string symbol;
    /// Queued by EndFeed (the linger expired): the subscription was whole until then, and a rejoin
    /// before this is sent takes it back as it was (`sub`, its state then). False for a topic
    /// moved off this connection: that one is subscribed elsewhere and must go.
    bool resumable = false;
    SubState sub = SubState::kNone;
  };
  struct Conn {
    int id = 0;
    std::unique_ptr<net::WsClient> ws;
    ConnState state = ConnState::kDown;
    uint64_t generation = 0;
    bool retry_scheduled = false;
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::steady_clock::time_point opened_at{};
    std::chrono::steady_clock::time_point down_since{};
    std::chrono::steady_clock::time_point next_send{};
    std::chrono::steady_clock::time_point last_ping{};
    std::chrono::steady_clock::time_point ping_sent{};
    std::chrono::steady_clock::time_point empty_since{};
    bool awaiting_pong = false;
    bool probe_wanted = false;
    bool healthy = false;  ///< got a pong or data since it opened
    bool proven = false;   ///< healthy for min_healthy_session: backoff and failures were reset
    bool retired = false;  ///< closing for good (idle); deleted after on_closed
    int capacity = 300;
    /// The limit an exchange refusal stated ("subscribe channel > N") when the connection had
    /// asked for more; 0 when none. Kept across sockets. A cap guessed from a refusal that stated
    /// nothing lasts only until the next socket.
    int stated_capacity = 0;
    std::vector<TopicState*> topics;
    /// Unsubscribes not sent yet (one per topic; batched only when TrySend builds a message).
    std::vector<PendingUnsubscribe> unsubscribe;
    Backoff backoff;
    std::string last_error;
    int attempts = 0;
    int failures = 0;  ///< failed connects or sessions in a row (the breaker counts per connection)
    explicit Conn(const BackoffPolicy& p, uint64_t seed) : backoff(p, seed) {}
  };
  using Time = std::chrono::steady_clock::time_point;

  Conn* NewConnection();
  void Connect(Conn* c);
  void OnOpen(Conn* c, uint64_t gen);
  void OnText(Conn* c, uint64_t gen, std::string_view data, int64_t recv_ns);
  void OnClosed(Conn* c, uint64_t gen, const absl::Status& reason);
  /// A spare connection (not the first) with no topics closes for good: no reconnect, and its
  /// failures stop counting toward the breaker. Erased once closed.
  void Retire(Conn* c, std::string_view why);
  /// Deletes a closed connection from the io queue (never inside its own client's callback).
  void EraseLater(Conn* c);
  /// The first frame of any kind on an open socket: the exchange answers. Topics that were
  /// reconnecting turn live (gap + RECOVERED).
  void OnHealthy(Conn* c);
  /// A reconnecting topic now subscribed on a socket the exchange speaks on turns live (its cached
  /// state hidden, its next state a snapshot); true when its streams are to hear RECOVERED.
  bool RecoverOnAnsweringSocket(TopicState* t);
  /// consecutive_failures_ = the most failures in a row of any connection.
  void CountFailures();
  /// After a symbol-list refresh: topics whose symbol left the list (or stopped trading) are
  /// marked delisted and their streams told; a symbol listed again resumes.
  void ApplyListing(Time now);
  void HandlePush(Conn* c, const Frame& f, int64_t recv_ns);
  /// Stages the event in scratch_ for its ring; published at the end of the socket read (or every
  /// PublishBatch::kMaxEvents), so a read's events go in under one ring lock per run of one topic.
  void Stage(TopicRing* ring, const EventLayout& layout, int64_t recv_ns, int64_t conflate_key = 0);
  void FlushStaged();
  /// The topic a push belongs to; nullptr (counted) for a topic not held.
  TopicState* FindPushTopic(const Frame& f);
  void HandleSubscribeRefusal(Conn* c, const Frame& f);
  void TrySend(Conn* c, Time now);
  void AcquireOnIo(std::vector<TopicRef> topics);
  void ReleaseOnIo(std::vector<TopicRef> topics);
  void Assign(TopicState* t);
  /// The topic of (channel, symbol as sent), or nullptr.
  TopicState* LookupTopic(std::string_view ch, std::string_view symbol);
  /// Its subscription is being replaced after it was fed (see TopicState::gap_at_first_push).
  void MarkInterrupted(TopicState* t);
  void Unassign(TopicState* t, bool send_unsubscribe);
  /// A topic acquired again after EndFeed whose unsubscribe still waits in its connection's send
  /// queue: cancels the unsubscribe and puts the topic back on that connection as it was (no
  /// subscribe, no Gap: the exchange never stopped the feed). False when there is none to cancel.
  bool ResumeEnded(TopicState* t);
  /// The last stream left and the linger passed: unsubscribe and drop the ring's cached state.
  /// False (nothing done) while a stream's acquire of the topic is on its way to the io thread.
  bool EndFeed(TopicState* t);
  void SetHealth(TopicState* t, TopicHealth h);
  std::chrono::milliseconds StaleAfter(const ChannelSpec& spec) const;
  void CheckTopics(Time now);
  /// A state topic whose newest state (a push or a REST poll) is older than its channel's
  /// staleness threshold: hides it from late joiners and unary reads until newer data arrives.
  void HideAgedCache(TopicState* t, Time now);
  void PollDegraded(Time now);
  void RefreshSymbols(Time now);
  void UpdateReady();
  void LogBadFrame(std::string_view what, std::string_view why, std::string_view data);

  const UpstreamOptions options_;
  Hub* const hub_;
  SymbolRegistry* const symbols_;
  MarketRestClient* const rest_;
  Executor* const io_;
  WsFactory ws_factory_;
  const Clock& clock_;
  UpstreamStats stats_;
  std::atomic<bool> ready_{false};
  std::function<void(bool)> on_ready_change_;
  std::shared_ptr<bool> alive_;

  // io thread only:
  FrameParser parser_;
  EventEncoder encoder_;
  std::string scratch_;
  std::string key_;
  // Events of the current socket read not yet published (Stage).
  PublishBatch staged_;
  // HandlePush's last topic: consecutive frames nearly always carry the same channel and symbol
  // (a firehose is one topic), so the key build and hash lookup are skipped while they repeat.
  // Reset whenever a topic is erased.
  TopicState* last_topic_ = nullptr;
  std::string last_ch_, last_symbol_;
  std::vector<std::unique_ptr<Conn>> conns_;
  absl::flat_hash_map<std::string, std::unique_ptr<TopicState>> topics_;
  /// Topics unsubscribed within kLateFrameWindow, and when: their frames still in flight are
  /// expected, not bad frames.
  static constexpr std::chrono::seconds kLateFrameWindow{10};
  absl::flat_hash_map<std::string, Time> recently_ended_;
  uint64_t seed_;
  int next_conn_id_ = 0;
  int consecutive_failures_ = 0;  ///< the most of any connection's `failures`
  bool breaker_open_ = false;
  Time breaker_until_{};
  bool started_ = false;
  bool shutting_down_ = false;
  bool symbols_in_flight_ = false;
  Time next_symbol_refresh_{};
  /// An unknown symbol's book frame (empty levels) brings the next refresh forward, at most this often.
  static constexpr std::chrono::milliseconds kEarlySymbolRefreshEvery{60000};
  std::optional<Time> last_early_symbol_refresh_;
  Time next_trim_{};
  Time now_{};  ///< steady time of the last Tick: per-frame bookkeeping needs no finer clock
  bool tickers_poll_in_flight_ = false;
  Time next_tickers_poll_{};
  /// Poll every ticker (no `symbols`) instead of naming the degraded ones: set when a named poll
  /// failed (the exchange refuses the whole list for one symbol it no longer trades, 20015);
  /// cleared once no ticker is degraded.
  bool tickers_poll_all_ = false;
  RateLimitedLog bad_frame_log_{5, std::chrono::seconds(10)};
};

}  // namespace bx::md
