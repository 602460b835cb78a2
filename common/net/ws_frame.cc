#include "common/net/ws_frame.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace bx::net {
namespace {

absl::Status ProtocolError(const std::string& what) {
  return absl::UnavailableError(absl::StrCat("protocol error: ", what));
}

bool IsKnownOpcode(uint8_t op) {
  return op == 0x0 || op == 0x1 || op == 0x2 || op == 0x8 || op == 0x9 || op == 0xA;
}

void RandomBytes(unsigned char* out, int n) {
  if (RAND_bytes(out, n) != 1) {
    // OpenSSL's generator failing is not something a connection can recover from by retrying.
    std::abort();
  }
}

}  // namespace

WsFrameDecoder::Result WsFrameDecoder::Decode(const char* data, size_t size) {
  Result r;
  while (true) {
    const auto* p = reinterpret_cast<const unsigned char*>(data + r.consumed);
    const size_t avail = size - r.consumed;
    if (avail < 2) return r;
    const bool fin = (p[0] & 0x80) != 0;
    const uint8_t rsv = p[0] & 0x70;
    const uint8_t op = p[0] & 0x0F;
    const bool masked = (p[1] & 0x80) != 0;
    uint64_t len = p[1] & 0x7F;
    size_t header = 2;
    if (len == 126) {
      if (avail < 4) return r;
      len = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (avail < 10) return r;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      header = 10;
      if (len >> 63) {
        r.kind = Kind::kError;
        r.error = ProtocolError("frame length with the most significant bit set");
        return r;
      }
    }
    if (rsv != 0) {
      r.kind = Kind::kError;
      r.error = ProtocolError("reserved bits set (no extension was negotiated)");
      return r;
    }
    if (masked) {
      r.kind = Kind::kError;
      r.error = ProtocolError("masked frame from the server");
      return r;
    }
    if (!IsKnownOpcode(op)) {
      r.kind = Kind::kError;
      r.error = ProtocolError(absl::StrCat("unknown opcode ", op));
      return r;
    }
    const bool control = (op & 0x8) != 0;
    if (control && (!fin || len > 125)) {
      r.kind = Kind::kError;
      r.error = ProtocolError(!fin ? "fragmented control frame" : "control frame over 125 bytes");
      return r;
    }
    const bool continuation = op == 0x0;
    const bool under_way = partial_op_ != WsOpcode::kContinuation;
    if (continuation && !under_way) {
      r.kind = Kind::kError;
      r.error = ProtocolError("continuation frame without a message under way");
      return r;
    }
    if (!control && !continuation && under_way) {
      r.kind = Kind::kError;
      r.error = ProtocolError("new message before the previous one finished");
      return r;
    }
    const size_t so_far = continuation ? partial_.size() : 0;
    if (!control && (len > max_message_ || so_far + len > max_message_)) {
      r.kind = Kind::kError;
      r.error = absl::ResourceExhaustedError(
          absl::StrCat("message too big: over max_message_bytes (", max_message_, ")"));
      return r;
    }
    if (avail - header < len) {
      r.need = header + static_cast<size_t>(len);
      return r;
    }
    const std::string_view payload(reinterpret_cast<const char*>(p + header), static_cast<size_t>(len));
    r.consumed += header + static_cast<size_t>(len);
    if (control) {
      r.kind = Kind::kMessage;
      r.opcode = static_cast<WsOpcode>(op);
      r.payload = payload;
      return r;
    }
    if (!continuation && fin) {  // the common case: a whole message in one frame, not copied
      r.kind = Kind::kMessage;
      r.opcode = static_cast<WsOpcode>(op);
      r.payload = payload;
      return r;
    }
    if (!continuation) {
      partial_.clear();
      partial_op_ = static_cast<WsOpcode>(op);
    }
    partial_.append(payload);
    if (!fin) continue;
    r.kind = Kind::kMessage;
    r.opcode = partial_op_;
    r.payload = partial_;
    partial_op_ = WsOpcode::kContinuation;  // partial_ keeps the bytes until the next Decode()
    return r;
  }
}

bool ParseWsClose(std::string_view payload, WsClose* out) {
  if (payload.empty()) {
    *out = WsClose{};
    return true;
  }
  if (payload.size() < 2) return false;
  out->code = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
  out->reason = payload.substr(2);
  // Codes no endpoint may put in a close frame (RFC 6455 7.4.1/7.4.2; 1005, 1006 and 1015 are
  // only for reporting, 1004 and 1016-2999 reserved): answering one would echo it.
  const uint16_t c = out->code;
  const bool valid = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
  return valid;
}

void AppendWsClientFrame(std::string* out, WsOpcode op, std::string_view payload, uint32_t mask) {
  const size_t n = payload.size();
  unsigned char header[14];
  size_t h = 0;
  header[h++] = static_cast<unsigned char>(0x80 | static_cast<uint8_t>(op));
  if (n < 126) {
    header[h++] = static_cast<unsigned char>(0x80 | n);
  } else if (n <= 0xFFFF) {
    header[h++] = 0x80 | 126;
    header[h++] = static_cast<unsigned char>(n >> 8);
    header[h++] = static_cast<unsigned char>(n);
  } else {
    header[h++] = 0x80 | 127;
    for (int i = 0; i < 8; ++i) header[h++] = static_cast<unsigned char>(static_cast<uint64_t>(n) >> (56 - 8 * i));
  }
  unsigned char key[4] = {static_cast<unsigned char>(mask >> 24), static_cast<unsigned char>(mask >> 16),
                          static_cast<unsigned char>(mask >> 8), static_cast<unsigned char>(mask)};
  std::memcpy(header + h, key, 4);
  h += 4;
  const size_t start = out->size();
  out->resize(start + h + n);
  char* dst = out->data() + start;
  std::memcpy(dst, header, h);
  dst += h;
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<char>(payload[i] ^ key[i & 3]);
}

std::string WsClosePayload(int code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>((code >> 8) & 0xFF));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason.substr(0, 123));
  return out;
}

std::string NewWsKey() {
  unsigned char raw[16];
  RandomBytes(raw, sizeof(raw));
  return absl::Base64Escape(std::string(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

std::string WsAcceptFor(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  return absl::Base64Escape(std::string(reinterpret_cast<const char*>(md), sizeof(md)));
}

uint32_t NewWsMask() {
  unsigned char raw[4];
  RandomBytes(raw, sizeof(raw));
  return (uint32_t{raw[0]} << 24) | (uint32_t{raw[1]} << 16) | (uint32_t{raw[2]} << 8) | raw[3];
}

}  // namespace bx::net
