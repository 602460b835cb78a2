#include "services/orders/errors.h"

#include <gtest/gtest.h>

namespace bx::orders {
namespace {

TEST(ErrorMap, DocumentedCodes) {
  using C = absl::StatusCode;
  EXPECT_EQ(MapExchangeCode(10002), C::kInvalidArgument);
  EXPECT_EQ(MapExchangeCode(10008), C::kInvalidArgument);
  EXPECT_EQ(MapExchangeCode(10007), C::kUnauthenticated);
  EXPECT_EQ(MapExchangeCode(10003), C::kUnauthenticated);
  EXPECT_EQ(MapExchangeCode(10004), C::kPermissionDenied);
  EXPECT_EQ(MapExchangeCode(10005), C::kResourceExhausted);
  EXPECT_EQ(MapExchangeCode(10006), C::kResourceExhausted);
  EXPECT_EQ(MapExchangeCode(20003), C::kFailedPrecondition);
  EXPECT_EQ(MapExchangeCode(20007), C::kNotFound);
  EXPECT_EQ(MapExchangeCode(30042), C::kAlreadyExists);
  EXPECT_EQ(MapExchangeCode(30016), C::kInvalidArgument);
  EXPECT_EQ(MapExchangeCode(30018), C::kFailedPrecondition);
  EXPECT_EQ(MapExchangeCode(10001), C::kUnavailable);
}

TEST(ErrorMap, CapturedUndocumentedCodes) {
  EXPECT_EQ(MapExchangeCode(1), absl::StatusCode::kUnavailable);
  EXPECT_EQ(MapExchangeCode(404), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(MapExchangeCode(777777), absl::StatusCode::kUnknown);
}

TEST(ErrorMap, AmbiguousCodesAreNotDefinitive) {
  for (int code : {1, 10001, 10005, 10006, 777777}) EXPECT_FALSE(IsDefinitiveRejection(code)) << code;
  for (int code : {10002, 10007, 20003, 20007, 30042, 404}) EXPECT_TRUE(IsDefinitiveRejection(code)) << code;
}

TEST(ErrorMap, PayloadRoundTrip) {
  absl::Status s = MakeError(absl::StatusCode::kFailedPrecondition, "Insufficient balance",
                             reason::kExchangeRejected, 20003, "/api/v1/futures/trade/place_order", 200);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  auto d = GetExchangeError(s);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->code(), 20003);
  EXPECT_EQ(d->reason(), "EXCHANGE_REJECTED");
  EXPECT_EQ(d->endpoint(), "/api/v1/futures/trade/place_order");
  EXPECT_EQ(d->http_status(), 200);
  EXPECT_FALSE(GetExchangeError(absl::InternalError("plain")).has_value());
}

}  // namespace
}  // namespace bx::orders
