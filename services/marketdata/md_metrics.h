// Prometheus metrics of bitunix-marketdata. The hot paths only bump relaxed atomics (HubStats,
// UpstreamStats, RestStats, AtomicHistogram); Publish() copies them into the registry's families
// once a second on the io thread, so no Prometheus call (or its mutex) sits on a hot path.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "services/marketdata/hub.h"
#include "services/marketdata/rest_client.h"
#include "services/marketdata/upstream.h"

namespace bx::md {

class MdMetrics {
 public:
  MdMetrics(prometheus::Registry& registry, Hub* hub, UpstreamManager* upstream, MarketRestClient* rest,
            const Clock& clock);
  /// Copies the counters into the registry (deltas for counters and histograms).
  void Publish();

 private:
  struct CounterRef {
    prometheus::Counter* counter;
    const std::atomic<uint64_t>* source;
    uint64_t last = 0;
  };
  struct HistogramRef {
    prometheus::Histogram* histogram;
    const AtomicHistogram* source;
    std::vector<uint64_t> last;
    double last_sum = 0;
  };
  void AddCounter(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels,
                  const std::atomic<uint64_t>* source);

  Hub* hub_;
  UpstreamManager* upstream_;
  const Clock& clock_;
  std::vector<CounterRef> counters_;
  std::vector<HistogramRef> histograms_;
  prometheus::Gauge* up_;
  prometheus::Gauge* uptime_;
  prometheus::Gauge* connections_;
  prometheus::Gauge* connections_open_;
  prometheus::Gauge* breaker_open_;
  prometheus::Gauge* subscriptions_;
  prometheus::Gauge* stale_;
  prometheus::Gauge* degraded_;
  prometheus::Gauge* subscribers_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* queue_depth_max_;
  prometheus::Gauge* ring_bytes_;
};

}  // namespace bx::md
