// gRPC server TLS and mTLS: certificates made at test time (never committed) with the openssl CLI.
// A client with a certificate from the configured CA is authenticated by it; one without cannot
// even connect; a token still identifies its holder over TLS.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/orders/sim_harness.h"
#include "tests/orders/test_pki.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::RestingBuy;
using testing::SimHarness;
using testing::TestPki;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}


std::shared_ptr<grpc::Channel> TlsChannel(const std::string& addr, const TestPki& pki, const std::string& cert,
                                          const std::string& key) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = Slurp(pki.ca_cert);
  if (!cert.empty()) {
    o.pem_cert_chain = Slurp(cert);
    o.pem_private_key = Slurp(key);
  }
  return grpc::CreateChannel(addr, grpc::SslCredentials(o));
}

TEST(OrdersSimTls, MutualTlsAuthenticatesByCertificate) {
  TestPki pki(/*with_client_certs=*/true);
  ASSERT_TRUE(pki.ok);
  char tmpl[] = "/tmp/orders-audit-tls-XXXXXX";
  close(mkstemp(tmpl));
  const std::string audit = tmpl;
  SimHarness h;
  h.sim_ = testing::SimProcess::Start(testing::kSimKey, testing::kSimSecret);
  ASSERT_TRUE(h.sim_);
  OrdersAppOptions o = h.BaseOptions();
  o.tokens = {{"it-viewer", Role::kReadOnly, testing::kReadToken}};
  o.tls_cert_file = pki.server_cert;
  o.tls_key_file = pki.server_key;
  o.client_ca_file = pki.ca_cert;
  o.auth.mtls_role = Role::kTrading;
  o.audit_file = audit;
  auto app = OrdersApp::Start(std::move(o));
  ASSERT_TRUE(app.ok()) << app.status();
  h.app_ = std::move(*app);
  ASSERT_TRUE(testing::WaitUntil([&] { return h.app_->ready(); }, 15s));

  auto good = v1::OrderService::NewStub(TlsChannel(h.app_->grpc_address(), pki, pki.client_cert, pki.client_key));
  v1::PlaceOrderResponse r;
  grpc::ClientContext c1;
  c1.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::Status s = good->PlaceOrder(&c1, RestingBuy("mtls-1"), &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.sim().CountClientId("mtls-1"), 1);
  // A read-only token over the same verified connection identifies (and limits) its holder.
  grpc::ClientContext c2;
  c2.AddMetadata("authorization", std::string("Bearer ") + testing::kReadToken);
  EXPECT_EQ(good->PlaceOrder(&c2, RestingBuy("mtls-2"), &r).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  for (const auto& [cert, key] : {std::pair<std::string, std::string>{"", ""}, {pki.other_cert, pki.other_key}}) {
    auto bad = v1::OrderService::NewStub(TlsChannel(h.app_->grpc_address(), pki, cert, key));
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + 3s);
    v1::GetAccountResponse acc;
    grpc::Status st = bad->GetAccount(&c, v1::GetAccountRequest(), &acc);
    EXPECT_FALSE(st.ok()) << "a client without a trusted certificate got through";
    EXPECT_NE(st.error_code(), grpc::StatusCode::OK);
  }
  // Plaintext clients cannot talk to a TLS server at all.
  auto plain = v1::OrderService::NewStub(grpc::CreateChannel(h.app_->grpc_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext c3;
  c3.set_deadline(std::chrono::system_clock::now() + 3s);
  v1::GetAccountResponse acc;
  EXPECT_FALSE(plain->GetAccount(&c3, v1::GetAccountRequest(), &acc).ok());
  h.app_->Shutdown(200ms);
  const std::string lines = Slurp(audit);
  std::remove(audit.c_str());
  EXPECT_NE(lines.find(R"("caller":"mtls:)"), std::string::npos) << lines;
  EXPECT_NE(lines.find("grid-bot-7"), std::string::npos) << lines;
  EXPECT_NE(lines.find(R"("caller":"it-viewer")"), std::string::npos) << lines;
}

}  // namespace
}  // namespace bx::orders
