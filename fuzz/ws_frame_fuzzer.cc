// The WebSocket client's frame decoder (common/net/ws_frame.h) on any byte stream from a server.
// Input: one byte choosing the chunk size (1..256), then the stream. The stream is decoded twice:
// whole, and cut into chunks the way reads deliver it (buffer, decode, consume, read more).
// Properties: the two give the same messages and the same ending (protocol error or not); no
// message is a continuation; control payloads are at most 125 bytes; data messages respect the
// size bound; every call makes progress or asks for more; errors are UNAVAILABLE "protocol
// error" or RESOURCE_EXHAUSTED "message too big".
#include <cstdint>
#include <string>
#include <vector>

#include "common/net/ws_frame.h"
#include "fuzz/fuzz_check.h"

namespace {

using bx::net::WsFrameDecoder;
using bx::net::WsOpcode;
constexpr size_t kMax = 4096;

struct Outcome {
  std::vector<std::pair<WsOpcode, std::string>> messages;
  std::string error;  // empty: no error
};

void CheckMessage(const WsFrameDecoder::Result& r) {
  FUZZ_CHECK(r.opcode != WsOpcode::kContinuation, "a continuation was returned as a message");
  const bool control = (static_cast<uint8_t>(r.opcode) & 0x8) != 0;
  FUZZ_CHECK(!control || r.payload.size() <= 125, "control payload of %zu bytes", r.payload.size());
  FUZZ_CHECK(r.payload.size() <= kMax, "message of %zu bytes over the bound", r.payload.size());
}

void CheckError(const WsFrameDecoder::Result& r) {
  const auto code = r.error.code();
  const std::string msg(r.error.message());
  FUZZ_CHECK((code == absl::StatusCode::kUnavailable && msg.rfind("protocol error: ", 0) == 0) ||
                 (code == absl::StatusCode::kResourceExhausted && msg.rfind("message too big", 0) == 0),
             "unexpected error %s", r.error.ToString().c_str());
}

// Feeds `stream` `chunk` bytes at a time through a buffer, as the client's read loop does.
Outcome Run(std::string_view stream, size_t chunk) {
  Outcome out;
  WsFrameDecoder d(kMax);
  std::string buffer;
  size_t fed = 0;
  while (true) {
    auto r = d.Decode(buffer.data(), buffer.size());
    FUZZ_CHECK(r.consumed <= buffer.size(), "consumed %zu of %zu", r.consumed, buffer.size());
    if (r.kind == WsFrameDecoder::Kind::kError) {
      CheckError(r);
      out.error = std::string(r.error.message());
      return out;
    }
    if (r.kind == WsFrameDecoder::Kind::kMessage) {
      FUZZ_CHECK(r.consumed > 0, "a message without progress");
      CheckMessage(r);
      out.messages.emplace_back(r.opcode, std::string(r.payload));
      buffer.erase(0, r.consumed);
      continue;
    }
    buffer.erase(0, r.consumed);
    if (r.need > 0) {
      FUZZ_CHECK(r.need > buffer.size(), "asks for %zu bytes with %zu buffered", r.need, buffer.size());
    }
    if (fed == stream.size()) return out;
    const size_t n = std::min(chunk, stream.size() - fed);
    buffer.append(stream.substr(fed, n));
    fed += n;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = size_t{data[0]} + 1;
  const std::string_view stream = bx::fuzz::AsText(data + 1, size - 1);
  const Outcome whole = Run(stream, stream.size() + 1);
  const Outcome cut = Run(stream, chunk);
  FUZZ_CHECK(whole.error == cut.error, "whole: '%s', in %zu-byte chunks: '%s'", whole.error.c_str(), chunk,
             cut.error.c_str());
  FUZZ_CHECK(whole.messages == cut.messages, "%zu messages whole, %zu in %zu-byte chunks", whole.messages.size(),
             cut.messages.size(), chunk);
  return 0;
}
