// A small in-memory Bitunix futures REST exchange behind the HttpClient interface, for engine
// tests on the manual scheduler: it verifies every signature, keeps orders by client id (30042 on
// a duplicate), and injects faults before or after executing a request.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/net/http_client.h"
#include "services/orders/scheduler.h"

namespace bx::orders::testing {

/// kRefuse: a definitive refusal (20003 insufficient balance), so nothing was executed.
/// kHttp404: a front end that does not know the path (a retired endpoint): HTTP 404, not JSON.
/// kCode404: the exchange's own answer to an unknown path, code 404 with HTTP 200 (captured).
enum class FaultKind { kReset, kHttp500, kHttp429, kCode10005, kHang, kBadJson, kRefuse, kHttp404, kCode404 };

struct Fault {
  std::string path;  ///< "" = any
  FaultKind kind = FaultKind::kReset;
  bool after = false;  ///< execute the request, then lose the reply
  int count = 1;
};

class FakeExchange final : public net::HttpClient {
 public:
  FakeExchange(Scheduler& scheduler, std::string api_key, std::string secret);

  void Send(net::HttpRequest request, net::HttpCallback done) override;
  net::HttpClientStats Stats() const override { return {}; }

  void AddFault(Fault f) { faults_.push_back(f); }
  void ClearFaults() { faults_.clear(); }
  /// Milliseconds added to the Date header relative to the scheduler's wall clock.
  void set_clock_offset_ms(int64_t ms) { clock_offset_ms_ = ms; }
  /// Refuse signed requests whose timestamp is further than this from the exchange clock (0 = off).
  void set_time_window_ms(int64_t ms) { time_window_ms_ = ms; }
  /// Orders placed after this many more successful lookups (exchange lag).
  void set_detail_lag(int lookups) { detail_lag_ = lookups; }
  /// Every reply arrives this long after its request executed (the exchange's state is read
  /// when the request arrives, so a slow reply can be older than a push sent meanwhile).
  void set_reply_delay(std::chrono::milliseconds d) { reply_delay_ = d; }
  /// trading_pairs reports BTCUSDT with this symbolStatus (OPEN by default).
  void set_btc_status(std::string status) { btc_status_ = std::move(status); }
  /// Every order record (detail, pending, history) carries these fields too, replacing its own
  /// (the forms the exchange may report an order in: side, tradeSide, positionId...).
  void set_report_fields(nlohmann::json fields) { report_fields_ = std::move(fields); }
  /// get_pending_positions lists these (the exchange's REST form; empty by default).
  void set_positions(nlohmann::json positions) { positions_ = std::move(positions); }
  /// The order listings (pending, history) ignore `skip`: every page is the first (an exchange
  /// that does not page).
  void set_ignore_skip(bool on) { ignore_skip_ = on; }
  /// The order listings leave `total` out.
  void set_omit_total(bool on) { omit_total_ = on; }
  /// TP/SL orders (the exchange's REST form: id, positionId, symbol, status, ctime, tp*/sl*,
  /// tpQty, slQty, type). get_pending_orders lists those with status NEW as a plain array without
  /// status, ctime and type (as documented), get_history_orders the others ({orderList, total},
  /// `startTime` on ctime); both page with skip and limit (default 10, at most 100) and filter by
  /// symbol and positionId.
  void UpsertTpsl(nlohmann::json t);
  /// The exchange no longer knows this TP/SL order (neither list shows it).
  void ForgetTpsl(const std::string& id);
  /// The exchange no longer knows this order: detail, pending and history lists all miss it
  /// (purged: the history keeps cancelled orders only a few days).
  bool ForgetOrder(const std::string& client_id);
  /// cancel_orders cancels the order with this order or client id but names it in neither list.
  void OmitFromCancelReply(std::string id) { omit_from_cancel_reply_ = std::move(id); }

  struct Order {
    std::string order_id, client_id, symbol, side, type, qty, price, status = "NEW";
  };
  const std::vector<Order>& orders() const { return orders_; }
  /// An order that reached the exchange by another path (a late first attempt).
  void InjectOrder(const std::string& client_id, const std::string& symbol = "BTCUSDT",
                   const std::string& qty = "0.01", const std::string& price = "60000.5",
                   const std::string& side = "BUY");
  /// Changes an order's status on the exchange (a fill or a cancel made elsewhere); false if
  /// no order has that client id.
  bool SetOrderStatus(const std::string& client_id, const std::string& status);
  size_t CountClientId(const std::string& client_id) const;
  int calls(const std::string& path) const;
  int bad_signatures() const { return bad_signatures_; }
  const std::vector<net::HttpRequest>& requests() const { return requests_; }

 private:
  struct Reply {
    int status = 200;
    std::string body;
  };
  Reply Execute(const net::HttpRequest& r);
  Reply PlaceOne(const nlohmann::json& o, nlohmann::json* ack, int* code, std::string* msg);
  bool VerifySignature(const net::HttpRequest& r) const;
  std::string Envelope(int code, const std::string& msg, const nlohmann::json& data) const;
  nlohmann::json OrderJson(const Order& o) const;
  void Deliver(net::HttpCallback done, net::HttpResult result);

  Scheduler& scheduler_;
  std::string api_key_, secret_;
  std::vector<Order> orders_;
  std::deque<Fault> faults_;
  std::map<std::string, int> calls_;
  std::vector<net::HttpRequest> requests_;
  int64_t next_id_ = 1985375080805085184;
  int64_t clock_offset_ms_ = 0;
  int64_t time_window_ms_ = 0;
  int detail_lag_ = 0;
  std::chrono::milliseconds reply_delay_{0};
  std::string omit_from_cancel_reply_;
  std::string btc_status_ = "OPEN";
  nlohmann::json report_fields_ = nlohmann::json::object();
  nlohmann::json positions_ = nlohmann::json::array();
  int bad_signatures_ = 0;
  bool ignore_skip_ = false;
  bool omit_total_ = false;
  std::vector<nlohmann::json> tpsl_;
};

}  // namespace bx::orders::testing
