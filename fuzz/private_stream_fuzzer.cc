// The order service's private stream (PrivateStream) and the order engine behind it, driven by
// anything the private socket can send, interleaved with time passing, drops, reconnects,
// orders placed and cancelled over REST, changes made on the exchange, and slow REST replies.
// The WebSocket is the test fake; REST is FakeExchange (it verifies every signature); the clock
// is fake. One StreamUpdates subscriber listens throughout.
//
// The harness plays the exchange's side of the socket honestly: while the stream is subscribed,
// every change of an exchange order (placed, cancelled, filled) queues the push the exchange
// would send, in order; a drop loses what was not delivered. Fuzzed frames may say anything
// about other orders, positions and balances, but a frame naming one of the exchange's own order
// ids (they all contain 1985375080805085) is skipped: only the exchange speaks for those.
//
// Input: one step per line:
//   'A' + byte   advance the clock by (byte % 64) × 100 ms (pings, idle timeouts, greeting and
//                login waits, backoff, REST reply delays all run on it)
//   'D'          the socket drops;  'O'  a pending connect opens
//   'P' + byte   place a limit buy with client id fz<byte % 8> (duplicates are expected)
//   'C' + byte   cancel client id fz<byte % 8>
//   'X' + byte   the exchange fills or cancels fz<byte % 8> (a fill made elsewhere)
//   'T'          the exchange delivers its oldest queued push
//   'L' + byte   REST replies now arrive (byte % 4) × 20 ms after the exchange read its state
//   anything else  a text frame on the socket (captured frames work as seeds)
//
// Properties:
//   * no crash, leak or UB; the subscriber's sequence numbers run 1, 2, 3, ... and every event
//     survives the protobuf round trip; no client id is ever on the exchange twice;
//   * at the end of the input, once every queued push is delivered and every REST read has
//     answered, a subscribed stream agrees with the exchange about every exchange order: open
//     ones were last reported open, closed ones it heard of were last reported closed (this is
//     what catches a reconciliation read overwriting a newer push);
//   * then the socket drops once more and comes back cleanly; after that reconciliation the
//     same holds whatever was lost meanwhile, every position the subscriber heard of was last
//     reported closed (the fake exchange has none), and the last balance is the exchange's.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/proto_check.h"
#include "services/orders/order_engine.h"
#include "services/orders/private_stream.h"
#include "services/orders/rate_limiter.h"
#include "services/orders/request_signer.h"
#include "services/orders/rest_client.h"
#include "services/orders/update_hub.h"
#include "tests/orders/fake_exchange.h"
#include "tests/orders/fakes.h"

namespace {

namespace orders = ::bx::orders;
namespace v1 = ::bitunix::orders::v1;
using namespace std::chrono_literals;

orders::RateLimiterOptions Generous() {
  orders::RateLimiterOptions o;
  for (auto& b : o.buckets) b = {1000, 100};
  return o;
}

orders::PrivateStreamOptions StreamOptions() {
  orders::PrivateStreamOptions o;
  o.ping_interval = 5s;
  o.idle_timeout = 15s;
  o.reconnect = bx::BackoffPolicy{100ms, 1s, 2.0, 0.0};
  return o;
}

bool IsOpen(v1::OrderStatus s) {
  return s == v1::ORDER_STATUS_INIT || s == v1::ORDER_STATUS_NEW || s == v1::ORDER_STATUS_PART_FILLED;
}

std::string ClientId(char byte) { return "fz" + std::to_string(static_cast<unsigned char>(byte) % 8); }

class Harness {
 public:
  Harness() {
    engine_.StartRulesRefresh(std::chrono::hours(1));
    sched_.RunUntilIdle();
    sub_ = std::make_shared<orders::UpdateStream>(
        orders::UpdateStream::Filter{}, 100000, 1000, clock_,
        [this](const v1::StreamUpdatesResponse* m) {
          for (const auto& e : m->events()) events_.push_back(e);
          sched_.Post([this] { sub_->OnWriteDone(true); });
        },
        [] {});
    hub_.Add(sub_);
    sub_->DeliverSnapshot({});
    stream_ = std::make_unique<orders::PrivateStream>(
        sched_, [this] { return std::move(owned_); }, signer_, engine_, hub_, nullptr, StreamOptions());
    stream_->Start();
    BringUp();  // live before any order exists, so every later reconnect publishes what changed
  }

  ~Harness() {
    stream_->Stop();
    sched_.RunUntilIdle();
    sub_->Cancel();
    stream_.reset();
    engine_.Shutdown();
    sched_.RunUntilIdle();
  }

  void Step(std::string_view line) {
    StepOnly(line);
    QueueExchangePushes();
  }

  void StepOnly(std::string_view line) {
    if (line == "T") {
      DeliverOnePush();
      return;
    }
    if (line.size() == 2) {
      const char b = line[1];
      switch (line[0]) {
        case 'A':
          sched_.Advance(std::chrono::milliseconds(100) * (static_cast<unsigned char>(b) % 64));
          return;
        case 'P': {
          v1::PlaceOrderRequest r;
          r.set_symbol("BTCUSDT");
          r.set_side(bitunix::common::v1::SIDE_BUY);
          r.set_type(v1::ORDER_TYPE_LIMIT);
          r.set_qty("0.01");
          r.set_price("60000.5");
          r.set_client_id(ClientId(b));
          engine_.PlaceOrder(r, clock_.Steady() + 10s, [](absl::StatusOr<v1::PlaceOrderResponse>) {});
          sched_.RunUntilIdle();
          return;
        }
        case 'C': {
          v1::CancelOrdersRequest r;
          r.set_symbol("BTCUSDT");
          r.add_orders()->set_client_id(ClientId(b));
          engine_.CancelOrders(r, clock_.Steady() + 10s, [](absl::StatusOr<v1::CancelOrdersResponse>) {});
          sched_.RunUntilIdle();
          return;
        }
        case 'X':
          exchange_.SetOrderStatus(ClientId(b), (static_cast<unsigned char>(b) & 8) ? "FILLED" : "CANCELED");
          return;
        case 'L':
          exchange_.set_reply_delay(std::chrono::milliseconds(20) * (static_cast<unsigned char>(b) % 4));
          return;
        default:
          break;
      }
    }
    if (line == "D") {
      ws_->Drop();
    } else if (line == "O") {
      ws_->Open();
    } else if (line.find(kExchangeIds) == std::string_view::npos) {
      ws_->Push(std::string(line));
    }
    sched_.RunUntilIdle();
  }

  /// The last reconnect, then every property.
  void Finish() {
    Settle();
    if (stream_->live()) CheckOrders("subscribed");

    exchange_.set_reply_delay(0ms);
    ws_->Drop();
    sched_.RunUntilIdle();
    for (int i = 0; i < 100 && !ws_->connecting(); ++i) sched_.Advance(500ms);
    FUZZ_CHECK(ws_->connecting(), "no reconnect after the feed dropped (state %d)",
               static_cast<int>(stream_->state()));
    BringUp();
    Settle();
    FUZZ_CHECK(stream_->live(), "the stream fell over after a clean reconnect (state %d)",
               static_cast<int>(stream_->state()));
    CheckOrders("after the last reconnect");
    std::map<std::string, v1::UpdateEvent> positions;
    const v1::UpdateEvent* balance = nullptr;
    for (const auto& e : events_) {
      if (e.has_position() && !e.position().position_id().empty()) positions[e.position().position_id()] = e;
      if (e.has_balance()) balance = &e;
    }
    for (const auto& [id, e] : positions) {
      FUZZ_CHECK(e.kind() == v1::UPDATE_KIND_CLOSE, "position %s: the exchange has none; last heard %s",
                 id.c_str(), e.ShortDebugString().c_str());
    }
    FUZZ_CHECK(balance != nullptr && balance->balance().available() == "100000" &&
                   balance->balance().coin() == "USDT",
               "last balance %s", balance == nullptr ? "none" : balance->ShortDebugString().c_str());
  }

 private:
  static constexpr std::string_view kExchangeIds = "1985375080805085";

  // Sequence numbers, round trips, duplicates, and the subscriber's last word on every exchange
  // order against the exchange's state.
  void CheckOrders(const char* when) {
    uint64_t expect = 1;
    std::map<std::string, v1::UpdateEvent> orders;
    for (const auto& e : events_) {
      FUZZ_CHECK(e.seq() == expect, "seq %llu where %llu was due", static_cast<unsigned long long>(e.seq()),
                 static_cast<unsigned long long>(expect));
      ++expect;
      bx::fuzz::CheckRoundTrip(e);
      if (e.has_order() && !e.order().order_id().empty()) orders[e.order().order_id()] = e;
    }
    for (const auto& o : exchange_.orders()) {
      FUZZ_CHECK(exchange_.CountClientId(o.client_id) == 1, "client id %s is on the exchange %zu times",
                 o.client_id.c_str(), exchange_.CountClientId(o.client_id));
      auto it = orders.find(o.order_id);
      if (o.status == "NEW") {
        FUZZ_CHECK(it != orders.end() && IsOpen(it->second.order().status()),
                   "%s: order %s (%s) is open on the exchange; the subscriber last heard %s", when,
                   o.order_id.c_str(), o.client_id.c_str(),
                   it == orders.end() ? "nothing" : it->second.ShortDebugString().c_str());
      } else if (it != orders.end()) {
        FUZZ_CHECK(!IsOpen(it->second.order().status()),
                   "%s: order %s (%s) is %s on the exchange; the subscriber last heard %s", when,
                   o.order_id.c_str(), o.client_id.c_str(), o.status.c_str(),
                   it->second.ShortDebugString().c_str());
      }
    }
  }

  // The exchange's side: while the stream is subscribed on an open socket, each change of an
  // exchange order since the last look queues the push the exchange sends for it. A new socket
  // starts with an empty queue (what the old one had not delivered is lost).
  void QueueExchangePushes() {
    const bool subscribed = stream_->live() && ws_->is_open();
    if (ws_->connects() != socket_) {
      socket_ = ws_->connects();
      pushes_.clear();
    }
    if (!subscribed) pushes_.clear();
    for (const auto& o : exchange_.orders()) {
      auto [it, created] = known_.try_emplace(o.order_id, o.status);
      if (!created && it->second == o.status) continue;
      it->second = o.status;
      if (!subscribed) continue;
      const char* event = created ? "CREATE" : (o.status == "NEW" ? "UPDATE" : "CLOSE");
      pushes_.push_back(absl::StrCat(R"({"ch":"order","ts":1,"data":{"event":")", event, R"(","orderId":")",
                                     o.order_id, R"(","clientId":")", o.client_id, R"(","symbol":")", o.symbol,
                                     R"(","side":")", o.side, R"(","type":")", o.type, R"(","qty":")", o.qty,
                                     R"(","price":")", o.price, R"(","orderStatus":")", o.status, R"("}})"));
    }
  }

  // 20 s of a healthy exchange: it answers pings (so the socket is not idle) and delivers its
  // pushes; every placement, cancel and reconciliation read answers meanwhile.
  void Settle() {
    for (int i = 0; i < 20; ++i) {
      QueueExchangePushes();
      while (!pushes_.empty()) DeliverOnePush();
      ws_->Push(R"({"op":"ping","pong":1,"ping":2})");
      sched_.Advance(1s);
    }
    QueueExchangePushes();
    while (!pushes_.empty()) DeliverOnePush();
  }

  void DeliverOnePush() {
    if (pushes_.empty()) return;
    ws_->Push(pushes_.front());
    pushes_.pop_front();
    sched_.RunUntilIdle();
  }

  // A pending connect opens; greeting and login succeed.
  void BringUp() {
    sched_.RunUntilIdle();
    FUZZ_CHECK(ws_->Open(), "no pending connect to open");
    sched_.RunUntilIdle();
    ws_->Push(R"({"op":"connect","data":{"result":true}})");
    sched_.RunUntilIdle();
    ws_->Push(R"({"op":"login","data":{"result":true}})");
    sched_.RunUntilIdle();
    FUZZ_CHECK(stream_->live(), "not live after a clean login (state %d)", static_cast<int>(stream_->state()));
  }

  bx::FakeClock clock_{int64_t{1'750'000'000'000} * 1'000'000};
  orders::testing::ManualScheduler sched_{clock_};
  orders::testing::FakeExchange exchange_{sched_, "test-api-key", "test-secret-0123456789"};
  orders::RateLimiter limiter_{sched_, Generous()};
  std::shared_ptr<orders::Credentials> creds_ =
      std::make_shared<orders::Credentials>("test-api-key", "test-secret-0123456789");
  orders::SkewEstimator skew_;
  orders::RequestSigner signer_{creds_, clock_, &skew_, true};
  orders::RestClient rest_{sched_, exchange_, limiter_, signer_, &skew_, nullptr, orders::RestClientOptions{}};
  orders::SymbolRules rules_;
  orders::OrderEngine engine_{sched_, rest_, rules_, nullptr, orders::EngineOptions{}};
  orders::UpdateHub hub_{clock_};
  std::unique_ptr<orders::testing::FakeWsClient> owned_ = std::make_unique<orders::testing::FakeWsClient>();
  orders::testing::FakeWsClient* ws_ = owned_.get();
  std::shared_ptr<orders::UpdateStream> sub_;
  std::unique_ptr<orders::PrivateStream> stream_;
  std::vector<v1::UpdateEvent> events_;
  std::map<std::string, std::string> known_;  ///< exchange order id → status last seen
  std::deque<std::string> pushes_;            ///< the exchange's pushes not yet delivered
  int socket_ = 0;                            ///< ws_->connects() the queue belongs to
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    bx::InitLogging(bx::LogLevel::kError, false);  // drops, refusals and bad frames are expected here
    return true;
  }();
  (void)quiet;
  Harness h;
  bx::fuzz::StepLines(h, data, size);
  h.Finish();
  return 0;
}
