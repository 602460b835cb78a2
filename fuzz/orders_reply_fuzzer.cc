// Signed-REST replies and private-WebSocket pushes -> the order service's parsers. The same
// parsers read both (a push's `data` items are REST-shaped objects). Properties: ParseJsonExact
// and ParseEnvelope never throw, crash or leak on any body and fail with INVALID_ARGUMENT; every
// object parser accepts any JSON value; every parsed message survives the protobuf round trip a
// gRPC client does (proto3 strings must stay valid UTF-8).
#include <cstdint>

#include "fuzz/fuzz_check.h"
#include "fuzz/proto_check.h"
#include "services/orders/rest_parse.h"

namespace {

namespace o = ::bx::orders;
using bx::fuzz::CheckRoundTrip;
using o::Json;

// Every object parser on one value.
void ParseAll(const Json& j) {
  CheckRoundTrip(o::ParseOrder(j));
  CheckRoundTrip(o::ParsePosition(j));
  if (auto a = o::ParseAccount(j)) {
    CheckRoundTrip(*a);
    CheckRoundTrip(o::BalanceFromAccount(*a));
  }
  CheckRoundTrip(o::ParseFill(j));
  CheckRoundTrip(o::ParseBalance(j));
  CheckRoundTrip(o::ParseTpslOrder(j));
  for (const char* key : {"orderList", "tradeList", "positionList"}) {
    const o::ListPage page = o::ParseListPage(j, key);
    for (const Json* item : page.items) FUZZ_CHECK(item != nullptr, "null list item");
  }
  (void)o::ParseOrderAck(j);
  (void)o::ParseSuccessFailure(j);
  (void)o::ParseTradingPairs(j);
  (void)o::ParseKlines(j);
  (void)o::ParseFunding(j);
  (void)o::ParseUpdateKind(o::GetString(j, "event"));
  (void)o::GetInt(j, "ts");
  (void)o::GetBool(j, "result");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = bx::fuzz::AsText(data, size);
  auto env = o::ParseEnvelope(body);
  if (!env.ok()) {
    FUZZ_CHECK(env.status().code() == absl::StatusCode::kInvalidArgument, "unexpected status %s",
               env.status().ToString().c_str());
  }
  auto json = o::ParseJsonExact(body);
  if (!json.ok()) {
    FUZZ_CHECK(json.status().code() == absl::StatusCode::kInvalidArgument, "unexpected status %s",
               json.status().ToString().c_str());
    return 0;
  }
  // The value itself (a reply's data, a push item) and one level down: a reply's `data` and a
  // push's items.
  ParseAll(*json);
  if (json->is_array() || json->is_object()) {
    for (const auto& child : *json) {
      ParseAll(child);
      if (child.is_array() || child.is_object()) {
        for (const auto& grandchild : child) ParseAll(grandchild);
      }
    }
  }
  return 0;
}
