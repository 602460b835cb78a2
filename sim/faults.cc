#include "sim/faults.h"

namespace bx::sim {

void Faults::Stall(ConnScope scope, std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  const TimePoint until = clock_.Steady() + d;
  if (scope != ConnScope::kPrivate) public_stall_until_ = until;
  if (scope != ConnScope::kPublic) private_stall_until_ = until;
}

bool Faults::Stalled(bool is_private) const {
  std::lock_guard<std::mutex> lock(mu_);
  return clock_.Steady() < (is_private ? private_stall_until_ : public_stall_until_);
}

void Faults::RefuseConnections(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  refuse_until_ = clock_.Steady() + d;
}

bool Faults::RefusingConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clock_.Steady() < refuse_until_;
}

void Faults::AddRestFault(RestFault f) {
  std::lock_guard<std::mutex> lock(mu_);
  if (f.count > 0) rest_faults_.push_back(std::move(f));
}

std::optional<RestFault> Faults::TakeRestFault(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = rest_faults_.begin(); it != rest_faults_.end(); ++it) {
    if (!it->path.empty() && it->path != path) continue;
    RestFault f = *it;
    if (--it->count <= 0) rest_faults_.erase(it);
    f.count = 1;
    return f;
  }
  return std::nullopt;
}

void Faults::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  public_stall_until_ = private_stall_until_ = refuse_until_ = TimePoint{};
  rest_faults_.clear();
}

}  // namespace bx::sim
