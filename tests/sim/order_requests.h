// Order requests the simulator's unit tests place (BTCUSDT, one decimal of price).
#pragma once

#include <string>

#include "sim/account.h"

namespace bx::sim::testing {

inline OrderRequest BtcLimit(const std::string& side, const std::string& qty, Dec price,
                             const std::string& effect = "GTC") {
  OrderRequest r;
  r.symbol = "BTCUSDT";
  r.side = side;
  r.order_type = "LIMIT";
  r.qty = qty;
  r.price = price.ToString(1);
  r.effect = effect;
  return r;
}

}  // namespace bx::sim::testing
