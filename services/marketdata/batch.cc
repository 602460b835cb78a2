#include "services/marketdata/batch.h"

#include <algorithm>
#include <cstring>

#include "services/marketdata/proto_wire.h"

namespace bx::md {

BatchBuffer& BatchBuffer::operator=(BatchBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    size_ = o.size_;
    capacity_ = o.capacity_;
    events_ = o.events_;
    oldest_recv_ns_ = o.oldest_recv_ns_;
    o.data_ = nullptr;
    o.size_ = o.capacity_ = o.events_ = 0;
    o.oldest_recv_ns_ = 0;
  }
  return *this;
}

char* BatchBuffer::Release() {
  char* p = data_;
  data_ = nullptr;
  size_ = capacity_ = events_ = 0;
  return p;
}

void BatchBuilder::Reserve(BatchBuffer* b, size_t capacity) {
  if (capacity <= b->capacity_) return;
  void* grown = std::realloc(b->data_, capacity);
  if (grown == nullptr) std::abort();  // out of memory: nothing sensible left to do
  b->data_ = static_cast<char*>(grown);
  b->capacity_ = capacity;
}

void BatchBuilder::Reset(size_t max_events, size_t max_bytes) {
  scratch_.size_ = 0;
  scratch_.events_ = 0;
  entries_.clear();
  max_events_ = max_events;
  max_bytes_ = max_bytes;
  sorted_ = true;
  oldest_recv_ns_ = 0;
}

void BatchBuilder::Grow(size_t n) {
  if (scratch_.capacity_ == 0 && size_hint_ > 0) Reserve(&scratch_, size_hint_ + size_hint_ / 8);
  if (scratch_.data_ != nullptr && scratch_.capacity_ - scratch_.size_ >= n) return;
  size_t cap = std::max<size_t>(scratch_.capacity_ * 2, 4096);
  while (cap < scratch_.size_ + n) cap *= 2;
  Reserve(&scratch_, cap);
}

BatchBuffer BatchBuilder::Finish(uint64_t* next_seq) {
  BatchBuffer out;
  if (entries_.empty()) return out;
  size_hint_ = scratch_.size_;
  if (sorted_) {
    for (const auto& e : entries_) wire::PatchFixed64(scratch_.data_ + e.offset + e.seq_offset, (*next_seq)++);
    out = std::move(scratch_);
  } else {
    Reserve(&out, scratch_.size_);  // the same events reordered: exactly scratch_'s bytes
    std::stable_sort(entries_.begin(), entries_.end(),
                     [](const Entry& a, const Entry& b) { return a.key < b.key; });
    for (const auto& e : entries_) {
      std::memcpy(out.data_ + out.size_, scratch_.data_ + e.offset, e.size);
      wire::PatchFixed64(out.data_ + out.size_ + e.seq_offset, (*next_seq)++);
      out.size_ += e.size;
    }
  }
  out.events_ = entries_.size();
  out.oldest_recv_ns_ = oldest_recv_ns_;
  entries_.clear();
  return out;
}

}  // namespace bx::md
