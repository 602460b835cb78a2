// The real bitunix-orders binary: --help, refusals at start-up, the JSON ready line, health,
// metrics, a call through it against the real simulator, and a graceful SIGTERM.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "bitunix/orders/v1/orders.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/orders/orders_options.h"
#include "tests/orders/sim_harness.h"
#include "tests/orders/subprocess.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::Subprocess;

std::string Orders() { return BinaryPath("services/orders/bitunix-orders"); }

std::string TempFileWith(const std::string& content) {
  char tmpl[] = "/tmp/orders-bin-XXXXXX";
  int fd = mkstemp(tmpl);
  FILE* f = fdopen(fd, "w");
  std::fputs(content.c_str(), f);
  std::fclose(f);
  return tmpl;
}

TEST(OrdersBinary, HelpListsEveryFlag) {
  auto p = Subprocess::Start({Orders(), "--help"});
  ASSERT_TRUE(p.ok());
  std::string out;
  while (auto line = (*p)->ReadLine(5s)) out += *line + "\n";
  EXPECT_EQ((*p)->Wait(5s), 0);
  for (const auto& spec : OrdersOptionSpecs()) {
    if (spec.other_service.empty()) {
      EXPECT_NE(out.find("--" + spec.name + "="), std::string::npos) << spec.name;
    }
  }
  // Market data's endpoint as a flag is a mistake, and the exit says so.
  auto foreign = Subprocess::Start({Orders(), "--ws-url=ws://127.0.0.1:9/public/"});
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ((*foreign)->Wait(10s), 2);
  EXPECT_NE((*foreign)->Stderr().find("--ws-url is an option of bitunix-marketdata, not of bitunix-orders"),
            std::string::npos)
      << (*foreign)->Stderr();
}

TEST(OrdersBinary, RefusesSecretFlagsAndAnOpenApi) {
  auto flag = Subprocess::Start({Orders(), "--api-secret=s3cr3t-on-the-command-line"});
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ((*flag)->Wait(10s), 2);
  EXPECT_NE((*flag)->Stderr().find("not accepted on the command line"), std::string::npos) << (*flag)->Stderr();
  EXPECT_EQ((*flag)->Stderr().find("s3cr3t-on-the-command-line"), std::string::npos);
  auto open = Subprocess::Start({Orders(), "--grpc-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0"},
                                {"BITUNIX_API_KEY=k", "BITUNIX_API_SECRET=s"});
  ASSERT_TRUE(open.ok());
  EXPECT_EQ((*open)->Wait(10s), 1);
  EXPECT_NE((*open)->Stderr().find("open order API"), std::string::npos) << (*open)->Stderr();
}

TEST(OrdersBinary, ServesAgainstTheSimulatorAndStopsOnSigterm) {
  auto sim = testing::SimProcess::Start(testing::kSimKey, testing::kSimSecret);
  ASSERT_TRUE(sim);
  const std::string tokens = TempFileWith(std::string("bot trade ") + testing::kTradeToken + "\n");
  const std::string secret = TempFileWith(std::string(testing::kSimSecret) + "\n");
  auto p = Subprocess::Start({Orders(), "--grpc-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--mode=paper",
                              "--rest-url=" + sim->rest, "--private-ws-url=" + sim->private_ws,
                              "--auth-tokens-file=" + tokens, "--api-secret-file=" + secret, "--health-interval=500ms",
                              std::string("--busy-poll=") + (testing::TestBusyPoll() ? "true" : "false")},
                             {std::string("BITUNIX_API_KEY=") + testing::kSimKey});
  ASSERT_TRUE(p.ok());
  auto line = (*p)->ReadLine(20s);
  ASSERT_TRUE(line.has_value()) << (*p)->Stderr();
  auto ready = nlohmann::json::parse(*line, nullptr, false);
  ASSERT_TRUE(ready.is_object()) << *line;
  const std::string grpc_addr = ready.value("grpc", "");
  const std::string metrics_addr = ready.value("metrics", "");
  EXPECT_NE(grpc_addr.find("127.0.0.1:"), std::string::npos);
  EXPECT_EQ((*p)->ReadLine(200ms), std::nullopt) << "only one line on stdout";

  auto channel = grpc::CreateChannel(grpc_addr, grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto check = [&](const std::string& service) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    return health->Check(&ctx, req, &resp).ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  };
  EXPECT_TRUE(check("liveness"));
  EXPECT_TRUE(testing::WaitUntil([&] { return check("") && check("bitunix.orders.v1.OrderService"); }, 15s))
      << (*p)->Stderr();

  auto stub = v1::OrderService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + testing::kTradeToken);
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::PlaceOrderResponse placed;
  grpc::Status s = stub->PlaceOrder(&ctx, testing::RestingBuy("bin-1"), &placed);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << (*p)->Stderr();
  EXPECT_EQ(placed.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(sim->CountClientId("bin-1"), 1);

  // Prometheus endpoint.
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  {
    net::HttpClientOptions ho;
    ho.base = *ParseUrl("http://" + metrics_addr);
    auto http = net::MakeBeastHttpClient(ioc, ho);
    net::HttpRequest req;
    req.target = "/metrics";
    auto res = http->SendAndWait(req);
    ASSERT_TRUE(res.status.ok()) << res.status;
    EXPECT_NE(res.response.body.find("bitunix_orders_grpc_requests_total"), std::string::npos);
    EXPECT_NE(res.response.body.find("bitunix_orders_exchange_requests_total"), std::string::npos);
    EXPECT_EQ(res.response.body.find(testing::kSimSecret), std::string::npos);
  }
  work.reset();
  ioc.stop();
  io.join();

  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ((*p)->Terminate(10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  const std::string logs = (*p)->Stderr();
  if (getenv("ORDERS_DEBUG_LOGS")) std::fprintf(stderr, "%s", logs.c_str());
  EXPECT_NE(logs.find("shutting down"), std::string::npos);
  EXPECT_EQ(logs.find(testing::kSimSecret), std::string::npos);
  EXPECT_EQ(logs.find(testing::kSimKey), std::string::npos);
  std::remove(tokens.c_str());
  std::remove(secret.c_str());
}

}  // namespace
}  // namespace bx::orders
