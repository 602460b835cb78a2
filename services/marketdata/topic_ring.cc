#include "services/marketdata/topic_ring.h"

#include <algorithm>
#include <utility>

namespace bx::md {
namespace {

constexpr size_t kInitialSlots = 16;

size_t RoundUpPow2(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

TopicRing::TopicRing(std::string key, std::string symbol, ChannelSpec spec, size_t capacity)
    : key_(std::move(key)),
      symbol_(std::move(symbol)),
      spec_(spec),
      capacity_(RoundUpPow2(std::max<size_t>(capacity, 2))) {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  slots_.resize(std::min(kInitialSlots, capacity_));
  bytes_ = slots_.size() * sizeof(Slot);
}

void TopicRing::Resize(size_t new_size) {
  std::vector<Slot> next(new_size);
  for (uint64_t i = tail_; i < head_; ++i) next[i & (new_size - 1)] = std::move(At(i));
  // Storage of slots outside the live window goes away with the old vector.
  size_t bytes = new_size * sizeof(Slot);
  for (const auto& s : next) bytes += s.bytes.capacity();
  bytes_ = bytes;
  slots_ = std::move(next);
}

void TopicRing::Publish(std::string_view bytes, const EventLayout& layout, uint64_t gseq, int64_t recv_ns,
                        int64_t conflate_key) {
  const StagedEvent e{.bytes = bytes, .layout = layout, .recv_ns = recv_ns, .conflate_key = conflate_key};
  Publish(std::span<const StagedEvent>(&e, 1), gseq);
}

void TopicRing::Publish(std::span<const StagedEvent> events, uint64_t first_gseq) {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  uint64_t gseq = first_gseq;
  for (const StagedEvent& e : events) {
    if (head_ - tail_ == slots_.size()) {
      if (slots_.size() < capacity_) {
        Resize(slots_.size() * 2);
      } else {
        NoteFreedTail();
        ++tail_;  // overwrite the oldest: subscribers behind it have overflowed
      }
    }
    Slot& s = At(head_);
    const size_t before = s.bytes.capacity();
    s.bytes.assign(e.bytes.data(), e.bytes.size());  // reuses the slot's buffer once warm
    bytes_ += s.bytes.capacity() - before;
    s.layout = e.layout;
    s.gseq = gseq++;
    s.recv_ns = e.recv_ns;
    s.conflate_key = e.conflate_key;
    ++head_;
  }
  published_.store(head_, std::memory_order_seq_cst);
}

ReadOutcome TopicRing::Read(uint64_t* cursor, int64_t min_recv_ns, bool conflate, BatchBuilder* batch,
                            uint64_t max_gseq) const {
  ReadOutcome out;
  std::lock_guard<AdaptiveMutex> lock(mu_);
  uint64_t i = *cursor;
  if (i < tail_) {
    const uint64_t lost = tail_ - i;
    // Conflating skips only states a newer one replaced; a freed final state (a candle's last
    // update) that this reader had not read is a loss like any other.
    if (conflate && i >= lost_final_end_) {
      out.conflated += lost;
    } else {
      // What Trim freed for age was lost to age; the rest to the ring's capacity.
      const uint64_t by_age = i < aged_until_ ? std::min(aged_until_, tail_) - i : 0;
      out.aged += by_age;
      out.overflowed += lost - by_age;
    }
    i = tail_;
  }
  if (!conflate && min_recv_ns > 0) {
    // Not past max_gseq: an event published after a status the reader holds back is reported
    // lost after that status (and one published after a close, never at all).
    while (i < head_ && At(i).gseq <= max_gseq && At(i).recv_ns < min_recv_ns) {
      ++out.aged;
      ++i;
    }
  }
  if ((out.overflowed > 0 || out.aged > 0) && i < head_) out.first_kept_gseq = At(i).gseq;
  for (; i < head_; ++i) {
    const Slot& s = At(i);
    if (s.gseq > max_gseq) break;
    // A snapshot is never conflated away: it tells the reader to replace what it holds (after a
    // Gap), which the newer update alone does not say.
    if (conflate && i + 1 < head_ && At(i + 1).gseq <= max_gseq && At(i + 1).conflate_key == s.conflate_key &&
        !IsSnapshot(s)) {
      ++out.conflated;
      continue;
    }
    if (!batch->HasRoom()) {
      out.truncated = true;
      out.next_gseq = s.gseq;
      break;
    }
    batch->Add(s.bytes, s.layout, OrderKey{s.gseq, 0}, s.recv_ns);
  }
  *cursor = i;
  return out;
}

uint64_t TopicRing::AddLatest(BatchBuilder* batch, OrderKey key) const {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  if (head_ != tail_ && head_ > cache_from_) {
    const Slot& s = At(head_ - 1);
    batch->Add(s.bytes, s.layout, key, /*recv_ns=*/0, /*snapshot=*/true);
  }
  return head_;
}

std::optional<TopicRing::Latest> TopicRing::LatestCopy() const {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  if (head_ == tail_ || head_ <= cache_from_) return std::nullopt;
  const Slot& s = At(head_ - 1);
  return Latest{s.bytes, s.layout, s.recv_ns};
}

void TopicRing::FreeSlot(Slot& slot) {
  // An emptied string keeps its inline capacity: count what is given back, not all of it (the
  // count would drift down by that much per reuse and wrap around).
  const size_t before = slot.bytes.capacity();
  std::string().swap(slot.bytes);
  bytes_ -= before - slot.bytes.capacity();
}

void TopicRing::NoteFreedTail() {
  if (tail_ + 1 < head_ && At(tail_ + 1).conflate_key != At(tail_).conflate_key) lost_final_end_ = tail_ + 1;
}

void TopicRing::Trim(int64_t min_recv_ns) {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  const uint64_t keep = spec_.is_state() ? 1 : 0;
  while (head_ - tail_ > keep && At(tail_).recv_ns < min_recv_ns) {
    NoteFreedTail();
    FreeSlot(At(tail_));
    ++tail_;
    aged_until_ = tail_;
  }
  // Give back slot storage when mostly empty (a burst grew it; the topic went quiet again).
  while (slots_.size() > kInitialSlots && (head_ - tail_) * 4 < slots_.size()) {
    Resize(slots_.size() / 2);
  }
}

void TopicRing::DropCache() {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  while (tail_ < head_) {
    FreeSlot(At(tail_));
    ++tail_;
  }
  aged_until_ = tail_;
}

void TopicRing::AddPendingAcquire() {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  ++pending_acquires_;
}

void TopicRing::DonePendingAcquire() {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  if (pending_acquires_ > 0) --pending_acquires_;
}

bool TopicRing::EndUnlessAcquiring() {
  {
    std::lock_guard<AdaptiveMutex> lock(mu_);
    if (pending_acquires_ > 0) return false;
    while (tail_ < head_) {
      FreeSlot(At(tail_));
      ++tail_;
    }
    aged_until_ = tail_;
  }
  return true;
}

void TopicRing::HideCache() {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  cache_from_ = head_;  // only an event published after now is a cache again
}

size_t TopicRing::size() const {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  return head_ - tail_;
}

size_t TopicRing::memory_bytes() const {
  std::lock_guard<AdaptiveMutex> lock(mu_);
  return bytes_;
}

}  // namespace bx::md
