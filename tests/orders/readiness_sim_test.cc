// Readiness of the order service while the exchange sits on every HTTP connection, against the
// real simulator and observed through grpc.health.v1 (Watch and Check). Placements the exchange
// executes and answers only seconds later (REST fault `hang`, applied after) hold all
// --http-connections, so the readiness probe, a signed account read, is refused
// RESOURCE_EXHAUSTED for want of a connection ("nothing was sent"). That is a busy replica: it
// stays SERVING while a signed request succeeded within --health-busy-grace, turns NOT_SERVING
// past it, and is SERVING again once the exchange answers. Every wait is a bounded condition wait.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/orders/sim_clients.h"
#include "tests/orders/sim_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::RestingBuy;
using testing::SimHarness;
using testing::WaitUntil;
namespace hv1 = ::grpc::health::v1;
using HS = hv1::HealthCheckResponse;
using PendingPlacement = testing::PendingCall<v1::PlaceOrderRequest, v1::PlaceOrderResponse>;

constexpr const char* kPlacePath = "/api/v1/futures/trade/place_order";
constexpr int kConnections = 4;  // OrdersAppOptions::http_max_connections

// Every status a grpc.health.v1 Watch of the server ("") delivers, in order; cancelled when
// destroyed.
class HealthWatch {
 public:
  explicit HealthWatch(const std::string& address)
      : stub_(hv1::Health::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    reader_ = stub_->Watch(&ctx_, hv1::HealthCheckRequest());
    thread_ = std::thread([this] {
      HS msg;
      while (reader_->Read(&msg)) {
        std::lock_guard<std::mutex> lock(mu_);
        statuses_.push_back(msg.status());
      }
      reader_->Finish();
    });
  }
  ~HealthWatch() {
    ctx_.TryCancel();
    thread_.join();
  }
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  std::vector<HS::ServingStatus> statuses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_;
  }
  HS::ServingStatus last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_.empty() ? HS::UNKNOWN : statuses_.back();
  }

 private:
  std::unique_ptr<hv1::Health::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<HS>> reader_;
  mutable std::mutex mu_;
  std::vector<HS::ServingStatus> statuses_;
  std::thread thread_;
};

HS::ServingStatus Check(const std::string& address) {
  auto stub = hv1::Health::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  HS resp;
  const grpc::Status s = stub->Check(&ctx, hv1::HealthCheckRequest(), &resp);
  return s.ok() ? resp.status() : HS::UNKNOWN;
}

// bitunix_orders_exchange_requests_total of the account read (the probe's endpoint) refused
// locally: no rate-limit token or no free connection.
double AccountReadsRefused(SimHarness& h) {
  for (const auto& family : h.app().registry().Collect()) {
    if (family.name != "bitunix_orders_exchange_requests_total") continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["exchange_endpoint"] == "account" && labels["result"] == "rate_limited") return m.counter.value;
    }
  }
  return 0;
}

int64_t RestCalls(SimHarness& h, const std::string& path) {
  return h.sim().Get("/control/stats")["rest_calls"].value(path, int64_t{0});
}

// Probes every 300 ms that wait at most 500 ms for a connection, a busy grace window of `grace`,
// and placements whose exchange requests may take 20 s (so that the hung ones hold their
// connections until the exchange answers).
SimHarness::Customize Busy(std::chrono::milliseconds grace) {
  return [grace](OrdersAppOptions& o) {
    o.health_interval = 300ms;
    o.health_timeout = 500ms;
    o.health_busy_grace = grace;
    o.rest.request_timeout = 20s;
    o.http_max_connections = kConnections;
  };
}

// True once the private feed is live and its first reads (open orders, positions) have left the
// rate limiter's queue. Otherwise they would wait there, behind the connections the test holds
// and ahead of the probes, which the limiter would then refuse for its token schedule (reason
// RATE_LIMITED) rather than for the connections.
bool Settled(SimHarness& h) {
  if (h.app().private_stream() == nullptr || !h.app().private_stream()->live()) return false;
  size_t waiting = 0;
  h.app().RunOnExecutor([&] {
    for (size_t n : h.app().limiter().State(Bucket::kPrivate).queued) waiting += n;
  });
  return waiting == 0;
}

// Places one resting buy per HTTP connection, each executed by the simulator at once and answered
// `hang` later; returns once the exchange has received all of them (every connection is held).
std::vector<std::unique_ptr<PendingPlacement>> HoldEveryConnection(SimHarness& h, const std::string& prefix,
                                                                   std::chrono::milliseconds hang,
                                                                   std::atomic<int>& answered) {
  EXPECT_TRUE(WaitUntil([&] { return Settled(h); }, 10s)) << "the private feed's first reads still wait";
  const int64_t sent_before = RestCalls(h, kPlacePath);
  h.sim().Control("rest_faults", {{"count", kConnections},
                                  {"kind", "hang"},
                                  {"apply", "after"},
                                  {"hang_ms", hang.count()},
                                  {"path", kPlacePath}});
  std::vector<std::unique_ptr<PendingPlacement>> calls;
  for (int i = 0; i < kConnections; ++i) {
    auto p = std::make_unique<PendingPlacement>();
    p->req = RestingBuy(absl::StrCat(prefix, i));
    p->ctx = h.Ctx(testing::kTradeToken, 30s);
    h.stub().async()->PlaceOrder(p->ctx.get(), &p->req, &p->resp, [q = p.get(), &answered](grpc::Status st) {
      ++answered;
      q->done.set_value(std::move(st));
    });
    calls.push_back(std::move(p));
  }
  EXPECT_TRUE(WaitUntil([&] { return RestCalls(h, kPlacePath) >= sent_before + kConnections; }, 10s))
      << "the placements did not all reach the exchange";
  return calls;
}

void ExpectAllAccepted(SimHarness& h, const std::vector<std::unique_ptr<PendingPlacement>>& calls) {
  for (const auto& c : calls) {
    const grpc::Status st = c->status.get();
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(c->resp.result(), v1::PLACE_RESULT_ACCEPTED) << c->resp.ShortDebugString();
    EXPECT_EQ(h.sim().CountClientId(c->req.client_id()), 1) << c->req.client_id();
  }
}

// With a grace window of 10 s, probes refused for want of a connection while the
// exchange sits on every one keep the replica SERVING, and a caller waiting for a connection is
// refused RESOURCE_EXHAUSTED, reason NETWORK, told that nothing was sent.
TEST(OrdersSimReadiness, ABusyReplicaWhoseSignedRequestsSucceededLatelyStaysServing) {
  SimHarness h;
  h.Start(Busy(10s));  // the default, 3 x 300 ms + 500 ms, would end inside the test
  HealthWatch watch(h.app().grpc_address());
  ASSERT_TRUE(WaitUntil([&] { return watch.last() == HS::SERVING; }, 5s));
  const size_t watched_before = watch.statuses().size();

  std::atomic<int> answered{0};  // before `calls`: their destructors may still wait for callbacks
  const double refused_before = AccountReadsRefused(h);
  const auto calls = HoldEveryConnection(h, "busy-", 5000ms, answered);
  // A caller's account read waits with the probes. Its deadline outlasts a probe's, so it ends up
  // first in the queue, where nothing but the connections holds it (behind another waiter the
  // limiter would refuse it for the token schedule instead).
  testing::PendingCall<v1::GetAccountRequest, v1::GetAccountResponse> caller;
  caller.ctx = h.Ctx(testing::kReadToken, 2s);
  h.stub().async()->GetAccount(caller.ctx.get(), &caller.req, &caller.resp,
                               [&caller](grpc::Status st) { caller.done.set_value(std::move(st)); });
  // Two probes refused for want of a connection, both within the grace window.
  ASSERT_TRUE(WaitUntil([&] { return AccountReadsRefused(h) >= refused_before + 2; }, 5s));
  ASSERT_EQ(caller.status.wait_for(5s), std::future_status::ready);
  const grpc::Status refused = caller.status.get();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_EQ(refused.error_message(),
            "no exchange connection free for account before the call's deadline: every connection is waiting for "
            "the exchange to answer; nothing was sent, retry later");
  EXPECT_EQ(testing::ReadError(*caller.ctx, refused).reason, "NETWORK");
  h.app().RunOnExecutor([] {});  // the last refused probe has been judged
  EXPECT_EQ(answered.load(), 0) << "the exchange answered before the probes were refused";
  EXPECT_EQ(Check(h.app().grpc_address()), HS::SERVING);

  // The exchange answers: the placements are accepted, and readiness never changed.
  ASSERT_TRUE(WaitUntil([&] { return answered.load() == kConnections; }, 15s)) << answered.load() << " answered";
  ExpectAllAccepted(h, calls);
  h.app().RunOnExecutor([] {});
  EXPECT_EQ(Check(h.app().grpc_address()), HS::SERVING);
  const auto statuses = watch.statuses();
  for (size_t i = watched_before; i < statuses.size(); ++i) {
    EXPECT_EQ(statuses[i], HS::SERVING) << "status " << i << " of the watch";
  }
  EXPECT_TRUE(h.app().ready());
}

// Past --health-busy-grace without a signed success, the busy replica is NOT_SERVING (the exchange
// may be gone for good); once the exchange answers again it is SERVING.
TEST(OrdersSimReadiness, BusyPastTheGraceWindowIsNotServingUntilTheExchangeAnswersAgain) {
  SimHarness h;
  h.Start(Busy(1500ms));
  HealthWatch watch(h.app().grpc_address());
  ASSERT_TRUE(WaitUntil([&] { return watch.last() == HS::SERVING; }, 5s));
  const size_t watched_before = watch.statuses().size();

  std::atomic<int> answered{0};  // before `calls`: their destructors may still wait for callbacks
  const double refused_before = AccountReadsRefused(h);
  const auto calls = HoldEveryConnection(h, "stuck-", 6000ms, answered);
  // Probes are refused every ~0.8 s; the first one after the grace window takes the replica out.
  ASSERT_TRUE(WaitUntil([&] { return watch.last() == HS::NOT_SERVING; }, 5s)) << "still serving";
  EXPECT_EQ(answered.load(), 0) << "not serving only after the exchange answered";
  EXPECT_GE(AccountReadsRefused(h), refused_before + 1);
  EXPECT_EQ(Check(h.app().grpc_address()), HS::NOT_SERVING);
  EXPECT_FALSE(h.app().ready());

  // The exchange answers the placements, and the next probe gets a connection and an answer.
  ASSERT_TRUE(WaitUntil([&] { return answered.load() == kConnections; }, 15s)) << answered.load() << " answered";
  ExpectAllAccepted(h, calls);
  ASSERT_TRUE(WaitUntil([&] { return watch.last() == HS::SERVING; }, 5s)) << "not serving after the exchange answered";
  EXPECT_EQ(Check(h.app().grpc_address()), HS::SERVING);
  const auto statuses = watch.statuses();
  const std::vector<HS::ServingStatus> changes(statuses.begin() + static_cast<std::ptrdiff_t>(watched_before),
                                               statuses.end());
  EXPECT_EQ(changes, (std::vector<HS::ServingStatus>{HS::NOT_SERVING, HS::SERVING}));
}

}  // namespace
}  // namespace bx::orders
