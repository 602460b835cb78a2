// Client side of RFC 6455 framing: decoding the server's frames and encoding the client's (masked)
// ones, plus the opening handshake's key and accept values. Pure logic, no I/O: the Beast adapter
// (beast_ws_client.cc) reads large chunks from the socket and decodes every frame they hold in one
// pass, instead of one composed read operation per frame (docs/BENCHMARKS.md, net).
//
// No extension is negotiated (the exchange offers no permessage-deflate), so any RSV bit is a
// protocol error. Text payloads are passed on without UTF-8 validation: the JSON parser that reads
// them validates UTF-8 itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace bx::net {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

/// Decodes server-to-client frames from a byte stream, reassembling fragmented messages. Control
/// frames may arrive between the fragments of a message, as RFC 6455 allows. Not thread-safe.
class WsFrameDecoder {
 public:
  enum class Kind {
    kNeedMore,  ///< no complete message in the input: read more (after consuming `consumed`)
    kMessage,   ///< a complete message (data or control)
    kError,     ///< a protocol violation: fail the connection
  };
  struct Result {
    Kind kind = Kind::kNeedMore;
    /// Bytes of the input used up, whatever the kind (fragments are copied out as they arrive).
    size_t consumed = 0;
    /// kMessage: kText, kBinary, kClose, kPing or kPong (never kContinuation).
    WsOpcode opcode = WsOpcode::kText;
    /// kMessage: the payload. Points into the input for a single-frame message, else into the
    /// decoder; valid until the next Decode() or until the input changes.
    std::string_view payload;
    /// kNeedMore: the input must hold at least this many bytes (counted from `data` after
    /// `consumed`) for the frame under way to complete; 0 when even its header is incomplete.
    size_t need = 0;
    /// kError: UNAVAILABLE ("protocol error: ...") or RESOURCE_EXHAUSTED ("message too big ...").
    absl::Status error;
  };

  explicit WsFrameDecoder(size_t max_message_bytes) : max_message_(max_message_bytes) {}

  /// Decodes from `data` (size bytes): at most one message per call.
  Result Decode(const char* data, size_t size);

 private:
  size_t max_message_;
  std::string partial_;                           // fragments of the message under way
  WsOpcode partial_op_ = WsOpcode::kContinuation;  // its opcode; kContinuation: none under way
};

/// A close frame's payload: status code (1005 when the frame carries none) and reason.
struct WsClose {
  int code = 1005;
  std::string_view reason;
};
/// Parses a close payload; false when it is malformed (a lone byte).
bool ParseWsClose(std::string_view payload, WsClose* out);

/// Appends one complete client frame (FIN set, masked with `mask`) to `out`.
void AppendWsClientFrame(std::string* out, WsOpcode op, std::string_view payload, uint32_t mask);
/// A close frame's payload for `code` and `reason` (reason cut to fit a control frame).
std::string WsClosePayload(int code, std::string_view reason = {});

/// 16 random bytes, base64: a fresh Sec-WebSocket-Key.
std::string NewWsKey();
/// The Sec-WebSocket-Accept a server must answer to `key`.
std::string WsAcceptFor(std::string_view key);
/// A random masking key (RFC 6455 asks for a strong source of entropy).
uint32_t NewWsMask();

}  // namespace bx::net
