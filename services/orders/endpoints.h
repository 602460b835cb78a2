// The exchange endpoints the order service calls, with their rate-limit bucket and priority lane
// (shared/bitunix-api.md section 3).
#pragma once

#include <string_view>

namespace bx::orders {

/// Which documented budget a call draws from.
enum class Bucket {
  kPublic = 0,   ///< public market endpoints: 10/s per IP
  kPrivate = 1,  ///< account, queries, place, modify, cancel_all, change_*: 10/s per UID
  kCancel = 2,   ///< cancel_orders, flash_close_position: 5/s per UID
  kBatch = 3,    ///< batch_order: 1/s per UID (the stricter of two documented limits)
};
inline constexpr int kBucketCount = 4;

/// Priority inside a bucket: cancels before new orders before queries.
enum class Lane { kCancel = 0, kPlace = 1, kQuery = 2 };
inline constexpr int kLaneCount = 3;

std::string_view BucketName(Bucket b);
std::string_view LaneName(Lane l);

struct Endpoint {
  const char* name;  ///< short name for metrics and logs, e.g. "place_order"
  const char* path;
  bool post = false;
  bool is_signed = true;
  Bucket bucket = Bucket::kPrivate;
  Lane lane = Lane::kQuery;
  /// Safe to repeat: reads. Never true for anything that places, modifies or moves money.
  bool idempotent = false;
};

namespace ep {
// Public.
inline constexpr Endpoint kTradingPairs{"trading_pairs", "/api/v1/futures/market/trading_pairs", false, false,
                                        Bucket::kPublic, Lane::kQuery, true};
// Account.
inline constexpr Endpoint kAccount{"account", "/api/v1/futures/account", false, true, Bucket::kPrivate,
                                   Lane::kQuery, true};
inline constexpr Endpoint kGetLeverageMarginMode{"get_leverage_margin_mode",
                                                 "/api/v1/futures/account/get_leverage_margin_mode", false, true,
                                                 Bucket::kPrivate, Lane::kQuery, true};
inline constexpr Endpoint kChangeLeverage{"change_leverage", "/api/v1/futures/account/change_leverage", true, true,
                                          Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kChangeMarginMode{"change_margin_mode", "/api/v1/futures/account/change_margin_mode", true,
                                            true, Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kChangePositionMode{"change_position_mode",
                                              "/api/v1/futures/account/change_position_mode", true, true,
                                              Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kAdjustPositionMargin{"adjust_position_margin",
                                                "/api/v1/futures/account/adjust_position_margin", true, true,
                                                Bucket::kPrivate, Lane::kPlace, false};
// Trading.
inline constexpr Endpoint kPlaceOrder{"place_order", "/api/v1/futures/trade/place_order", true, true,
                                      Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kBatchOrder{"batch_order", "/api/v1/futures/trade/batch_order", true, true,
                                      Bucket::kBatch, Lane::kPlace, false};
inline constexpr Endpoint kCancelOrders{"cancel_orders", "/api/v1/futures/trade/cancel_orders", true, true,
                                        Bucket::kCancel, Lane::kCancel, false};
inline constexpr Endpoint kCancelAllOrders{"cancel_all_orders", "/api/v1/futures/trade/cancel_all_orders", true,
                                           true, Bucket::kPrivate, Lane::kCancel, false};
inline constexpr Endpoint kModifyOrder{"modify_order", "/api/v1/futures/trade/modify_order", true, true,
                                       Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kFlashClosePosition{"flash_close_position", "/api/v1/futures/trade/flash_close_position",
                                              true, true, Bucket::kCancel, Lane::kCancel, false};
inline constexpr Endpoint kCloseAllPosition{"close_all_position", "/api/v1/futures/trade/close_all_position", true,
                                            true, Bucket::kPrivate, Lane::kCancel, false};
// Queries.
inline constexpr Endpoint kGetOrderDetail{"get_order_detail", "/api/v1/futures/trade/get_order_detail", false,
                                          true, Bucket::kPrivate, Lane::kQuery, true};
inline constexpr Endpoint kGetPendingOrders{"get_pending_orders", "/api/v1/futures/trade/get_pending_orders",
                                            false, true, Bucket::kPrivate, Lane::kQuery, true};
inline constexpr Endpoint kGetHistoryOrders{"get_history_orders", "/api/v1/futures/trade/get_history_orders",
                                            false, true, Bucket::kPrivate, Lane::kQuery, true};
inline constexpr Endpoint kGetHistoryTrades{"get_history_trades", "/api/v1/futures/trade/get_history_trades",
                                            false, true, Bucket::kPrivate, Lane::kQuery, true};
inline constexpr Endpoint kGetPendingPositions{"get_pending_positions",
                                               "/api/v1/futures/position/get_pending_positions", false, true,
                                               Bucket::kPrivate, Lane::kQuery, true};
inline constexpr Endpoint kGetHistoryPositions{"get_history_positions",
                                               "/api/v1/futures/position/get_history_positions", false, true,
                                               Bucket::kPrivate, Lane::kQuery, true};
// TP/SL.
inline constexpr Endpoint kTpslPlaceOrder{"tpsl_place_order", "/api/v1/futures/tpsl/place_order", true, true,
                                          Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kTpslPositionPlaceOrder{"tpsl_position_place_order",
                                                  "/api/v1/futures/tpsl/position/place_order", true, true,
                                                  Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kTpslModifyOrder{"tpsl_modify_order", "/api/v1/futures/tpsl/modify_order", true, true,
                                           Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kTpslPositionModifyOrder{"tpsl_position_modify_order",
                                                   "/api/v1/futures/tpsl/position/modify_order", true, true,
                                                   Bucket::kPrivate, Lane::kPlace, false};
inline constexpr Endpoint kTpslCancelOrder{"tpsl_cancel_order", "/api/v1/futures/tpsl/cancel_order", true, true,
                                           Bucket::kPrivate, Lane::kCancel, false};
inline constexpr Endpoint kTpslPendingOrders{"tpsl_get_pending_orders", "/api/v1/futures/tpsl/get_pending_orders",
                                             false, true, Bucket::kPrivate, Lane::kQuery, true};
inline constexpr Endpoint kTpslHistoryOrders{"tpsl_get_history_orders", "/api/v1/futures/tpsl/get_history_orders",
                                             false, true, Bucket::kPrivate, Lane::kQuery, true};
/// Every endpoint above (metrics pre-create their series from it; a unit test counts it against
/// the declarations in this file).
inline constexpr const Endpoint* kAll[] = {
    &kTradingPairs,
    &kAccount,
    &kGetLeverageMarginMode,
    &kChangeLeverage,
    &kChangeMarginMode,
    &kChangePositionMode,
    &kAdjustPositionMargin,
    &kPlaceOrder,
    &kBatchOrder,
    &kCancelOrders,
    &kCancelAllOrders,
    &kModifyOrder,
    &kFlashClosePosition,
    &kCloseAllPosition,
    &kGetOrderDetail,
    &kGetPendingOrders,
    &kGetHistoryOrders,
    &kGetHistoryTrades,
    &kGetPendingPositions,
    &kGetHistoryPositions,
    &kTpslPlaceOrder,
    &kTpslPositionPlaceOrder,
    &kTpslModifyOrder,
    &kTpslPositionModifyOrder,
    &kTpslCancelOrder,
    &kTpslPendingOrders,
    &kTpslHistoryOrders};
}  // namespace ep

}  // namespace bx::orders
