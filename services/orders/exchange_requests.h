// Proto requests -> exchange request bodies and query parameters (shared/bitunix-api.md §3).
// Bodies are serialised once here; those exact bytes are signed and sent.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitunix/orders/v1/orders.pb.h"
#include "common/signing.h"

namespace bx::orders {

namespace v1 = ::bitunix::orders::v1;
using OrderedJson = nlohmann::ordered_json;

/// One place_order object (also a batch_order item). `symbol` already normalised.
OrderedJson PlaceOrderObject(const v1::PlaceOrderRequest& req, const std::string& symbol,
                             const std::string& client_id);
std::string BatchOrderBody(const std::string& symbol, const std::vector<OrderedJson>& items);
std::string CancelOrdersBody(const std::string& symbol, const std::vector<v1::OrderRef>& refs);
std::string CancelAllOrdersBody(const std::string& symbol);
std::string ModifyOrderBody(const v1::ModifyOrderRequest& req, const std::string& symbol);
std::string ChangeLeverageBody(const std::string& symbol, const std::string& margin_coin, int32_t leverage);
std::string ChangeMarginModeBody(const std::string& symbol, const std::string& margin_coin, v1::MarginMode mode);
std::string ChangePositionModeBody(v1::PositionMode mode);
std::string AdjustPositionMarginBody(const v1::AdjustPositionMarginRequest& req, const std::string& symbol,
                                     const std::string& margin_coin);
std::string FlashCloseBody(const std::string& position_id);
std::string CloseAllPositionsBody(const std::string& symbol);
std::string TpslPlaceBody(const v1::PlaceTpslOrderRequest& req, const std::string& symbol);
std::string TpslModifyBody(const v1::ModifyTpslOrderRequest& req, const std::string& symbol);
std::string TpslCancelBody(const std::string& symbol, const std::string& order_id);

/// "" for 0, else the decimal text.
std::string MsParam(int64_t ms);
/// Page size: 0 -> 100, capped at 100.
std::string LimitParam(uint32_t limit);

}  // namespace bx::orders
