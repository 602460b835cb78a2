// What the gRPC service needs from the upstream: tell it which topics streams want. The upstream
// manager implements it; service tests plug in a fake.
#pragma once

#include <string>
#include <vector>

#include "services/marketdata/topic_ring.h"

namespace bx::md {

/// A topic a stream wants: its ring (created by the hub) and exchange channel name.
struct TopicRef {
  TopicRing* ring = nullptr;
  std::string channel;  ///< "depth_book15", "trade", ...
};

class TopicDemand {
 public:
  virtual ~TopicDemand() = default;
  /// Thread-safe, non-blocking. A stream wants these topics (reference counted). Call it before the
  /// stream starts reading the rings: a subscription whose linger is expiring at that moment then
  /// stays, instead of ending under a stream that already reads it.
  virtual void Acquire(std::vector<TopicRef> topics) = 0;
  /// Thread-safe, non-blocking. A stream no longer wants them.
  virtual void Release(std::vector<TopicRef> topics) = 0;
};

}  // namespace bx::md
