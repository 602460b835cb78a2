// One write's worth of events for one stream: copies of shared encoded events, ordered, with the
// stream's sequence numbers patched in. The finished buffer is handed to gRPC without a copy.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "services/marketdata/event_encoder.h"

namespace bx::md {

/// An owned malloc'd byte buffer: a serialized SubscribeResponse.
class BatchBuffer {
 public:
  BatchBuffer() = default;
  ~BatchBuffer() { std::free(data_); }
  BatchBuffer(BatchBuffer&& o) noexcept { *this = std::move(o); }
  BatchBuffer& operator=(BatchBuffer&& o) noexcept;
  BatchBuffer(const BatchBuffer&) = delete;
  BatchBuffer& operator=(const BatchBuffer&) = delete;

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return events_ == 0; }
  size_t events() const { return events_; }
  /// Gateway receive time of the oldest event in the batch (for the write-latency histogram).
  int64_t oldest_recv_ns() const { return oldest_recv_ns_; }
  /// Gives up ownership (gRPC frees it with std::free when its slice dies).
  char* Release();

 private:
  friend class BatchBuilder;
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t events_ = 0;
  int64_t oldest_recv_ns_ = 0;
};

/// Orders events within a batch: (gseq, sub). Data events are (their hub gseq, 0); a status posted
/// after the hub published gseq G is (G, n >= 1); a gap placed before an event is (its gseq, -1).
struct OrderKey {
  uint64_t gseq = 0;
  int64_t sub = 0;
  friend bool operator<(const OrderKey& a, const OrderKey& b) {
    return a.gseq != b.gseq ? a.gseq < b.gseq : a.sub < b.sub;
  }
};

/// Not thread-safe; owned by one stream and used under its lock.
class BatchBuilder {
 public:
  void Reset(size_t max_events, size_t max_bytes);
  /// Room for another event (the byte budget is soft: one event may overshoot it).
  bool HasRoom() const { return entries_.size() < max_events_ && scratch_.size_ < max_bytes_; }
  size_t events() const { return entries_.size(); }
  /// Appends a copy of an encoded event; `snapshot` turns its snapshot flag on in the copy.
  /// Inline: it runs once per event per stream on the write path.
  void Add(std::string_view bytes, const EventLayout& layout, OrderKey key, int64_t recv_ns,
           bool snapshot = false) {
    if (!entries_.empty() && key < entries_.back().key) sorted_ = false;
    if (scratch_.data_ == nullptr || scratch_.capacity_ - scratch_.size_ < bytes.size()) Grow(bytes.size());
    const auto offset = static_cast<uint32_t>(scratch_.size_);
    std::memcpy(scratch_.data_ + offset, bytes.data(), bytes.size());
    scratch_.size_ += bytes.size();
    if (snapshot) scratch_.data_[offset + layout.snapshot_offset] = 1;
    entries_.push_back({key, offset, static_cast<uint32_t>(bytes.size()), layout.seq_offset});
    if (recv_ns > 0 && (oldest_recv_ns_ == 0 || recv_ns < oldest_recv_ns_)) oldest_recv_ns_ = recv_ns;
  }
  /// Orders the events by key, numbers them from *next_seq (advancing it) and returns the bytes.
  BatchBuffer Finish(uint64_t* next_seq);

 private:
  struct Entry {
    OrderKey key;
    uint32_t offset;
    uint32_t size;
    uint16_t seq_offset;
  };
  static void Reserve(BatchBuffer* b, size_t capacity);
  /// Makes room for `n` more bytes in scratch_ (a new buffer starts at about the last batch's size).
  void Grow(size_t n);

  BatchBuffer scratch_;
  std::vector<Entry> entries_;
  size_t max_events_ = 0;
  size_t max_bytes_ = 0;
  bool sorted_ = true;
  int64_t oldest_recv_ns_ = 0;
  // Bytes of the last finished batch: a new buffer starts at about that size instead of growing
  // from 4 KiB by doubling (each step a realloc copy; at ~400 events per write that was 1.5x the
  // batch's own bytes copied again).
  size_t size_hint_ = 0;
};

}  // namespace bx::md
