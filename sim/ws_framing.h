// Server-side WebSocket framing (RFC 6455), kept in the simulator so it controls every byte: frames
// are encoded once and many are coalesced into one socket write (the firehose), sockets can be
// dropped without a close frame (live idle behaviour), a protocol ping as the first client frame
// can kill the socket, and bad frames (binary, truncated) can be injected on purpose.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bx::sim {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

/// Header (unmasked, FIN set) + payload: one complete server-to-client frame.
std::string EncodeServerFrame(WsOpcode op, std::string_view payload);
/// Size of the header EncodeServerFrame writes for a payload of `n` bytes.
size_t ServerFrameHeaderSize(size_t payload_size);
/// Writes that header into `out` (at least 10 bytes); returns its size.
size_t WriteServerFrameHeader(char* out, WsOpcode op, size_t payload_size);

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string WsAcceptKey(std::string_view client_key);

/// Reassembles client frames (masked, possibly fragmented) into messages. Not thread-safe.
class WsFrameParser {
 public:
  struct Message {
    WsOpcode opcode;  ///< kText, kBinary, kClose, kPing, kPong (continuations are reassembled)
    std::string payload;
  };
  explicit WsFrameParser(size_t max_message_bytes = 1 << 20) : max_message_(max_message_bytes) {}

  void Feed(std::string_view bytes) { buffer_.append(bytes.data(), bytes.size()); }
  /// Next complete message, nullopt when more bytes are needed. On a protocol violation (unmasked
  /// client frame, oversize, bad opcode, fragmented control frame) sets *error and returns nullopt.
  std::optional<Message> Next(std::string* error);

 private:
  std::string buffer_;
  size_t pos_ = 0;
  size_t max_message_;
  std::string partial_;
  std::optional<WsOpcode> partial_op_;
};

}  // namespace bx::sim
