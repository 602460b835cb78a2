// The shared server wiring: port 0, health (readiness + liveness), reflection, graceful shutdown.
#include "common/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace bx {
namespace {

grpc::health::v1::HealthCheckResponse::ServingStatus Check(const std::string& addr, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status status = stub->Check(&ctx, req, &resp);
  if (!status.ok()) return grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN;
  return resp.status();
}

TEST(GrpcServer, PortZeroHealthAndShutdown) {
  auto server = GrpcServer::Start({.address = "127.0.0.1:0", .health_service_names = {"test.v1.Svc"}});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string addr = (*server)->address();
  EXPECT_NE(addr, "127.0.0.1:0");
  using HS = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(Check(addr, kLivenessService), HS::SERVING);
  EXPECT_EQ(Check(addr, ""), HS::NOT_SERVING);
  (*server)->SetReady(true);
  EXPECT_EQ(Check(addr, ""), HS::SERVING);
  EXPECT_EQ(Check(addr, "test.v1.Svc"), HS::SERVING);
  (*server)->SetReady(false);
  EXPECT_EQ(Check(addr, "test.v1.Svc"), HS::NOT_SERVING);
  auto start = std::chrono::steady_clock::now();
  (*server)->Shutdown(std::chrono::milliseconds(500));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(GrpcServer, RejectsBadAddress) {
  EXPECT_FALSE(GrpcServer::Start({.address = "nohost"}).ok());
}

TEST(MetricsServer, BindsPortZero) {
  auto m = MetricsServer::Start("127.0.0.1:0");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NE((*m)->address(), "127.0.0.1:0");
  EXPECT_TRUE((*m)->registry());
}

}  // namespace
}  // namespace bx
