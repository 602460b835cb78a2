// The snapshot a StreamUpdates stream starts with: open orders, positions, the balance and the
// pending TP/SL orders, read over REST on the executor (the rate limiter's query lane, behind
// cancels and placements). Parts
// whose read failed are read again in the background, with backoff, until they are read or the
// stream ends (its call ended, or shutdown closed it); the stream then gets them, less what live
// updates carried meanwhile, and STATE_RECOVERED (UpdateStream::DeliverRest). Transport-free.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/backoff.h"
#include "services/orders/order_engine.h"
#include "services/orders/scheduler.h"
#include "services/orders/update_hub.h"

namespace bx::orders {

struct StreamSnapshotOptions {
  /// Deadline of one attempt's reads.
  std::chrono::milliseconds timeout{15000};
  /// Pause before reading a missing part again.
  BackoffPolicy retry{std::chrono::milliseconds(1000), std::chrono::milliseconds(30000), 2.0, 0.2};
  std::string margin_coin = "USDT";
};

/// Thread-safe. Reads `stream`'s snapshot on `scheduler`'s executor and delivers it after
/// `status` (the status the stream starts with): UpdateStream::DeliverSnapshot, then, for a part
/// that could not be read, DeliverRest once a retry reads it. A read still waiting for its
/// rate-limit token when the stream ends is withdrawn. `engine` must outlive the executor's work.
void StartStreamSnapshot(Scheduler& scheduler, OrderEngine& engine, std::shared_ptr<UpdateStream> stream,
                         HubEvent status, StreamSnapshotOptions options);

}  // namespace bx::orders
