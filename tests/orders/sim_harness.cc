#include "tests/orders/sim_harness.h"

#include <cstdlib>
#include <thread>

#include "google/rpc/status.pb.h"
#include "services/orders/auth.h"

namespace bx::orders::testing {

bool TestBusyPoll() {
  const char* v = std::getenv("BITUNIX_TEST_BUSY_POLL");
  return v != nullptr && std::string(v) == "1";
}

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

OrdersAppOptions SimHarness::BaseOptions() const {
  OrdersAppOptions o;
  o.grpc_addr = "127.0.0.1:0";
  o.rest_url = *ParseUrl(sim_->rest);
  o.private_ws_url = *ParseUrl(sim_->private_ws);
  o.mode = Mode::kPaper;
  o.engine.mode = Mode::kPaper;
  o.api_key = kSimKey;
  o.api_secret = kSimSecret;
  o.tokens = {{"it-trader", Role::kTrading, kTradeToken}, {"it-viewer", Role::kReadOnly, kReadToken}};
  o.health_interval = std::chrono::milliseconds(300);
  o.rules_refresh = std::chrono::seconds(30);
  o.rest.request_timeout = std::chrono::milliseconds(1500);
  o.engine.resolve_reserve = std::chrono::milliseconds(2500);
  // Under the simulator's sliding 10/s window even with its boundary effects.
  o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {8, 1};
  o.private_stream.reconnect = BackoffPolicy{std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.2};
  o.busy_poll = TestBusyPoll();
  return o;
}

void SimHarness::Start(Customize customize, std::vector<std::string> sim_args) {
  sim_ = SimProcess::Start(kSimKey, kSimSecret, sim_args);
  ASSERT_TRUE(sim_);
  OrdersAppOptions o = BaseOptions();
  if (customize) customize(o);
  auto app = OrdersApp::Start(std::move(o));
  ASSERT_TRUE(app.ok()) << app.status();
  app_ = std::move(*app);
  channel_ = grpc::CreateChannel(app_->grpc_address(), grpc::InsecureChannelCredentials());
  stub_ = v1::OrderService::NewStub(channel_);
  ASSERT_TRUE(WaitUntil([this] { return app_->ready(); }, std::chrono::seconds(15)))
      << "the order service never became ready";
}

SimHarness::~SimHarness() {
  if (app_) app_->Shutdown(std::chrono::milliseconds(500));
  app_.reset();
  sim_.reset();
}

std::unique_ptr<grpc::ClientContext> SimHarness::Ctx(const std::string& token, std::chrono::milliseconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

grpc::Status SimHarness::Place(const v1::PlaceOrderRequest& req, v1::PlaceOrderResponse* resp,
                               std::chrono::milliseconds timeout) {
  auto ctx = Ctx(kTradeToken, timeout);
  return stub_->PlaceOrder(ctx.get(), req, resp);
}

v1::PlaceOrderRequest RestingBuy(const std::string& client_id, const std::string& qty, const std::string& price) {
  v1::PlaceOrderRequest r;
  r.set_symbol("BTCUSDT");
  r.set_side(bitunix::common::v1::SIDE_BUY);
  r.set_type(v1::ORDER_TYPE_LIMIT);
  r.set_qty(qty);
  r.set_price(price);
  r.set_client_id(client_id);
  return r;
}

ErrorView ReadError(const grpc::ClientContext& ctx, const grpc::Status& status) {
  ErrorView v;
  const auto& md = ctx.GetServerTrailingMetadata();
  auto get = [&md](const char* key) {
    auto it = md.find(key);
    return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
  };
  v.code = get("x-bitunix-code");
  v.msg = get("x-bitunix-msg");
  v.reason = get("x-gateway-reason");
  google::rpc::Status rich;
  if (rich.ParseFromString(status.error_details()) && rich.details_size() > 0) {
    v.has_detail = rich.details(0).UnpackTo(&v.detail);
  }
  return v;
}

}  // namespace bx::orders::testing
