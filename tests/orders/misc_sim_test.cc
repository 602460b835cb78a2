// Against the real simulator: secrets never reach log output or metrics; the Date-based clock
// skew estimate keeps signed requests inside the exchange's window and gates readiness; rate
// limiting refuses fast and serves cancels first.
#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>

#include <future>
#include <map>
#include <mutex>

#include "tests/orders/sim_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::RestingBuy;
using testing::SimHarness;
using testing::WaitUntil;

TEST(OrdersSimSecrets, KeyAndSecretNeverInLogsErrorsOrMetrics) {
  const std::string kWrongSecret = "wrong-secret-must-not-leak-9a7b";
  ::testing::internal::CaptureStderr();
  std::string metrics_text, errors;
  {
    SimHarness h;
    h.Start();
    v1::PlaceOrderResponse r;
    EXPECT_TRUE(h.Place(RestingBuy("sec-1"), &r).ok());
    EXPECT_TRUE(h.Place(RestingBuy("sec-1"), &r).ok());
    h.sim().Control("rest_faults", {{"count", 1}, {"kind", "reset"}, {"apply", "before"},
                                    {"path", "/api/v1/futures/trade/place_order"}});
    EXPECT_TRUE(h.Place(RestingBuy("sec-2"), &r).ok());
    h.sim().Control("drop_connections", {{"which", "private"}});
    for (const std::string& token : {std::string(""), std::string("bogus-token-0000000000")}) {
      auto ctx = h.Ctx(token);
      grpc::Status s = h.stub().PlaceOrder(ctx.get(), RestingBuy("sec-3"), &r);
      errors += s.error_message();
    }
    {
      auto ctx = h.Ctx();
      grpc::Status s = h.stub().PlaceOrder(ctx.get(), RestingBuy("sec-4", "9", "80000"), &r);
      errors += s.error_message() + s.error_details();
      for (const auto& [k, v] : ctx->GetServerTrailingMetadata()) errors += std::string(v.data(), v.size());
    }
    // A second service with the wrong secret: signature errors and refused logins get logged.
    OrdersAppOptions bad = h.BaseOptions();
    bad.api_secret = kWrongSecret;
    auto wrong = OrdersApp::Start(std::move(bad));
    ASSERT_TRUE(wrong.ok());
    EXPECT_TRUE(WaitUntil([&] { return h.sim().Get("/control/stats").value("logins_failed", 0) >= 1; }, 10s));
    auto channel = grpc::CreateChannel((*wrong)->grpc_address(), grpc::InsecureChannelCredentials());
    auto stub = v1::OrderService::NewStub(channel);
    auto ctx = h.Ctx();
    v1::GetAccountResponse acc;
    grpc::Status s = stub->GetAccount(ctx.get(), v1::GetAccountRequest(), &acc);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();  // 10007: our credentials
    errors += s.error_message() + s.error_details();
    EXPECT_FALSE((*wrong)->ready());
    metrics_text = prometheus::TextSerializer().Serialize(h.app().registry().Collect()) +
                   prometheus::TextSerializer().Serialize((*wrong)->registry().Collect());
    (*wrong)->Shutdown(200ms);
  }
  const std::string logs = ::testing::internal::GetCapturedStderr();
  // The run logged plenty (so the search below means something).
  EXPECT_NE(logs.find("audit"), std::string::npos);
  EXPECT_NE(logs.find("private login refused"), std::string::npos);
  EXPECT_NE(logs.find("placement outcome"), std::string::npos);
  EXPECT_NE(metrics_text.find("bitunix_orders_exchange_requests_total"), std::string::npos);
  for (const std::string& secret : {std::string(testing::kSimSecret), kWrongSecret, std::string(testing::kSimKey),
                                    std::string(testing::kTradeToken)}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "leaked in logs: " << secret;
    EXPECT_EQ(metrics_text.find(secret), std::string::npos) << "leaked in metrics: " << secret;
    EXPECT_EQ(errors.find(secret), std::string::npos) << "leaked in errors: " << secret;
  }
}

TEST(OrdersSimClock, SkewFromDateHeadersKeepsRequestsInsideTheWindow) {
  SimHarness h;
  h.Start([](OrdersAppOptions& o) { o.max_clock_skew = 30s; }, {"--rest-time-window=5s"});
  h.sim().Control("clock_skew", {{"ms", 20000}});
  ASSERT_TRUE(WaitUntil([&] { return std::abs(h.app().skew().OffsetMs() - 20000) < 1500; }, 10s))
      << "estimate " << h.app().skew().OffsetMs();
  // Timestamps now carry the exchange's time: signed calls pass a 5 s window 20 s away.
  v1::PlaceOrderResponse r;
  ASSERT_TRUE(h.Place(RestingBuy("skew-1"), &r).ok());
  EXPECT_EQ(r.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_TRUE(WaitUntil([&] { return h.app().ready(); }, 5s));
  // A clock step: the first request after it is refused for its timestamp, and re-signed once
  // with the corrected estimate; the caller never sees the refusal.
  h.sim().Control("clock_skew", {{"ms", -15000}});
  v1::GetAccountResponse acc;
  grpc::Status s = h.stub().GetAccount(h.Ctx().get(), v1::GetAccountRequest(), &acc);
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(h.Place(RestingBuy("skew-2"), &r).ok());
  EXPECT_EQ(r.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.sim().CountClientId("skew-2"), 1);
  // Beyond the readiness window: not ready, then ready again once the clocks agree.
  h.sim().Control("clock_skew", {{"ms", 45000}});
  EXPECT_TRUE(WaitUntil([&] { return !h.app().ready(); }, 10s));
  h.sim().Control("clock_skew", {{"ms", 0}});
  EXPECT_TRUE(WaitUntil([&] { return h.app().ready(); }, 10s));
}

// bitunix_orders_rate_limit_acquire_total for one bucket, lane and outcome.
double AcquireCount(SimHarness& h, const std::string& lane, const std::string& outcome) {
  for (const auto& family : h.app().registry().Collect()) {
    if (family.name != "bitunix_orders_rate_limit_acquire_total") continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["bucket"] == "private" && labels["lane"] == lane && labels["outcome"] == outcome) {
        return m.counter.value;
      }
    }
  }
  return 0;
}

TEST(OrdersSimRateLimit, ABusyBudgetDoesNotMakeTheServiceUnready) {
  // Read-only callers use up the private budget; the readiness probe (a query) then finds no
  // token. That is a busy budget, not a gone exchange: the replica stays ready (and so keeps
  // serving its cancels).
  SimHarness h;
  h.Start([](OrdersAppOptions& o) {
    o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {4, 1};
    o.health_interval = 200ms;
  });
  ASSERT_TRUE(WaitUntil([&] { return h.app().ready(); }, 10s));
  std::atomic<int> pending{0}, failed{0};
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<v1::ListOpenOrdersResponse>> outs;
  v1::ListOpenOrdersRequest req;
  for (int i = 0; i < 60; ++i) {
    ctxs.push_back(h.Ctx(testing::kReadToken, 30s));
    outs.push_back(std::make_unique<v1::ListOpenOrdersResponse>());
    ++pending;
    h.stub().async()->ListOpenOrders(ctxs.back().get(), &req, outs.back().get(), [&](grpc::Status s) {
      if (!s.ok()) ++failed;
      --pending;
    });
  }
  // Three probes refused for want of a token while the flood is served.
  const double before = AcquireCount(h, "query", "refused");
  ASSERT_TRUE(WaitUntil([&] { return AcquireCount(h, "query", "refused") >= before + 3; }, 10s));
  EXPECT_TRUE(h.app().ready());
  EXPECT_GT(pending.load(), 0);  // the flood was still queued when the probes were refused
  for (auto& c : ctxs) c->TryCancel();
  ASSERT_TRUE(WaitUntil([&] { return pending.load() == 0; }, 15s));
}

TEST(OrdersSimRateLimit, RefusesFastAndServesCancelsFirst) {
  SimHarness h;
  h.Start([](OrdersAppOptions& o) {
    o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {2, 1};
    o.health_interval = 60s;  // keep the bucket to the test's calls
  });
  // A call that cannot get a token before its deadline is refused at once, not at its deadline.
  std::mutex mu;
  std::vector<std::string> completed;
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<v1::GetAccountResponse>> accs;
  std::atomic<int> pending{0};
  const v1::GetAccountRequest account_req;
  for (int i = 0; i < 5; ++i) {
    ctxs.push_back(h.Ctx(testing::kTradeToken, 10s));
    accs.push_back(std::make_unique<v1::GetAccountResponse>());
    ++pending;
    h.stub().async()->GetAccount(ctxs.back().get(), &account_req, accs.back().get(),
                                 [&, i](grpc::Status s) {
                                   std::lock_guard<std::mutex> lock(mu);
                                   completed.push_back((s.ok() ? "q" : "q!") + std::to_string(i));
                                   --pending;
                                 });
  }
  // Give the queries time to queue, then a cancel: it overtakes the queued queries.
  ASSERT_TRUE(WaitUntil([&] { std::lock_guard<std::mutex> l(mu); return completed.size() >= 1; }, 5s));
  auto cctx = h.Ctx(testing::kTradeToken, 10s);
  v1::CancelAllOrdersRequest ca;
  ca.set_symbol("BTCUSDT");
  v1::CancelAllOrdersResponse ca_r;
  ++pending;
  h.stub().async()->CancelAllOrders(cctx.get(), &ca, &ca_r, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    completed.push_back(s.ok() ? "cancel" : "cancel!");
    --pending;
  });
  ASSERT_TRUE(WaitUntil([&] { return pending.load() == 0; }, 15s));
  std::lock_guard<std::mutex> lock(mu);
  auto pos = std::find(completed.begin(), completed.end(), "cancel") - completed.begin();
  EXPECT_LE(pos, 2) << "the cancel waited behind the queries";
  for (const auto& c : completed) EXPECT_EQ(c.find('!'), std::string::npos) << c;
  // Now a burst with a short deadline: refused fast with RESOURCE_EXHAUSTED.
  const auto t0 = std::chrono::steady_clock::now();
  int refused = 0;
  for (int i = 0; i < 4; ++i) {
    auto ctx = h.Ctx(testing::kTradeToken, 300ms);
    v1::GetAccountResponse acc;
    grpc::Status s = h.stub().GetAccount(ctx.get(), v1::GetAccountRequest(), &acc);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_EQ(testing::ReadError(*ctx, s).reason, "RATE_LIMITED");
    }
  }
  EXPECT_GE(refused, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
}

TEST(OrdersSimRateLimit, AnOrderCancelledWhileItWaitsForATokenIsNeverSent) {
  SimHarness h;
  h.Start([](OrdersAppOptions& o) {
    o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {1, 1};
    o.health_interval = 60s;  // keep the bucket to the test's calls
  });
  auto queued_places = [&h] {
    size_t n = 0;
    h.app().RunOnExecutor([&] { n = h.app().limiter().State(Bucket::kPrivate).queued[static_cast<size_t>(Lane::kPlace)]; });
    return n;
  };
  v1::PlaceOrderResponse first;
  {
    grpc::Status s = h.Place(RestingBuy("wd-first"), &first);  // takes the second's token
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // The second order waits about a second for its token; its caller gives up meanwhile.
  auto ctx = h.Ctx(testing::kTradeToken, 10s);
  const v1::PlaceOrderRequest leaver = RestingBuy("wd-leaver");
  v1::PlaceOrderResponse leaver_r;
  std::promise<grpc::Status> leaver_done;
  h.stub().async()->PlaceOrder(ctx.get(), &leaver, &leaver_r,
                               [&leaver_done](grpc::Status s) { leaver_done.set_value(s); });
  ASSERT_TRUE(WaitUntil([&] { return queued_places() == 1; }, 5s));
  ctx->TryCancel();
  EXPECT_EQ(leaver_done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  // The next order gets the token the leaver would have used, and the leaver never reaches the
  // exchange.
  v1::PlaceOrderResponse next;
  {
    grpc::Status s = h.Place(RestingBuy("wd-next"), &next);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(next.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.sim().CountClientId("wd-leaver"), 0);
  EXPECT_EQ(h.sim().CountClientId("wd-next"), 1);
  EXPECT_EQ(queued_places(), 0u);
  // Nothing was sent, so the client id is free: the same order placed again goes out once.
  v1::PlaceOrderResponse again;
  {
    grpc::Status s = h.Place(RestingBuy("wd-leaver"), &again, 10s);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(again.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.sim().CountClientId("wd-leaver"), 1);
  // Withdrawn, as the metrics tell.
  double withdrawn = 0;
  for (const auto& family : h.app().registry().Collect()) {
    if (family.name != "bitunix_orders_rate_limit_acquire_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "outcome" && l.value == "withdrawn") withdrawn += m.counter.value;
      }
    }
  }
  EXPECT_EQ(withdrawn, 1);
}

// A second caller resubmits the same client id while the first attempt waits for its token (a
// client retrying after its connection dropped). The first caller leaving must not withdraw the
// order the second one still waits for.
TEST(OrdersSimRateLimit, APlacementIsWithdrawnOnlyWhenEveryCallerWaitingForItHasGone) {
  SimHarness h;
  h.Start([](OrdersAppOptions& o) {
    o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {1, 1};
    o.health_interval = 60s;
  });
  auto queued_places = [&h] {
    size_t n = 0;
    h.app().RunOnExecutor([&] { n = h.app().limiter().State(Bucket::kPrivate).queued[static_cast<size_t>(Lane::kPlace)]; });
    return n;
  };
  v1::PlaceOrderResponse first;
  ASSERT_TRUE(h.Place(RestingBuy("sh-first"), &first).ok());
  const v1::PlaceOrderRequest shared = RestingBuy("sh-shared");
  auto ctx1 = h.Ctx(testing::kTradeToken, 10s);
  v1::PlaceOrderResponse r1;
  std::promise<grpc::Status> done1;
  h.stub().async()->PlaceOrder(ctx1.get(), &shared, &r1, [&done1](grpc::Status s) { done1.set_value(s); });
  ASSERT_TRUE(WaitUntil([&] { return queued_places() == 1; }, 5s));
  // The same order again, from a second call: it waits for the attempt already queued.
  auto ctx2 = h.Ctx(testing::kTradeToken, 10s);
  v1::PlaceOrderResponse r2;
  std::promise<grpc::Status> done2;
  h.stub().async()->PlaceOrder(ctx2.get(), &shared, &r2, [&done2](grpc::Status s) { done2.set_value(s); });
  double dedupes = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        dedupes = 0;
        for (const auto& family : h.app().registry().Collect()) {
          if (family.name == "bitunix_orders_dedupe_hits_total") {
            for (const auto& m : family.metric) dedupes += m.counter.value;
          }
        }
        return dedupes >= 1;
      },
      5s));
  ctx1->TryCancel();
  EXPECT_EQ(done1.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  const grpc::Status s2 = done2.get_future().get();
  ASSERT_TRUE(s2.ok()) << s2.error_message();
  EXPECT_EQ(r2.client_id(), "sh-shared");
  EXPECT_FALSE(r2.order_id().empty());
  EXPECT_EQ(h.sim().CountClientId("sh-shared"), 1);
}

// Cancels reduce risk: a cancel-all whose caller leaves while it waits for its token (a kill
// switch that fires and exits) still goes out.
TEST(OrdersSimRateLimit, ACancelWhoseCallerLeftWhileQueuedStillGoesOut) {
  SimHarness h;
  h.Start([](OrdersAppOptions& o) {
    o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {1, 1};
    o.health_interval = 60s;
  });
  v1::PlaceOrderResponse placed;
  ASSERT_TRUE(h.Place(RestingBuy("ks-1"), &placed).ok());
  // cancel_all_orders shares the private budget: the placement took this second's token.
  v1::CancelAllOrdersRequest ca;
  ca.set_symbol("BTCUSDT");
  v1::CancelAllOrdersResponse ca_r;
  auto ctx = h.Ctx(testing::kTradeToken, 10s);
  std::promise<grpc::Status> done;
  h.stub().async()->CancelAllOrders(ctx.get(), &ca, &ca_r, [&done](grpc::Status s) { done.set_value(s); });
  ASSERT_TRUE(WaitUntil(
      [&] {
        size_t n = 0;
        h.app().RunOnExecutor([&] { n = h.app().limiter().State(Bucket::kPrivate).queued[static_cast<size_t>(Lane::kCancel)]; });
        return n == 1;
      },
      5s));
  ctx->TryCancel();
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  // The cancel still reaches the exchange: the order ends up cancelled.
  EXPECT_TRUE(WaitUntil(
      [&] {
        v1::GetOrderRequest get;
        get.mutable_order()->set_client_id("ks-1");
        v1::GetOrderResponse got;
        return h.stub().GetOrder(h.Ctx().get(), get, &got).ok() && got.order().status() == v1::ORDER_STATUS_CANCELED;
      },
      10s));
}

}  // namespace
}  // namespace bx::orders
