// Minimal protobuf wire-format writer for the hot path (events are encoded once, by hand, so the
// per-stream `seq` and the `snapshot` flag sit at known offsets and can be patched in each copy).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace bx::md::wire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

inline void PutTag(std::string* out, uint32_t field, WireType type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | type);
}

/// A varint field; proto3 omits zero, and so do we.
inline void PutVarintField(std::string* out, uint32_t field, uint64_t v) {
  if (v == 0) return;
  PutTag(out, field, kVarint);
  PutVarint(out, v);
}

inline void PutInt64Field(std::string* out, uint32_t field, int64_t v) {
  PutVarintField(out, field, static_cast<uint64_t>(v));
}

/// A string field; proto3 omits "", and so do we.
inline void PutStringField(std::string* out, uint32_t field, std::string_view v) {
  if (v.empty()) return;
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, v.size());
  out->append(v.data(), v.size());
}

/// An embedded message (always written, even when empty: a oneof member must be present).
inline void PutMessageField(std::string* out, uint32_t field, std::string_view encoded) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, encoded.size());
  out->append(encoded.data(), encoded.size());
}

inline void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(buf, 8);
}

// Writers into a buffer already sized for the message (the hot path sizes its event first, then
// writes every byte once): the same bytes as the Put* functions, without a std::string append
// (capacity check and memcpy call) per tag and varint. Each returns the end of what it wrote.

inline char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline char* WriteTag(char* p, uint32_t field, WireType type) {
  return WriteVarint(p, (static_cast<uint64_t>(field) << 3) | type);
}

/// As PutVarintField: nothing for zero.
inline char* WriteVarintField(char* p, uint32_t field, uint64_t v) {
  if (v == 0) return p;
  return WriteVarint(WriteTag(p, field, kVarint), v);
}

/// As PutStringField: nothing for "".
inline char* WriteStringField(char* p, uint32_t field, std::string_view v) {
  if (v.empty()) return p;
  p = WriteVarint(WriteTag(p, field, kLengthDelimited), v.size());
  std::memcpy(p, v.data(), v.size());
  return p + v.size();
}

inline char* WriteFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return p + 8;
}

/// Overwrites 8 little-endian bytes at `p` (the fixed64 `seq` of an event copy).
inline void PatchFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

}  // namespace bx::md::wire
