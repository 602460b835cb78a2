#include "sim/hub.h"

namespace bx::sim {

bool Hub::Add(const std::shared_ptr<WsConnection>& c, uint64_t epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (drop_epoch_[c->is_private() ? 1 : 0] != epoch) return false;
  conns_[c->id()] = c;
  is_private_[c->id()] = c->is_private();
  return true;
}

uint64_t Hub::DropEpoch(bool is_private) const {
  std::lock_guard<std::mutex> lock(mu_);
  return drop_epoch_[is_private ? 1 : 0];
}

std::vector<std::shared_ptr<WsConnection>> Hub::TakeForDrop(ConnScope scope) {
  std::lock_guard<std::mutex> lock(mu_);
  if (scope != ConnScope::kPrivate) ++drop_epoch_[0];
  if (scope != ConnScope::kPublic) ++drop_epoch_[1];
  return CollectLocked(scope);
}

void Hub::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  conns_.erase(id);
  is_private_.erase(id);
  for (auto it = subs_.begin(); it != subs_.end();) {
    it->second.erase(id);
    it = it->second.empty() ? subs_.erase(it) : std::next(it);
  }
}

void Hub::Subscribe(uint64_t id, const StreamArg& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conns_.count(id)) subs_[s].insert(id);
}

void Hub::Unsubscribe(uint64_t id, const StreamArg& s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subs_.find(s);
  if (it == subs_.end()) return;
  it->second.erase(id);
  if (it->second.empty()) subs_.erase(it);
}

std::vector<StreamArg> Hub::ActiveStreams() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StreamArg> out;
  out.reserve(subs_.size());
  for (const auto& [s, ids] : subs_) out.push_back(s);
  return out;
}

size_t Hub::Publish(const StreamArg& s, const std::shared_ptr<const std::string>& frame, std::string_view text) {
  std::vector<std::shared_ptr<WsConnection>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subs_.find(s);
    if (it == subs_.end()) return 0;
    for (uint64_t id : it->second) {
      auto c = conns_.find(id);
      if (c == conns_.end()) continue;
      if (auto p = c->second.lock()) targets.push_back(std::move(p));
    }
  }
  // Send outside the lock: connections take their own locks.
  for (auto& t : targets) t->Send(frame, text);
  return targets.size();
}

std::vector<std::shared_ptr<WsConnection>> Hub::Connections(ConnScope scope) const {
  std::lock_guard<std::mutex> lock(mu_);
  return CollectLocked(scope);
}

std::vector<std::shared_ptr<WsConnection>> Hub::CollectLocked(ConnScope scope) const {
  std::vector<std::shared_ptr<WsConnection>> out;
  for (const auto& [id, w] : conns_) {
    const bool priv = is_private_.at(id);
    if (scope == ConnScope::kPublic && priv) continue;
    if (scope == ConnScope::kPrivate && !priv) continue;
    if (auto p = w.lock()) out.push_back(std::move(p));
  }
  return out;
}

std::map<std::string, int64_t> Hub::SubscriptionCounts() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [s, ids] : subs_) out[s.Key()] = static_cast<int64_t>(ids.size());
  return out;
}

}  // namespace bx::sim
