#include "services/orders/rate_limiter.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "services/orders/errors.h"
#include "tests/orders/fakes.h"

namespace bx::orders {
namespace {

using std::chrono::milliseconds;
using testing::ManualScheduler;

struct LimiterTest : ::testing::Test {
  FakeClock clock;
  ManualScheduler sched{clock};
  RateLimiterOptions Opts(double rate, double burst) {
    RateLimiterOptions o;
    for (auto& b : o.buckets) b = {rate, burst};
    return o;
  }
  SteadyTime In(milliseconds d) { return clock.Steady() + d; }
  void RefusedOnlyOnArrival(double burst);
};

TEST_F(LimiterTest, BurstIsImmediateThenPacedAtTheRate) {
  RateLimiter rl(sched, Opts(10, 2));
  std::vector<std::pair<int, int64_t>> granted;  // (id, ms since start)
  const auto start = clock.Steady();
  for (int i = 0; i < 6; ++i) {
    rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(5000)), "q", [&, i](absl::Status s) {
      ASSERT_TRUE(s.ok()) << s;
      granted.emplace_back(i, std::chrono::duration_cast<milliseconds>(clock.Steady() - start).count());
    });
  }
  EXPECT_EQ(granted.size(), 2u);  // the burst
  sched.Advance(milliseconds(1000));
  ASSERT_EQ(granted.size(), 6u);
  for (size_t i = 0; i < granted.size(); ++i) EXPECT_EQ(granted[i].first, static_cast<int>(i));
  EXPECT_NEAR(static_cast<double>(granted[2].second), 100, 1);
  EXPECT_NEAR(static_cast<double>(granted[5].second), 400, 1);
  auto st = rl.State(Bucket::kPrivate);
  EXPECT_EQ(st.immediate, 2u);
  EXPECT_EQ(st.queued_granted, 4u);
}

TEST_F(LimiterTest, AQueuedCallIsNeverRefusedLaterThanItsArrival) {
  // 100 calls at once, each with 9.75 s: the sliding window (10 per 1 s + margin) serves about
  // 9.76 per second, not 10. A call is either served before its deadline or refused at once;
  // none waits seconds just to be refused. With a burst of 1 and of 5.
  for (double burst : {1.0, 5.0}) {
    SCOPED_TRACE(burst);
    RefusedOnlyOnArrival(burst);
  }
}

void LimiterTest::RefusedOnlyOnArrival(double burst) {
  RateLimiter rl(sched, Opts(10, burst));
  const auto start = clock.Steady();
  int served = 0;
  std::vector<int64_t> refused_at_ms;
  for (int i = 0; i < 100; ++i) {
    rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(9750)), "p", [&](absl::Status s) {
      if (s.ok()) {
        ++served;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
        refused_at_ms.push_back(std::chrono::duration_cast<milliseconds>(clock.Steady() - start).count());
      }
    });
  }
  sched.Advance(milliseconds(12000));
  EXPECT_EQ(served + static_cast<int>(refused_at_ms.size()), 100);
  for (int64_t t : refused_at_ms) EXPECT_EQ(t, 0) << "a call was queued, then refused at " << t << " ms";
  EXPECT_GE(served, 90);  // and the estimate is not so cautious that it refuses what it could serve
}

TEST_F(LimiterTest, NoTrailingSecondExceedsTheBudget) {
  // A bucket allowed to save 5 tokens would grant 5 + 10 within the first second: the sliding
  // window keeps every trailing second at 10 (what a strict exchange counts).
  RateLimiter rl(sched, Opts(10, 5));
  std::vector<SteadyTime> grants;
  for (int i = 0; i < 40; ++i) {
    rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(10000)), "q", [&](absl::Status s) {
      ASSERT_TRUE(s.ok()) << s;
      grants.push_back(clock.Steady());
    });
  }
  sched.Advance(milliseconds(6000));
  ASSERT_EQ(grants.size(), 40u);
  for (size_t i = 10; i < grants.size(); ++i) {
    EXPECT_GT(grants[i] - grants[i - 10], milliseconds(1000)) << "11 grants within one second at " << i;
  }
  EXPECT_EQ(grants[4], grants[0]);  // the saved burst still goes out at once
}

TEST_F(LimiterTest, LanesServeCancelThenPlaceThenQuery) {
  RateLimiter rl(sched, Opts(10, 1));
  std::vector<std::string> order;
  auto rec = [&](std::string tag) { return [&order, tag](absl::Status s) { if (s.ok()) order.push_back(tag); }; };
  rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(5000)), "first", rec("first"));  // takes the token
  rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(5000)), "q1", rec("q1"));
  rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(5000)), "q2", rec("q2"));
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(5000)), "p1", rec("p1"));
  rl.Acquire(Bucket::kPrivate, Lane::kCancel, In(milliseconds(5000)), "c1", rec("c1"));
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(5000)), "p2", rec("p2"));
  sched.Advance(milliseconds(1000));
  EXPECT_EQ(order, (std::vector<std::string>{"first", "c1", "p1", "p2", "q1", "q2"}));
}

TEST_F(LimiterTest, AWaiterWhoseCallerWentIsWithdrawnAndItsTokenGoesToTheNext) {
  RateLimiter rl(sched, Opts(10, 1));
  std::vector<std::pair<std::string, int64_t>> granted;  // (tag, ms since start)
  std::vector<absl::Status> withdrawn;
  const auto start = clock.Steady();
  auto rec = [&](std::string tag) {
    return [&, tag](absl::Status s) {
      if (s.ok()) {
        granted.emplace_back(tag, std::chrono::duration_cast<milliseconds>(clock.Steady() - start).count());
      } else {
        withdrawn.push_back(s);
      }
    };
  };
  bool gone = false;
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(5000)), "first", rec("first"));  // takes the token
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(5000)), "place_order", rec("leaver"),
             [&gone] { return gone; });
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(5000)), "next", rec("next"));
  EXPECT_EQ(rl.State(Bucket::kPrivate).queued[static_cast<size_t>(Lane::kPlace)], 2u);
  gone = true;  // the caller cancels while its request waits
  sched.Advance(milliseconds(1000));
  ASSERT_EQ(granted.size(), 2u);
  EXPECT_EQ(granted[1].first, "next");
  EXPECT_NEAR(static_cast<double>(granted[1].second), 100, 1);  // the token the leaver would have had
  ASSERT_EQ(withdrawn.size(), 1u);
  EXPECT_EQ(withdrawn[0].code(), absl::StatusCode::kCancelled);
  EXPECT_NE(withdrawn[0].message().find("place_order withdrawn before it was sent"), std::string::npos)
      << withdrawn[0];
  EXPECT_EQ(rl.State(Bucket::kPrivate).queued_granted, 1u);

  // A caller already gone when it asks takes nothing, even with a token free.
  sched.Advance(milliseconds(1000));
  const double tokens = rl.State(Bucket::kPrivate).tokens;
  rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(5000)), "q", rec("late"), [] { return true; });
  EXPECT_EQ(withdrawn.size(), 2u);
  EXPECT_EQ(rl.State(Bucket::kPrivate).tokens, tokens);
  EXPECT_EQ(granted.size(), 2u);
}

TEST_F(LimiterTest, FailsFastWhenNoTokenBeforeDeadline) {
  RateLimiter rl(sched, Opts(10, 1));
  int ok = 0;
  std::vector<absl::Status> refused;
  auto cb = [&](absl::Status s) { s.ok() ? ++ok : (refused.push_back(s), 0); };
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(1000)), "a", cb);  // immediate
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(150)), "b", cb);   // ready at 100 ms: queued
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(150)), "c", cb);   // ready at 200 ms: refused now
  EXPECT_EQ(ok, 1);
  ASSERT_EQ(refused.size(), 1u);  // refused at once, without waiting for its deadline
  EXPECT_EQ(refused[0].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetExchangeError(refused[0])->reason(), "RATE_LIMITED");
  EXPECT_NE(refused[0].message().find("place"), std::string::npos);
  sched.Advance(milliseconds(200));
  EXPECT_EQ(ok, 2);
}

TEST_F(LimiterTest, KeepsTimeForTheCallAfterTheToken) {
  RateLimiterOptions o = Opts(10, 1);
  o.reserve_after_grant = milliseconds(50);
  RateLimiter rl(sched, o);
  std::vector<absl::Status> out;
  auto cb = [&](absl::Status s) { out.push_back(s); };
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(1000)), "a", cb);  // immediate
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(120)), "b", cb);   // token at 100 ms, 20 ms left: no
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(260)), "c", cb);   // token at 100 ms, 160 ms left
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(out[1].code(), absl::StatusCode::kResourceExhausted);
  sched.Advance(milliseconds(150));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[2].ok());
}

TEST_F(LimiterTest, HigherPriorityArrivalEvictsAWaiterThatCanNoLongerMakeIt) {
  RateLimiter rl(sched, Opts(10, 1));
  std::vector<std::string> events;
  auto cb = [&](std::string tag) {
    return [&events, tag, this](absl::Status s) {
      events.push_back(tag + (s.ok() ? ":ok@" : ":refused@") +
                       std::to_string((clock.Steady().time_since_epoch().count() / 1'000'000) % 100000));
    };
  };
  rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(5000)), "x", cb("x"));
  rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(150)), "q", cb("q"));   // eta 100 ms
  rl.Acquire(Bucket::kPrivate, Lane::kCancel, In(milliseconds(500)), "c", cb("c"));  // jumps ahead: q eta 200 ms
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].rfind("q:refused", 0), 0u) << events[1];
  sched.Advance(milliseconds(300));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].rfind("c:ok", 0), 0u);
}

TEST_F(LimiterTest, ThrottleSlowsDownAndRecovers) {
  RateLimiterOptions o = Opts(10, 1);
  o.recovery_step = milliseconds(1000);
  o.throttle_holdoff = milliseconds(0);  // every answer halves (the holdoff has its own test)
  RateLimiter rl(sched, o);
  rl.OnThrottled(Bucket::kPrivate);
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 5);
  rl.OnThrottled(Bucket::kPrivate);
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 2.5);
  for (int i = 0; i < 5; ++i) rl.OnThrottled(Bucket::kPrivate);
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 1);  // floor: 10% of the budget
  EXPECT_EQ(rl.State(Bucket::kPrivate).throttles, 7u);
  // Other buckets are unaffected.
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kCancel).rate, 10);
  sched.Advance(milliseconds(3000));
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 4);
  sched.Advance(milliseconds(20000));
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 10);
}

// Four requests were in flight when the exchange began refusing: their four throttle answers are
// one episode and halve the rate once (they used to take 10/s to the 1/s floor). An answer after
// the holdoff halves it again; every answer postpones the recovery.
TEST_F(LimiterTest, ThrottleAnswersOfOneEpisodeHalveTheRateOnce) {
  RateLimiterOptions o = Opts(10, 1);  // holdoff: the default 1 s
  RateLimiter rl(sched, o);
  for (int i = 0; i < 4; ++i) {
    rl.OnThrottled(Bucket::kPrivate);
    sched.Advance(milliseconds(100));
  }
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 5);
  EXPECT_EQ(rl.State(Bucket::kPrivate).throttles, 4u);
  sched.Advance(milliseconds(700));  // 1 s after the first answer
  rl.OnThrottled(Bucket::kPrivate);
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 2.5);
  // Recovery counts from the last answer: 10% of the budget per quiet 2 s.
  sched.Advance(milliseconds(1900));
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 2.5);
  sched.Advance(milliseconds(100));
  EXPECT_DOUBLE_EQ(rl.State(Bucket::kPrivate).rate, 3.5);
}

TEST_F(LimiterTest, BoundedQueueAndFailAll) {
  RateLimiterOptions o = Opts(1, 1);
  o.max_queue_per_lane = 3;
  RateLimiter rl(sched, o);
  int ok = 0, refused = 0;
  auto cb = [&](absl::Status s) { s.ok() ? ++ok : ++refused; };
  for (int i = 0; i < 6; ++i) rl.Acquire(Bucket::kBatch, Lane::kPlace, In(milliseconds(60000)), "b", cb);
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(refused, 2);  // 3 queued, 2 over the bound
  rl.FailAll(absl::UnavailableError("shutting down"));
  EXPECT_EQ(refused, 5);
  sched.Advance(milliseconds(5000));
  EXPECT_EQ(ok, 1);
}

// A gate standing for the REST client's HTTP connections: `connections` of them for any request
// and one more for cancels; `used` counts the requests holding one.
struct FakeGate final : SendGate {
  size_t connections = 1;
  size_t used = 0;
  std::vector<Lane> reserved;
  bool Open(Lane lane) const override { return used < connections + (lane == Lane::kCancel ? 1 : 0); }
  void Reserve(Lane lane) override {
    ++used;
    reserved.push_back(lane);
  }
};

// A token is granted only while the gate is open, and the grant reserves the connection: with
// tokens to spare and no connection, calls wait, and a freed connection (Kick) goes to them in
// lane order across buckets (cancel, then place, then query), one call per connection.
TEST_F(LimiterTest, WithAGateATokenIsGrantedOnlyWhenTheRequestCanLeave) {
  RateLimiter rl(sched, Opts(100, 100));
  FakeGate gate;
  gate.used = 1;  // the one connection carries a request the exchange sits on
  rl.set_gate(&gate);
  std::vector<std::string> granted;
  auto acquire = [&](Bucket b, Lane l, const std::string& name) {
    rl.Acquire(b, l, In(milliseconds(5000)), name, [&granted, name](absl::Status s) {
      ASSERT_TRUE(s.ok()) << s;
      granted.push_back(name);
    });
  };
  acquire(Bucket::kPublic, Lane::kQuery, "query");
  acquire(Bucket::kPrivate, Lane::kPlace, "place");
  EXPECT_TRUE(granted.empty()) << "granted with every connection busy";
  acquire(Bucket::kCancel, Lane::kCancel, "cancel");  // the cancels' own connection
  EXPECT_EQ(granted, std::vector<std::string>{"cancel"});
  sched.Advance(milliseconds(1000));  // tokens alone change nothing
  EXPECT_EQ(granted.size(), 1u);
  gate.used = 0;  // both answered
  rl.Kick();
  EXPECT_EQ(granted, (std::vector<std::string>{"cancel", "place"}));  // place before query
  rl.Kick();  // nothing freed: nothing more
  EXPECT_EQ(granted.size(), 2u);
  gate.used = 0;
  rl.Kick();
  EXPECT_EQ(granted, (std::vector<std::string>{"cancel", "place", "query"}));
  EXPECT_EQ(gate.reserved, (std::vector<Lane>{Lane::kCancel, Lane::kPlace, Lane::kQuery}));
  rl.set_gate(nullptr);
}

// A call the gate holds up until its deadline (less the time a call needs after its grant) is
// refused then, RESOURCE_EXHAUSTED and not sent, by the limiter's own timer; one whose deadline is too
// close for even that is refused on arrival.
TEST_F(LimiterTest, ACallNoConnectionFreesForIsRefusedAtItsDeadline) {
  RateLimiterOptions o = Opts(100, 100);
  o.reserve_after_grant = milliseconds(50);
  RateLimiter rl(sched, o);
  FakeGate gate;
  gate.used = 1;
  rl.set_gate(&gate);
  std::optional<absl::Status> late, early;
  const auto start = clock.Steady();
  int64_t refused_after_ms = -1;
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(500)), "place_order", [&](absl::Status s) {
    late = s;
    refused_after_ms = std::chrono::duration_cast<milliseconds>(clock.Steady() - start).count();
  });
  rl.Acquire(Bucket::kPrivate, Lane::kPlace, In(milliseconds(40)), "place_order", [&](absl::Status s) { early = s; });
  ASSERT_TRUE(early.has_value());
  EXPECT_EQ(early->code(), absl::StatusCode::kResourceExhausted) << *early;
  EXPECT_FALSE(late.has_value());
  sched.Advance(milliseconds(1000));
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->code(), absl::StatusCode::kResourceExhausted) << *late;
  EXPECT_NE(late->message().find("no exchange connection free"), std::string::npos) << *late;
  EXPECT_NE(late->message().find("nothing was sent"), std::string::npos) << *late;
  EXPECT_EQ(GetExchangeError(*late)->reason(), "NETWORK");
  EXPECT_GE(refused_after_ms, 440);
  EXPECT_LE(refused_after_ms, 460);
  EXPECT_TRUE(gate.reserved.empty());
  rl.set_gate(nullptr);
}

// Behind a closed gate every waiter is refused for the connection, not only the first in the
// queue: with a burst of 1, the token schedule of a waiter behind one that is kept says "next
// token in 100 ms", but it was the gate that kept the whole queue waiting.
TEST_F(LimiterTest, EveryWaiterHeldUpByTheGateIsRefusedForTheConnection) {
  RateLimiterOptions o = Opts(10, 1);
  o.reserve_after_grant = milliseconds(50);
  RateLimiter rl(sched, o);
  FakeGate gate;
  gate.used = 1;
  rl.set_gate(&gate);
  std::vector<absl::Status> refused;
  for (int i = 0; i < 3; ++i) {
    // The first in the queue waits longest: at the others' deadlines it is still ahead of them.
    rl.Acquire(Bucket::kPrivate, i == 0 ? Lane::kPlace : Lane::kQuery, In(milliseconds(i == 0 ? 900 : 300 + 100 * i)),
               "call", [&](absl::Status s) { refused.push_back(s); });
  }
  EXPECT_TRUE(refused.empty());
  sched.Advance(milliseconds(1000));
  ASSERT_EQ(refused.size(), 3u);
  for (const auto& s : refused) {
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_NE(s.message().find("no exchange connection free"), std::string::npos) << s;
    EXPECT_EQ(GetExchangeError(s)->reason(), "NETWORK") << s;
  }
  // With the gate open, a waiter the token schedule cannot serve in time is refused for the rate.
  gate.used = 0;
  std::vector<absl::Status> paced;
  for (int i = 0; i < 3; ++i) {
    rl.Acquire(Bucket::kPrivate, Lane::kQuery, In(milliseconds(150)), "q", [&](absl::Status s) {
      if (!s.ok()) paced.push_back(s);
      gate.used = 0;  // answered at once
    });
  }
  ASSERT_FALSE(paced.empty());
  EXPECT_EQ(GetExchangeError(paced.back())->reason(), "RATE_LIMITED") << paced.back();
  rl.set_gate(nullptr);
}

}  // namespace
}  // namespace bx::orders
