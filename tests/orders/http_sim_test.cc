// The order service's exchange HTTP client (Beast keep-alive pool) against the real simulator's
// transport behaviours that fakes stood in for so far: gzip-encoded replies (--gzip-replies), and
// the exchange closing idle keep-alive connections between calls (POST /control/close_idle_rest,
// --rest-idle-timeout), over plain HTTP and over https (with and without a TLS close_notify,
// --rest-idle-close), the client verifying the simulator's certificate against a test CA made at
// test time. See docs/ARCHITECTURE.md `## net`, "HTTP pool".
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "tests/orders/sim_harness.h"
#include "tests/orders/test_pki.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::RestingBuy;
using testing::SimHarness;
using testing::TestPki;
using testing::WaitUntil;

constexpr const char* kPlacePath = "/api/v1/futures/trade/place_order";

// A throw-away CA and a certificate it signed for the simulator (IP SAN 127.0.0.1), made with the
// openssl CLI in a temp dir, removed again by the destructor. Never committed.
// The service against the simulator, with its HTTP client in reach (for its Stats()) and no
// background REST traffic (probe and rules refresh an hour apart) to share the pool with the test.
// With `ca_file`, the simulator must serve https and the service verifies it against that CA.
class HttpSim {
 public:
  explicit HttpSim(std::vector<std::string> sim_args, const std::string& ca_file = "") {
    h_.Start(
        [this, ca_file](OrdersAppOptions& o) {
          o.health_interval = 1h;
          o.rules_refresh = 1h;
          o.exchange_tls.ca_file = ca_file;  // empty: the system store (unused over plain HTTP)
          o.http_factory = [this, url = o.rest_url, max = o.http_max_connections,
                            tls = o.exchange_tls](boost::asio::io_context& ioc) {
            net::HttpClientOptions opts;  // as OrdersApp builds it by default
            opts.base = url;
            opts.max_connections = max;
            opts.tls = tls;
            auto client = net::MakeBeastHttpClient(ioc, std::move(opts));
            http_ = client.get();
            return client;
          };
        },
        std::move(sim_args));
  }
  SimHarness& h() { return h_; }
  net::HttpClientStats http() const { return http_->Stats(); }

  /// Every client placement, query and cancel below is followed by these checks.
  void PlaceOnce(const std::string& cid, std::string* order_id) {
    v1::PlaceOrderResponse r;
    ASSERT_GRPC_OK(h_.Place(RestingBuy(cid), &r));
    EXPECT_EQ(r.result(), v1::PLACE_RESULT_ACCEPTED) << cid;
    EXPECT_FALSE(r.order_id().empty());
    EXPECT_EQ(h_.sim().CountClientId(cid), 1) << cid;
    *order_id = r.order_id();
  }
  void GetOrder(const std::string& cid, const std::string& order_id, v1::OrderStatus status) {
    v1::GetOrderRequest get;
    get.mutable_order()->set_client_id(cid);
    v1::GetOrderResponse got;
    ASSERT_GRPC_OK(h_.stub().GetOrder(h_.Ctx().get(), get, &got));
    EXPECT_EQ(got.order().order_id(), order_id);
    EXPECT_EQ(got.order().status(), status);
  }
  void Cancel(const std::string& cid) {
    v1::CancelOrdersRequest cancel;
    cancel.set_symbol("BTCUSDT");
    cancel.add_orders()->set_client_id(cid);
    v1::CancelOrdersResponse r;
    ASSERT_GRPC_OK(h_.stub().CancelOrders(h_.Ctx().get(), cancel, &r));
    ASSERT_EQ(r.results_size(), 1);
    EXPECT_TRUE(r.results(0).accepted()) << r.ShortDebugString();
  }

  int64_t SimStat(const char* name) { return h_.sim().Get("/control/stats")[name].get<int64_t>(); }
  int64_t RestCalls(const std::string& path = "") {
    const nlohmann::json calls = h_.sim().Get("/control/stats")["rest_calls"];
    int64_t n = 0;
    for (const auto& [p, count] : calls.items()) {
      if (path.empty() || p == path) n += count.get<int64_t>();
    }
    return n;
  }
  // bitunix_orders_ambiguous_outcomes_total over every endpoint.
  double Ambiguous() {
    double n = 0;
    for (const auto& family : h_.app().registry().Collect()) {
      if (family.name != "bitunix_orders_ambiguous_outcomes_total") continue;
      for (const auto& m : family.metric) n += m.counter.value;
    }
    return n;
  }

  /// The first REST call `fn` causes opens a fresh connection (every pooled one was closed) and
  /// any further one reuses it; no stale-connection retry.
  void OnFreshConnection(const char* what, const std::function<void()>& fn) {
    const auto before = http();
    const int64_t calls_before = RestCalls();
    fn();
    const auto after = http();
    const int64_t calls = RestCalls() - calls_before;
    EXPECT_GE(calls, 1) << what;
    EXPECT_EQ(after.connects_total, before.connects_total + 1) << what;
    EXPECT_EQ(after.reuses_total, before.reuses_total + static_cast<uint64_t>(calls - 1)) << what;
    EXPECT_EQ(after.retries_total, before.retries_total) << what;
  }

 private:
  SimHarness h_;
  net::HttpClient* http_ = nullptr;  // owned by the app
};

TEST(OrdersSimHttp, GzipRepliesServePlaceQueryAndCancel) {
  HttpSim t({"--gzip-replies"});
  auto& stub = t.h().stub();
  v1::GetAccountResponse acc;
  ASSERT_GRPC_OK(stub.GetAccount(t.h().Ctx().get(), v1::GetAccountRequest(), &acc));
  EXPECT_EQ(acc.account().margin_coin(), "USDT");
  EXPECT_FALSE(acc.account().available().empty());

  std::string id;
  ASSERT_NO_FATAL_FAILURE(t.PlaceOnce("gz-1", &id));
  ASSERT_NO_FATAL_FAILURE(t.GetOrder("gz-1", id, v1::ORDER_STATUS_NEW));
  v1::ListOpenOrdersRequest lo;
  lo.set_symbol("BTCUSDT");
  v1::ListOpenOrdersResponse open;
  ASSERT_GRPC_OK(stub.ListOpenOrders(t.h().Ctx().get(), lo, &open));
  ASSERT_EQ(open.orders_size(), 1);
  EXPECT_EQ(open.orders(0).client_id(), "gz-1");
  ASSERT_NO_FATAL_FAILURE(t.Cancel("gz-1"));
  ASSERT_NO_FATAL_FAILURE(t.GetOrder("gz-1", id, v1::ORDER_STATUS_CANCELED));
  // An exchange error envelope decodes as well: the order is gone.
  v1::GetOrderRequest missing;
  missing.mutable_order()->set_client_id("gz-never-placed");
  v1::GetOrderResponse none;
  EXPECT_EQ(stub.GetOrder(t.h().Ctx().get(), missing, &none).error_code(), grpc::StatusCode::NOT_FOUND);

  // Every REST reply the service read went out gzip-encoded (the startup reads included), so each
  // call above was decoded: nothing passed as identity.
  EXPECT_GE(t.RestCalls(), 7);
  EXPECT_TRUE(WaitUntil([&] { return t.SimStat("gzip_replies_sent") == t.RestCalls(); }, 5s))
      << t.SimStat("gzip_replies_sent") << " gzip replies for " << t.RestCalls() << " REST calls";
}

// The exchange closes the pool's idle connections between calls (like its keep-alive timeout),
// by POST /control/close_idle_rest with `close_body`, six rounds of place / query / cancel. The
// client notices before it writes (the idle watch, or the peek before reuse) and sends on a fresh
// connection: one connect per call, no stale-connection retry, nothing ambiguous, each placement on
// the exchange exactly once. `*closes`: the number of connections closed.
void IdleClosesBetweenCalls(HttpSim& t, const nlohmann::json& close_body, int* closes_out) {
  std::string id;
  ASSERT_NO_FATAL_FAILURE(t.PlaceOnce("idle-warm", &id));
  int& closes = *closes_out = 0;
  // Even rounds call at once (the idle watch or the peek before reuse, whichever runs first, finds
  // the close); odd rounds first wait until the idle watch has dropped the connections.
  auto close_idle = [&](int round) {
    auto r = t.h().sim().Control("close_idle_rest", close_body);
    ASSERT_EQ(r["ok"], true) << r.dump();
    ASSERT_GE(r["closed"].get<int>(), 1) << r.dump();
    ASSERT_EQ(r["busy"], 0) << r.dump();
    closes += r["closed"].get<int>();
    if (round % 2 == 1) {
      ASSERT_TRUE(WaitUntil([&] { return t.http().connections_open == 0; }, 5s));
    }
  };
  for (int round = 0; round < 6; ++round) {
    const std::string cid = "idle-" + std::to_string(round);
    ASSERT_NO_FATAL_FAILURE(close_idle(round));
    t.OnFreshConnection("place", [&] { ASSERT_NO_FATAL_FAILURE(t.PlaceOnce(cid, &id)); });
    ASSERT_NO_FATAL_FAILURE(close_idle(round));
    t.OnFreshConnection("query", [&] { ASSERT_NO_FATAL_FAILURE(t.GetOrder(cid, id, v1::ORDER_STATUS_NEW)); });
    ASSERT_NO_FATAL_FAILURE(close_idle(round));
    t.OnFreshConnection("cancel", [&] { ASSERT_NO_FATAL_FAILURE(t.Cancel(cid)); });
  }
  EXPECT_EQ(t.Ambiguous(), 0);
  EXPECT_EQ(t.RestCalls(kPlacePath), 7);  // each placement sent once
  EXPECT_EQ(t.SimStat("rest_idle_closed"), closes);
}

TEST(OrdersSimHttp, IdleConnectionsClosedByTheExchangeBetweenCalls) {
  HttpSim t({});
  int closes = 0;
  ASSERT_NO_FATAL_FAILURE(IdleClosesBetweenCalls(t, nlohmann::json::object(), &closes));
}

// Over https, the client verifying the simulator's certificate: the exchange's idle closes come
// with a TLS close_notify before the FIN, as fapi.bitunix.com's front servers send one.
TEST(OrdersSimHttp, TlsIdleConnectionsClosedWithCloseNotifyBetweenCalls) {
  TestPki ca;
  ASSERT_TRUE(ca.ok);
  HttpSim t(ca.SimArgs(), ca.ca_cert);
  ASSERT_EQ(t.h().sim().rest.substr(0, 8), "https://");
  int closes = 0;
  ASSERT_NO_FATAL_FAILURE(IdleClosesBetweenCalls(t, {{"mode", "close_notify"}}, &closes));
  // Every close sent its close_notify (counted once written: the last may still be on its way).
  EXPECT_TRUE(WaitUntil([&] { return t.SimStat("rest_close_notify_sent") == closes; }, 5s))
      << t.SimStat("rest_close_notify_sent") << " close_notify for " << closes << " closes";
}

// The same with closes that skip the close_notify: the client reads a truncated TLS stream, which
// after a complete response is no error.
TEST(OrdersSimHttp, TlsIdleConnectionsClosedAbruptlyBetweenCalls) {
  TestPki ca;
  ASSERT_TRUE(ca.ok);
  HttpSim t(ca.SimArgs(), ca.ca_cert);
  ASSERT_EQ(t.h().sim().rest.substr(0, 8), "https://");
  int closes = 0;
  ASSERT_NO_FATAL_FAILURE(IdleClosesBetweenCalls(t, {{"mode", "abrupt"}}, &closes));
  EXPECT_EQ(t.SimStat("rest_close_notify_sent"), 0);
}

// The same through the simulator's own keep-alive timeout: every pooled connection is closed
// while idle, and the next calls go out on fresh ones.
TEST(OrdersSimHttp, ExchangeKeepAliveTimeoutBetweenCalls) {
  HttpSim t({"--rest-idle-timeout=1s"});
  std::string id;
  ASSERT_NO_FATAL_FAILURE(t.PlaceOnce("ka-1", &id));
  ASSERT_TRUE(WaitUntil([&] { return t.http().connections_open == 0; }, 5s))
      << "the pool never saw the exchange close its idle connections";
  EXPECT_GE(t.SimStat("rest_idle_closed"), 1);
  const auto before = t.http();
  ASSERT_NO_FATAL_FAILURE(t.PlaceOnce("ka-2", &id));
  ASSERT_NO_FATAL_FAILURE(t.GetOrder("ka-2", id, v1::ORDER_STATUS_NEW));
  const auto after = t.http();
  EXPECT_GE(after.connects_total, before.connects_total + 1);
  EXPECT_EQ(after.retries_total, before.retries_total);
  EXPECT_EQ(t.Ambiguous(), 0);
  EXPECT_EQ(t.RestCalls(kPlacePath), 2);
}

// Over https through the simulator's own keep-alive timeout, kept short, in both close modes:
// before each call the pool has seen the exchange close its connection, and the call opens exactly
// one fresh one. Every connection the client opened ends that way.
TEST(OrdersSimHttp, TlsExchangeKeepAliveTimeoutBetweenCalls) {
  TestPki ca;
  ASSERT_TRUE(ca.ok);
  for (const std::string mode : {"close_notify", "abrupt"}) {
    SCOPED_TRACE(mode);
    auto args = ca.SimArgs();
    args.push_back("--rest-idle-timeout=500ms");
    args.push_back("--rest-idle-close=" + mode);
    HttpSim t(args, ca.ca_cert);
    auto closed_by_the_exchange = [&] {
      ASSERT_TRUE(WaitUntil([&] { return t.http().connections_open == 0; }, 5s))
          << "the pool never saw the exchange close its idle connections";
    };
    std::string id;
    for (int round = 0; round < 3; ++round) {
      const std::string cid = "ka-" + mode + "-" + std::to_string(round);
      ASSERT_NO_FATAL_FAILURE(closed_by_the_exchange());
      t.OnFreshConnection("place", [&] { ASSERT_NO_FATAL_FAILURE(t.PlaceOnce(cid, &id)); });
      ASSERT_NO_FATAL_FAILURE(closed_by_the_exchange());
      t.OnFreshConnection("query", [&] { ASSERT_NO_FATAL_FAILURE(t.GetOrder(cid, id, v1::ORDER_STATUS_NEW)); });
      ASSERT_NO_FATAL_FAILURE(closed_by_the_exchange());
      t.OnFreshConnection("cancel", [&] { ASSERT_NO_FATAL_FAILURE(t.Cancel(cid)); });
    }
    ASSERT_NO_FATAL_FAILURE(closed_by_the_exchange());
    EXPECT_EQ(t.Ambiguous(), 0);
    EXPECT_EQ(t.RestCalls(kPlacePath), 3);  // each placement sent once
    const auto connects = static_cast<int64_t>(t.http().connects_total);
    EXPECT_EQ(t.SimStat("rest_idle_closed"), connects);
    const int64_t notify = mode == "close_notify" ? connects : 0;
    EXPECT_TRUE(WaitUntil([&] { return t.SimStat("rest_close_notify_sent") == notify; }, 5s))
        << t.SimStat("rest_close_notify_sent") << " close_notify, expected " << notify;
  }
}

}  // namespace
}  // namespace bx::orders
