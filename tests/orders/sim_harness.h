// The order service in-process against the real simulator binary (port 0): the integration
// test fixture. Every wait is a bounded condition wait.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "bitunix/orders/v1/orders.grpc.pb.h"
#include "services/orders/orders_app.h"
#include "tests/orders/subprocess.h"

/// Fails the test with the call's gRPC code and message unless the status is OK.
#define ASSERT_GRPC_OK(expr)                                                              \
  do {                                                                                    \
    grpc::Status s_ = (expr);                                                             \
    ASSERT_TRUE(s_.ok()) << #expr << ": " << s_.error_code() << " " << s_.error_message(); \
  } while (0)

namespace bx::orders::testing {

inline constexpr const char* kSimKey = "orders-it-key-7d1e";
inline constexpr const char* kSimSecret = "orders-it-secret-c0ffee-5f1d0a93";
inline constexpr const char* kTradeToken = "trade-token-for-tests-0001";
inline constexpr const char* kReadToken = "read-token-for-tests-00001";

/// True when this run exercises the latency mode: BITUNIX_TEST_BUSY_POLL=1 (CTest registers a
/// subset of the integration tests a second time with it, prefixed "busy_poll:"). Every harness
/// and binary the tests start then runs `--busy-poll`.
bool TestBusyPoll();

/// Waits for `pred` (polling every 10 ms) up to `timeout`.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

class SimHarness {
 public:
  using Customize = std::function<void(OrdersAppOptions&)>;
  /// Starts the simulator, then the order service against it, and waits until it is ready.
  void Start(Customize customize = nullptr, std::vector<std::string> sim_args = {});
  ~SimHarness();

  /// A client context carrying `token` (empty = none) and a deadline.
  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = kTradeToken,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
  v1::OrderService::Stub& stub() { return *stub_; }
  SimProcess& sim() { return *sim_; }
  OrdersApp& app() { return *app_; }
  OrdersAppOptions BaseOptions() const;

  /// PlaceOrder with the trade token.
  grpc::Status Place(const v1::PlaceOrderRequest& req, v1::PlaceOrderResponse* resp,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<OrdersApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::OrderService::Stub> stub_;
};

/// A resting LIMIT buy far below the market (never fills).
v1::PlaceOrderRequest RestingBuy(const std::string& client_id, const std::string& qty = "0.01",
                                 const std::string& price = "20000");

/// The x-bitunix-* trailers and the ExchangeError of a failed call.
struct ErrorView {
  std::string code, msg, reason;
  bitunix::common::v1::ExchangeError detail;
  bool has_detail = false;
};
ErrorView ReadError(const grpc::ClientContext& ctx, const grpc::Status& status);

}  // namespace bx::orders::testing
