#include "services/orders/auth.h"

#include <gtest/gtest.h>

#include "google/rpc/status.pb.h"
#include "services/orders/errors.h"
#include "services/orders/grpc_status.h"

namespace bx::orders {
namespace {

constexpr const char* kTokens = R"(# name role token
grid-bot   trade  trade-token-0123456789abcdef
dashboard  read   read-token-0123456789abcdef

)";

TEST(Tokens, ParseNamesRolesAndComments) {
  auto t = ParseTokens(kTokens);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].name, "grid-bot");
  EXPECT_EQ((*t)[0].role, Role::kTrading);
  EXPECT_EQ((*t)[1].role, Role::kReadOnly);
}

TEST(Tokens, BadFilesAreRefusedWithoutEchoingTheToken) {
  for (const char* bad : {"a trade short", "a admin token-0123456789abcdef", "a trade", "a trade x y z",
                          "a trade token-0123456789abcdef\na read token-9999999999999999",
                          "a trade token-0123456789abcdef\nb read token-0123456789abcdef",
                          // Token and role swapped: the role error used to quote the token.
                          "grid-bot token-0123456789abcdef trade",
                          // Token and name swapped: the short-token error used to quote the name.
                          "token-0123456789abcdef trade grid-bot",
                          "token-0123456789abcdef trade grid-bot-0000000001\n"
                          "token-0123456789abcdef read grid-bot-0000000002"}) {
    auto t = ParseTokens(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().message().find("token-0123456789abcdef"), std::string::npos) << t.status();
  }
}

// The file-level rules, at start-up as at a reload: a last line without a newline is read (a
// Secret made with --from-literal has none; a file still being written is the reload's settle
// rule's business), a file must not be empty, and has no tokens only when it says `revoke-all`,
// alone.
TEST(Tokens, AFileMayLackAFinalNewlineAndRevokeAllIsTheOnlyWayToHaveNoTokens) {
  auto literal = TokensFromText("tokens", "a trade token-0123456789abcdef\nb read token-fedcba9876543210");
  ASSERT_TRUE(literal.ok()) << literal.status();
  EXPECT_EQ(literal->tokens.size(), 2u);
  for (const char* none : {"", "\n", "# all gone\n"}) {
    auto t = TokensFromText("tokens", none);
    ASSERT_FALSE(t.ok()) << none;
    EXPECT_NE(t.status().message().find("revoke-all"), std::string::npos) << t.status();
  }
  auto revoke = TokensFromText("tokens", "# incident\n  revoke-all \r\n");
  ASSERT_TRUE(revoke.ok()) << revoke.status();
  EXPECT_TRUE(revoke->tokens.empty());
  auto mixed = TokensFromText("tokens", "revoke-all\na trade token-0123456789abcdef\n");
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().message().find("token-0123456789abcdef"), std::string::npos) << mixed.status();
  bool revoke_all = true;
  ASSERT_TRUE(ParseTokens(kTokens, &revoke_all).ok());
  EXPECT_FALSE(revoke_all);
  auto ok = TokensFromText("tokens", "a trade token-0123456789abcdef\r\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->tokens.size(), 1u);
  EXPECT_EQ(ok->text, "a trade token-0123456789abcdef\r\n");
}

TEST(Authenticator, BearerTokensAndRoles) {
  Authenticator auth(*ParseTokens(kTokens), {});
  auto c = auth.Authenticate("Bearer trade-token-0123456789abcdef", "");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "grid-bot");
  EXPECT_EQ(c->role, Role::kTrading);
  auto r = auth.Authenticate("bearer read-token-0123456789abcdef", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->role, Role::kReadOnly);
  EXPECT_TRUE(Authenticator::Authorize(*r, false, "GetOrder").ok());
  auto denied = Authenticator::Authorize(*r, true, "PlaceOrder");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("read-only"), std::string::npos);
  EXPECT_TRUE(Authenticator::Authorize(*c, true, "PlaceOrder").ok());
}

TEST(Authenticator, ClosedByDefault) {
  Authenticator auth(*ParseTokens(kTokens), {});
  for (const char* bad : {"", "Bearer", "Bearer wrong-token-0123456789abcdef", "Basic dXNlcjpwYXNz",
                          "trade-token-0123456789abcdef", "Bearer trade-token-0123456789abcdeF"}) {
    auto c = auth.Authenticate(bad, "");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_EQ(GetExchangeError(c.status())->reason(), "UNAUTHENTICATED");
  }
  // A peer identity means nothing unless mTLS is on.
  EXPECT_FALSE(auth.Authenticate("", "client-1").ok());
}

TEST(Authenticator, MtlsAndInsecureDevMode) {
  AuthOptions mtls;
  mtls.mtls = true;
  mtls.mtls_role = Role::kReadOnly;
  Authenticator a(*ParseTokens(kTokens), mtls);
  auto c = a.Authenticate("", "bot.example");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "mtls:bot.example");
  EXPECT_EQ(c->role, Role::kReadOnly);
  // A token still identifies (and sets the role) over mTLS.
  EXPECT_EQ(a.Authenticate("Bearer trade-token-0123456789abcdef", "bot.example")->role, Role::kTrading);
  EXPECT_FALSE(a.Authenticate("", "").ok());
  AuthOptions dev;
  dev.insecure_no_auth = true;
  Authenticator open({}, dev);
  EXPECT_EQ(open.Authenticate("", "")->name, "anonymous");
}

TEST(GrpcStatus, DetailsAndTrailersCarryTheExchangeError) {
  absl::Status s = MakeError(absl::StatusCode::kFailedPrecondition, "exchange refused place_order: 20003 Insufficient balance",
                             reason::kExchangeRejected, 20003, "/api/v1/futures/trade/place_order", 200);
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(g.error_message(), std::string(s.message()));
  google::rpc::Status rich;
  ASSERT_TRUE(rich.ParseFromString(g.error_details()));
  EXPECT_EQ(rich.code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  ASSERT_EQ(rich.details_size(), 1);
  bitunix::common::v1::ExchangeError e;
  ASSERT_TRUE(rich.details(0).UnpackTo(&e));
  EXPECT_EQ(e.code(), 20003);
  EXPECT_EQ(e.reason(), "EXCHANGE_REJECTED");
  EXPECT_EQ(e.http_status(), 200);
  EXPECT_EQ(rich.details(0).type_url(), "type.googleapis.com/bitunix.common.v1.ExchangeError");
  // A plain status still gets a detail with a reason.
  grpc::Status plain = ToGrpcStatus(absl::UnavailableError("down"));
  ASSERT_TRUE(rich.ParseFromString(plain.error_details()));
  ASSERT_TRUE(rich.details(0).UnpackTo(&e));
  EXPECT_EQ(e.reason(), "NETWORK");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(MetadataSafe("caf\xc3\xa9\n"), "caf???");
}

}  // namespace
}  // namespace bx::orders
