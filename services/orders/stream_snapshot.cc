#include "services/orders/stream_snapshot.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "services/orders/call_scope.h"
#include "services/orders/rest_parse.h"

namespace bx::orders {
namespace {

RateLimitedLog& Noise() {
  static RateLimitedLog log(10, std::chrono::seconds(30));
  return log;
}

enum Part : unsigned { kOrders = 1, kPositions = 2, kBalance = 4, kTpsl = 8, kAll = 15 };

class SnapshotReader : public std::enable_shared_from_this<SnapshotReader> {
 public:
  SnapshotReader(Scheduler& scheduler, OrderEngine& engine, std::weak_ptr<UpdateStream> stream, HubEvent status,
                 StreamSnapshotOptions options)
      : scheduler_(scheduler),
        engine_(engine),
        stream_(std::move(stream)),
        status_(std::move(status)),
        options_(std::move(options)),
        backoff_(options_.retry) {}

  /// Executor. One attempt at the parts still missing.
  void Read() {
    auto stream = stream_.lock();
    if (!stream || stream->ended()) return;
    if (!first_) stream->BeginRest();
    auto attempt = std::make_shared<Attempt>();
    for (unsigned p : {kOrders, kPositions, kBalance, kTpsl}) attempt->pending += (missing_ & p) ? 1 : 0;
    const SteadyTime deadline = scheduler_.clock().Steady() + options_.timeout;
    auto self = shared_from_this();
    // A read still queued for a token when the stream ends is withdrawn, never sent.
    CallScope scope([weak = stream_] {
      auto s = weak.lock();
      return s == nullptr || s->ended();
    });
    if (missing_ & kOrders) {
      engine_.FetchAllOpenOrders(deadline, [self, attempt](absl::StatusOr<std::vector<v1::Order>> r) {
        if (r.ok()) {
          for (auto& o : *r) {
            v1::UpdateEvent e;
            *e.mutable_order() = std::move(o);
            attempt->orders.push_back(self->SnapshotEvent(std::move(e)));
          }
        } else {
          self->Failed(*attempt, kOrders, "open orders", r.status());
        }
        self->EndRead(attempt);
      });
    }
    if (missing_ & kPositions) {
      engine_.ListPositions(v1::ListPositionsRequest(), deadline,
                            [self, attempt](absl::StatusOr<v1::ListPositionsResponse> r) {
                              if (r.ok()) {
                                for (const auto& p : r->positions()) {
                                  v1::UpdateEvent e;
                                  *e.mutable_position() = p;
                                  attempt->positions.push_back(self->SnapshotEvent(std::move(e)));
                                }
                              } else {
                                self->Failed(*attempt, kPositions, "positions", r.status());
                              }
                              self->EndRead(attempt);
                            });
    }
    if (missing_ & kBalance) {
      v1::GetAccountRequest acc;
      acc.set_margin_coin(options_.margin_coin);
      engine_.GetAccount(acc, deadline, [self, attempt](absl::StatusOr<v1::GetAccountResponse> r) {
        if (r.ok()) {
          v1::UpdateEvent e;
          *e.mutable_balance() = BalanceFromAccount(r->account());
          attempt->balance.push_back(self->SnapshotEvent(std::move(e)));
        } else {
          self->Failed(*attempt, kBalance, "account", r.status());
        }
        self->EndRead(attempt);
      });
    }
    if (missing_ & kTpsl) {
      engine_.FetchAllPendingTpsl(deadline, [self, attempt](absl::StatusOr<std::vector<v1::TpslOrder>> r) {
        if (r.ok()) {
          for (auto& t : *r) {
            if (t.status().empty()) t.set_status("NEW");  // the pending listing carries no status
            v1::UpdateEvent e;
            *e.mutable_tpsl() = std::move(t);
            attempt->tpsl.push_back(self->SnapshotEvent(std::move(e)));
          }
        } else {
          self->Failed(*attempt, kTpsl, "pending TP/SL orders", r.status());
        }
        self->EndRead(attempt);
      });
    }
  }

 private:
  struct Attempt {
    int pending = 0;
    unsigned failed = 0;
    std::vector<std::string> failures;
    std::vector<HubEvent> orders, positions, balance, tpsl;
  };

  HubEvent SnapshotEvent(v1::UpdateEvent e) const {
    e.set_snapshot(true);
    e.set_gateway_ts_ns(scheduler_.clock().NowNs());
    return MakeHubEvent(std::move(e));
  }

  static void Failed(Attempt& a, Part part, const char* what, const absl::Status& s) {
    a.failed |= part;
    a.failures.push_back(absl::StrCat(what, ": ", std::string(s.message())));
  }

  void EndRead(const std::shared_ptr<Attempt>& a) {
    if (--a->pending > 0) return;
    auto stream = stream_.lock();
    if (!stream) return;
    std::vector<HubEvent> all;
    if (first_) all.push_back(std::move(status_));
    for (auto* part : {&a->orders, &a->positions, &a->balance, &a->tpsl}) {
      for (auto& e : *part) all.push_back(std::move(e));
    }
    std::string missing = absl::StrJoin(a->failures, "; ");
    const bool was_first = first_;
    if (first_) {
      first_ = false;
      stream->DeliverSnapshot(std::move(all), missing);
    } else {
      stream->DeliverRest(std::move(all), missing);
    }
    missing_ = a->failed;
    if (missing_ == 0) {
      if (!was_first) {
        Noise().Log(LogLevel::kInfo, "orders.stream", "snapshot_completed", "stream snapshot completed by a retry",
                    {{"attempts", static_cast<int64_t>(backoff_.attempt() + 1)}});
      }
      return;
    }
    if (stream->ended()) return;
    const auto delay = backoff_.Next();
    if (was_first) {
      Noise().Log(LogLevel::kWarn, "orders.stream", "snapshot_incomplete",
                  "stream snapshot incomplete; reading the rest in the background",
                  {{"missing", missing}, {"in_ms", static_cast<int64_t>(delay.count())}});
    }
    scheduler_.RunAfter(delay, [self = shared_from_this()] { self->Read(); });
  }

  Scheduler& scheduler_;
  OrderEngine& engine_;
  std::weak_ptr<UpdateStream> stream_;
  HubEvent status_;
  StreamSnapshotOptions options_;
  Backoff backoff_;
  unsigned missing_ = kAll;
  bool first_ = true;
};

}  // namespace

void StartStreamSnapshot(Scheduler& scheduler, OrderEngine& engine, std::shared_ptr<UpdateStream> stream,
                         HubEvent status, StreamSnapshotOptions options) {
  auto reader = std::make_shared<SnapshotReader>(scheduler, engine, stream, std::move(status), std::move(options));
  scheduler.Post([reader] { reader->Read(); });
}

}  // namespace bx::orders
