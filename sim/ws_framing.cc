#include "sim/ws_framing.h"

#include <openssl/sha.h>

#include <cstring>

namespace bx::sim {

size_t ServerFrameHeaderSize(size_t n) { return n < 126 ? 2 : (n <= 0xFFFF ? 4 : 10); }

size_t WriteServerFrameHeader(char* out, WsOpcode op, size_t n) {
  out[0] = static_cast<char>(0x80 | static_cast<uint8_t>(op));
  if (n < 126) {
    out[1] = static_cast<char>(n);
    return 2;
  }
  if (n <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>((n >> 8) & 0xFF);
    out[3] = static_cast<char>(n & 0xFF);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((static_cast<uint64_t>(n) >> (56 - 8 * i)) & 0xFF);
  return 10;
}

std::string EncodeServerFrame(WsOpcode op, std::string_view payload) {
  std::string out(ServerFrameHeaderSize(payload.size()) + payload.size(), '\0');
  size_t h = WriteServerFrameHeader(out.data(), op, payload.size());
  std::memcpy(out.data() + h, payload.data(), payload.size());
  return out;
}

std::string WsAcceptKey(std::string_view client_key) {
  std::string in(client_key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < SHA_DIGEST_LENGTH; i += 3) {
    uint32_t v = static_cast<uint32_t>(md[i]) << 16;
    if (i + 1 < SHA_DIGEST_LENGTH) v |= static_cast<uint32_t>(md[i + 1]) << 8;
    if (i + 2 < SHA_DIGEST_LENGTH) v |= md[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < SHA_DIGEST_LENGTH ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < SHA_DIGEST_LENGTH ? kB64[v & 63] : '=';
  }
  return out;
}

std::optional<WsFrameParser::Message> WsFrameParser::Next(std::string* error) {
  while (true) {
    const size_t avail = buffer_.size() - pos_;
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + pos_);
    if (avail < 2) break;
    const bool fin = (p[0] & 0x80) != 0;
    const uint8_t rsv = p[0] & 0x70;
    const uint8_t op = p[0] & 0x0F;
    const bool masked = (p[1] & 0x80) != 0;
    uint64_t len = p[1] & 0x7F;
    size_t hdr = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t{p[2]} << 8) | p[3];
      hdr = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      hdr = 10;
    }
    if (rsv != 0) {
      *error = "reserved bits set (no extension was negotiated)";
      return std::nullopt;
    }
    if (!masked) {
      *error = "client frame not masked";
      return std::nullopt;
    }
    const bool control = (op & 0x8) != 0;
    if (control && (!fin || len > 125)) {
      *error = "invalid control frame";
      return std::nullopt;
    }
    if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA) {
      *error = "unknown opcode";
      return std::nullopt;
    }
    if (len > max_message_ || partial_.size() + len > max_message_) {
      *error = "message too big";
      return std::nullopt;
    }
    if (avail < hdr + 4 + len) break;
    const unsigned char* mask = p + hdr;
    std::string payload(reinterpret_cast<const char*>(p + hdr + 4), static_cast<size_t>(len));
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i & 3]);
    pos_ += hdr + 4 + static_cast<size_t>(len);
    if (pos_ > 64 * 1024 && pos_ * 2 > buffer_.size()) {
      buffer_.erase(0, pos_);
      pos_ = 0;
    }
    if (control) return Message{static_cast<WsOpcode>(op), std::move(payload)};
    if (op == 0x0) {
      if (!partial_op_) {
        *error = "continuation without a started message";
        return std::nullopt;
      }
      partial_ += payload;
      if (!fin) continue;
      Message m{*partial_op_, std::move(partial_)};
      partial_.clear();
      partial_op_.reset();
      return m;
    }
    if (partial_op_) {
      *error = "new message before the previous one finished";
      return std::nullopt;
    }
    if (!fin) {
      partial_op_ = static_cast<WsOpcode>(op);
      partial_ = std::move(payload);
      continue;
    }
    return Message{static_cast<WsOpcode>(op), std::move(payload)};
  }
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  return std::nullopt;
}

}  // namespace bx::sim
