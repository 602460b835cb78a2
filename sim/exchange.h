// The simulated exchange's state behind one lock: the market model and (account.h) the one
// simulated account. REST handlers, the control API and the publisher timers all go through it.
// Private pushes (order, position, balance) are handed to the publisher before that lock is
// released, so they reach the sockets in the order the account made them: a modify's UPDATE
// never arrives after the FILLED of a fill that came later (as on the exchange).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <mutex>

#include "absl/base/thread_annotations.h"
#include "common/clock.h"
#include "sim/account.h"
#include "sim/market_model.h"
#include "sim/symbols.h"
#include "sim/ws_protocol.h"

namespace bx::sim {


class Exchange {
 public:
  Exchange(const SymbolCatalog& catalog, MarketModel::Options market, Account::Options account,
           const Clock& clock);

  const SymbolCatalog& catalog() const { return catalog_; }
  const Clock& clock() const { return clock_; }

  /// Where private pushes go (under the lock, in order). Set before any other thread runs.
  using Publisher = std::function<void(const std::vector<PrivatePush>&)>;
  void set_publisher(Publisher publisher) { publisher_ = std::move(publisher); }

  /// One market step (random walk), then resting orders crossed by it fill (pushes published).
  void Step();
  /// One public trade per OPEN symbol; resting orders crossed fill (pushes published).
  std::vector<PublicTrade> GenerateTrades();
  /// POST /control/price: moves the mid now; crossed resting orders fill (pushes published).
  void SetPrice(int sym, Dec price);

  /// The current push for a public stream of an OPEN symbol, nullopt otherwise (unknown symbol,
  /// PREVIEW/STOP, or a channel without a current value).
  std::optional<std::string> PublicFrame(const StreamArg& stream, const ChannelInfo& info) const;

  /// Runs `f(const MarketModel&)` under the lock (REST market endpoints).
  template <class F>
  auto ReadMarket(F&& f) const {
    std::lock_guard<std::mutex> lock(mu_);
    return f(static_cast<const MarketModel&>(model_));
  }
  /// Runs `f(Account&, MarketModel&)` under the lock (control API reads).
  template <class F>
  auto WithAccount(F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    return f(account_, model_);
  }
  /// Whether some other thread holds the exchange's lock at this moment. For tests that check
  /// the publisher runs under the lock; never call it from a thread that holds the lock.
  bool LockedElsewhereForTest() const {
    if (!mu_.try_lock()) return true;
    mu_.unlock();
    return false;
  }

  /// Runs `f(Account&, MarketModel&, std::vector<PrivatePush>*)` under the lock and publishes
  /// what it pushed before releasing it (REST trading endpoints).
  template <class F>
  auto Transact(F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<PrivatePush> pushes;
    auto result = f(account_, model_, &pushes);
    PublishLocked(pushes);
    return result;
  }

 private:
  const SymbolCatalog& catalog_;
  const Clock& clock_;
  // std::mutex rather than absl::Mutex: ThreadSanitizer understands it (Debian's absl is not
  // instrumented).
  void PublishLocked(const std::vector<PrivatePush>& pushes) {
    if (!pushes.empty() && publisher_) publisher_(pushes);
  }

  mutable std::mutex mu_;
  Publisher publisher_;
  MarketModel model_ ABSL_GUARDED_BY(mu_);
  Account account_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bx::sim
