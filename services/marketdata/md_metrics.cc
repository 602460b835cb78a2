#include "services/marketdata/md_metrics.h"

#include <algorithm>

namespace bx::md {
namespace {

const char* ChannelLabel(int i) {
  switch (i) {
    case v1::CHANNEL_TRADE: return "trade";
    case v1::CHANNEL_ORDER_BOOK: return "order_book";
    case v1::CHANNEL_TICKER: return "ticker";
    case v1::CHANNEL_MARK_PRICE: return "mark_price";
    case v1::CHANNEL_KLINE: return "kline";
    default: return "not_streamed";
  }
}

prometheus::Gauge* NewGauge(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

void MdMetrics::AddCounter(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels,
                           const std::atomic<uint64_t>* source) {
  counters_.push_back({&family.Add(labels), source, 0});
}

MdMetrics::MdMetrics(prometheus::Registry& r, Hub* hub, UpstreamManager* upstream, MarketRestClient* rest,
                     const Clock& clock)
    : hub_(hub), upstream_(upstream), clock_(clock) {
  UpstreamStats& us = upstream->stats();
  HubStats& hs = hub->stats();

  auto& frames = prometheus::BuildCounter()
                     .Name("bitunix_md_upstream_frames_total")
                     .Help("Data frames received from the exchange WebSocket, by channel.")
                     .Register(r);
  for (int i = v1::CHANNEL_TRADE; i <= v1::CHANNEL_KLINE; ++i) AddCounter(frames, {{"channel", ChannelLabel(i)}}, &us.frames[i]);
  AddCounter(frames, {{"channel", "not_streamed"}}, &us.frames[UpstreamStats::kChannels - 1]);
  AddCounter(prometheus::BuildCounter()
                 .Name("bitunix_md_upstream_control_frames_total")
                 .Help("Control frames (connect, pong, subscribe replies) from the exchange.")
                 .Register(r),
             {}, &us.control_frames);
  auto& bad = prometheus::BuildCounter()
                  .Name("bitunix_md_upstream_bad_frames_total")
                  .Help("Frames dropped: malformed JSON or fields, unknown channel, binary frame, all-empty book, no subscriber.")
                  .Register(r);
  AddCounter(bad, {{"kind", "malformed"}}, &us.parse_errors);
  AddCounter(bad, {{"kind", "unknown_channel"}}, &us.unknown_channel);
  AddCounter(bad, {{"kind", "binary"}}, &us.binary_frames);
  AddCounter(bad, {{"kind", "empty_book"}}, &us.empty_books);
  AddCounter(bad, {{"kind", "unsubscribed"}}, &us.unsubscribed_frames);
  auto& stray = prometheus::BuildCounter()
                    .Name("bitunix_md_upstream_stray_frames_total")
                    .Help("Data frames dropped as expected leftovers, not exchange faults: on a connection the "
                          "topic is no longer assigned to, or in flight when the topic was unsubscribed.")
                    .Register(r);
  AddCounter(stray, {{"kind", "other_connection"}}, &us.other_connection_frames);
  AddCounter(stray, {{"kind", "after_unsubscribe"}}, &us.after_unsubscribe_frames);
  auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>* src) {
    AddCounter(prometheus::BuildCounter().Name(name).Help(help).Register(r), {}, src);
  };
  counter("bitunix_md_upstream_reconnects_total", "Upstream connections lost or failed (each is retried).",
          &us.reconnects);
  counter("bitunix_md_upstream_connects_total", "Upstream connection attempts.", &us.connects);
  counter("bitunix_md_upstream_pong_timeouts_total", "Connections dropped because a JSON ping got no pong.",
          &us.pong_timeouts);
  counter("bitunix_md_upstream_pings_total", "JSON pings sent.", &us.pings);
  counter("bitunix_md_upstream_subscribe_messages_total", "Subscribe messages sent (many topics each).",
          &us.subscribe_messages);
  counter("bitunix_md_upstream_unsubscribe_messages_total", "Unsubscribe messages sent.", &us.unsubscribe_messages);
  counter("bitunix_md_upstream_subscribe_refusals_total", "Subscriptions the exchange refused (over 300).",
          &us.subscribe_refusals);
  counter("bitunix_md_upstream_breaker_trips_total", "Times the circuit breaker opened.", &us.breaker_trips);
  counter("bitunix_md_rest_polls_total", "REST polls made while a feed was degraded.", &us.rest_polls);
  counter("bitunix_md_rest_requests_total", "Exchange REST requests sent.", &rest->stats().requests);
  counter("bitunix_md_rest_failures_total", "Exchange REST requests that failed.", &rest->stats().failures);
  counter("bitunix_md_events_published_total", "Events encoded and published to the hub.", &hs.published);
  counter("bitunix_md_events_sent_total", "Events written to client streams.", &hs.events_sent);
  counter("bitunix_md_batches_sent_total", "Stream writes (each carries a batch of events).", &hs.batches_sent);
  counter("bitunix_md_coalesced_writes_total",
          "Writes of a busy stream that waited up to --coalesce-us for a fuller batch.", &hs.coalesced_writes);
  counter("bitunix_md_conflated_events_total", "State events skipped for a newer one (slow readers).",
          &hs.conflated);
  counter("bitunix_md_streams_ended_slow_total", "Streams ended with RESOURCE_EXHAUSTED for reading too slowly.",
          &hs.streams_ended_slow);
  counter("bitunix_md_streams_abandoned_total",
          "Streams cancelled because a write stalled past --stalled-write-timeout (the client stopped reading).",
          &hs.streams_abandoned);
  counter("bitunix_md_dispatcher_wakeups_total", "Dispatcher wake-ups (idle streams with new data).",
          &hs.dispatcher_wakeups);
  counter("bitunix_md_inline_pumps_total",
          "Times the upstream reader thread started idle streams' writes itself (--inline-write-streams).",
          &hs.inline_pumps);
  auto& dropped = prometheus::BuildCounter()
                      .Name("bitunix_md_dropped_events_total")
                      .Help("Events a stream did not get: its queue overflowed, or they aged past max-queue-age.")
                      .Register(r);
  AddCounter(dropped, {{"reason", "slow_consumer"}}, &hs.dropped_slow_consumer);
  AddCounter(dropped, {{"reason", "stale_queue"}}, &hs.dropped_stale_queue);
  auto& gaps = prometheus::BuildCounter()
                   .Name("bitunix_md_gap_markers_total")
                   .Help("Gap markers sent to streams, by reason.")
                   .Register(r);
  AddCounter(gaps, {{"reason", "slow_consumer"}}, &hs.gaps_slow_consumer);
  AddCounter(gaps, {{"reason", "stale_queue"}}, &hs.gaps_stale_queue);
  AddCounter(gaps, {{"reason", "upstream_reconnect"}}, &hs.gaps_upstream_reconnect);
  AddCounter(gaps, {{"reason", "upstream_bad_frame"}}, &hs.gaps_upstream_bad_frame);

  auto hist = [&](const char* name, const char* help, const AtomicHistogram* src) {
    auto& fam = prometheus::BuildHistogram().Name(name).Help(help).Register(r);
    histograms_.push_back({&fam.Add({}, src->bounds()), src, std::vector<uint64_t>(src->bounds().size() + 1, 0), 0});
  };
  hist("bitunix_md_exchange_to_gateway_latency_seconds",
       "Exchange push timestamp (ms) to gateway receive, per frame (includes clock offset).", &us.exchange_latency);
  hist("bitunix_md_gateway_to_client_latency_seconds",
       "Gateway receive to stream write completed, per write (its oldest event).", &hs.write_latency);

  up_ = NewGauge(r, "bitunix_md_upstream_up", "1 while connected and fresh (the readiness condition).");
  uptime_ = NewGauge(r, "bitunix_md_upstream_uptime_seconds", "Age of the first upstream connection's session.");
  connections_ = NewGauge(r, "bitunix_md_upstream_connections", "Upstream WebSocket connections (any state).");
  connections_open_ = NewGauge(r, "bitunix_md_upstream_connections_open", "Upstream WebSocket connections open.");
  breaker_open_ = NewGauge(r, "bitunix_md_upstream_breaker_open", "1 while the circuit breaker is open.");
  subscriptions_ = NewGauge(r, "bitunix_md_upstream_subscriptions", "Exchange subscriptions (channel, symbol).");
  stale_ = NewGauge(r, "bitunix_md_stale_topics", "Subscribed topics whose feed is stale.");
  degraded_ = NewGauge(r, "bitunix_md_degraded_topics", "Topics served from REST polling.");
  subscribers_ = NewGauge(r, "bitunix_md_subscribers", "Open Subscribe streams.");
  queue_depth_ = NewGauge(r, "bitunix_md_queue_depth_events", "Events queued for streams, summed.");
  queue_depth_max_ = NewGauge(r, "bitunix_md_queue_depth_max_events", "Events queued for the most loaded stream.");
  ring_bytes_ = NewGauge(r, "bitunix_md_ring_bytes", "Memory held by the topic rings.");
}

void MdMetrics::Publish() {
  for (auto& c : counters_) {
    const uint64_t v = c.source->load(std::memory_order_relaxed);
    if (v > c.last) c.counter->Increment(static_cast<double>(v - c.last));
    c.last = v;
  }
  for (auto& h : histograms_) {
    const std::vector<uint64_t> now = h.source->Counts();
    std::vector<double> inc(now.size());
    bool any = false;
    for (size_t i = 0; i < now.size(); ++i) {
      inc[i] = static_cast<double>(now[i] - h.last[i]);
      any |= now[i] != h.last[i];
    }
    const double sum = h.source->SumSeconds();
    if (any) h.histogram->ObserveMultiple(inc, sum - h.last_sum);
    h.last = now;
    h.last_sum = sum;
  }
  UpstreamStats& us = upstream_->stats();
  up_->Set(upstream_->ready() ? 1 : 0);
  const int64_t since = us.connected_since_ns.load(std::memory_order_relaxed);
  uptime_->Set(since > 0 ? static_cast<double>(clock_.NowNs() - since) / 1e9 : 0);
  connections_->Set(us.connections.load(std::memory_order_relaxed));
  connections_open_->Set(us.connections_open.load(std::memory_order_relaxed));
  breaker_open_->Set(us.breaker_open.load(std::memory_order_relaxed) ? 1 : 0);
  subscriptions_->Set(us.subscribed_topics.load(std::memory_order_relaxed));
  stale_->Set(us.stale_topics.load(std::memory_order_relaxed));
  degraded_->Set(us.degraded_topics.load(std::memory_order_relaxed));
  auto streams = hub_->Streams();
  subscribers_->Set(static_cast<double>(streams->size()));
  uint64_t total = 0, most = 0;
  for (const auto& s : *streams) {
    const uint64_t q = s->QueuedEvents();
    total += q;
    most = std::max(most, q);
  }
  queue_depth_->Set(static_cast<double>(total));
  queue_depth_max_->Set(static_cast<double>(most));
  size_t bytes = 0;
  for (TopicRing* ring : hub_->Topics()) bytes += ring->memory_bytes();
  ring_bytes_->Set(static_cast<double>(bytes));
}

}  // namespace bx::md
