// The last N ids seen, oldest forgotten first: a bounded memory of order ids for questions like
// "has the stream carried this order?" that must not grow with the life of the process.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_set>

namespace bx::orders {

class RecentIds {
 public:
  explicit RecentIds(size_t capacity) : capacity_(capacity) {}

  /// Remembers `id` (an empty id is not remembered); forgets the oldest beyond the capacity.
  void Add(const std::string& id) {
    if (id.empty() || !ids_.insert(id).second) return;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
  }
  bool Contains(const std::string& id) const { return ids_.count(id) > 0; }
  size_t size() const { return order_.size(); }

 private:
  size_t capacity_;
  std::unordered_set<std::string> ids_;
  std::deque<std::string> order_;  ///< the same ids, oldest first
};

}  // namespace bx::orders
