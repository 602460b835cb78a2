#include "sim/rest_conns.h"

#include <atomic>

namespace bx::sim {

uint64_t RestConnections::Add(std::weak_ptr<RestConnection> c) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  conns_.emplace(id, std::move(c));
  return id;
}

void RestConnections::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  conns_.erase(id);
}

size_t RestConnections::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return conns_.size();
}

void RestConnections::CloseIdle(bool close_notify, std::function<void(size_t closed, size_t busy)> done) {
  std::vector<std::shared_ptr<RestConnection>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, w] : conns_) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
  }
  if (live.empty()) {
    done(0, 0);
    return;
  }
  // Each connection answers on its own strand; the last answer completes the call.
  struct Tally {
    std::atomic<size_t> pending, closed{0}, busy{0};
    std::function<void(size_t, size_t)> done;
  };
  auto tally = std::make_shared<Tally>();
  tally->pending = live.size();
  tally->done = std::move(done);
  for (auto& c : live) {
    c->CloseIfIdle(close_notify, [tally](bool closed) {
      ++(closed ? tally->closed : tally->busy);
      if (--tally->pending == 0) tally->done(tally->closed.load(), tally->busy.load());
    });
  }
}

}  // namespace bx::sim
