// Unit tests of the client-side RFC 6455 codec (common/net/ws_frame.h).
#include "common/net/ws_frame.h"

#include <cstring>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "tests/net/test_util.h"

namespace bx::net {
namespace {

using ::testing::HasSubstr;
using Kind = WsFrameDecoder::Kind;

using testing::ServerFrame;
std::string Text(std::string_view p) { return ServerFrame(0x81, p); }

TEST(WsFrameDecoder, OneTextFrameIsReturnedWithoutACopy) {
  WsFrameDecoder d(1 << 20);
  const std::string in = Text("{\"ch\":\"trade\"}");
  auto r = d.Decode(in.data(), in.size());
  ASSERT_EQ(r.kind, Kind::kMessage);
  EXPECT_EQ(r.opcode, WsOpcode::kText);
  EXPECT_EQ(r.payload, "{\"ch\":\"trade\"}");
  EXPECT_EQ(r.payload.data(), in.data() + 2);
  EXPECT_EQ(r.consumed, in.size());
}

TEST(WsFrameDecoder, EveryLengthEncoding) {
  for (size_t n : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}, size_t{300000}}) {
    WsFrameDecoder d(1 << 20);
    const std::string payload(n, 'x');
    const std::string in = Text(payload);
    auto r = d.Decode(in.data(), in.size());
    ASSERT_EQ(r.kind, Kind::kMessage) << n;
    EXPECT_EQ(r.payload.size(), n);
    EXPECT_EQ(r.consumed, in.size());
  }
}

TEST(WsFrameDecoder, ManyFramesInOneBufferOnePerCall) {
  WsFrameDecoder d(1 << 20);
  std::string in;
  for (int i = 0; i < 100; ++i) in += Text(std::to_string(i));
  size_t pos = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = d.Decode(in.data() + pos, in.size() - pos);
    ASSERT_EQ(r.kind, Kind::kMessage);
    EXPECT_EQ(r.payload, std::to_string(i));
    pos += r.consumed;
  }
  EXPECT_EQ(pos, in.size());
  auto r = d.Decode(in.data() + pos, 0);
  EXPECT_EQ(r.kind, Kind::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(WsFrameDecoder, PartialHeaderAndPartialPayloadAskForMore) {
  WsFrameDecoder d(1 << 20);
  const std::string in = Text(std::string(1000, 'y'));  // 4-byte header
  for (size_t cut : {size_t{0}, size_t{1}, size_t{3}}) {
    auto r = d.Decode(in.data(), cut);
    EXPECT_EQ(r.kind, Kind::kNeedMore);
    EXPECT_EQ(r.need, 0u) << "header incomplete at " << cut;
  }
  auto r = d.Decode(in.data(), 500);
  EXPECT_EQ(r.kind, Kind::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(r.need, in.size());
  r = d.Decode(in.data(), in.size());
  EXPECT_EQ(r.kind, Kind::kMessage);
}

TEST(WsFrameDecoder, FragmentsAreReassembledAroundAPing) {
  WsFrameDecoder d(1 << 20);
  const std::string in = ServerFrame(0x01, "hel") + ServerFrame(0x89, "p1") + ServerFrame(0x00, "lo ") +
                         ServerFrame(0x80, "world") + Text("next");
  size_t pos = 0;
  auto r = d.Decode(in.data(), in.size());
  ASSERT_EQ(r.kind, Kind::kMessage);
  EXPECT_EQ(r.opcode, WsOpcode::kPing);
  EXPECT_EQ(r.payload, "p1");
  pos += r.consumed;
  // The rest arrives a byte at a time: the decoder keeps what it has consumed.
  std::string buffered;
  std::string message;
  for (size_t i = pos; i < in.size() && message.empty(); ++i) {
    buffered.push_back(in[i]);
    r = d.Decode(buffered.data(), buffered.size());
    buffered.erase(0, r.consumed);
    if (r.kind == Kind::kMessage) message = std::string(r.payload);
    ASSERT_NE(r.kind, Kind::kError) << r.error;
  }
  EXPECT_EQ(message, "hello world");
  EXPECT_EQ(r.opcode, WsOpcode::kText);
}

TEST(WsFrameDecoder, BinaryMessagesAreReportedAsBinary) {
  WsFrameDecoder d(1 << 20);
  const std::string in = ServerFrame(0x82, "\x01\x02");
  auto r = d.Decode(in.data(), in.size());
  ASSERT_EQ(r.kind, Kind::kMessage);
  EXPECT_EQ(r.opcode, WsOpcode::kBinary);
}

struct BadCase {
  const char* name;
  std::string bytes;
  const char* expect;
};

TEST(WsFrameDecoder, ProtocolViolationsAreErrors) {
  std::string huge_len = "\x81\x7f";
  huge_len += std::string("\x80\0\0\0\0\0\0\0", 8);
  const BadCase cases[] = {
      {"masked", ServerFrame(0x81, "x", /*masked=*/true), "masked frame from the server"},
      {"rsv1", ServerFrame(0xC1, "x"), "reserved bits"},
      {"opcode 3", ServerFrame(0x83, "x"), "unknown opcode 3"},
      {"opcode 0xB", ServerFrame(0x8B, ""), "unknown opcode 11"},
      {"fragmented ping", ServerFrame(0x09, "x"), "fragmented control frame"},
      {"long ping", ServerFrame(0x89, std::string(126, 'p')), "control frame over 125 bytes"},
      {"lone continuation", ServerFrame(0x80, "x"), "continuation frame without a message"},
      {"interleaved message", ServerFrame(0x01, "a") + ServerFrame(0x81, "b"), "new message before"},
      {"64-bit length msb", huge_len, "most significant bit"},
  };
  for (const auto& c : cases) {
    WsFrameDecoder d(1 << 20);
    WsFrameDecoder::Result r;
    size_t pos = 0;
    do {
      r = d.Decode(c.bytes.data() + pos, c.bytes.size() - pos);
      pos += r.consumed;
    } while (r.kind == Kind::kNeedMore && r.consumed > 0);
    ASSERT_EQ(r.kind, Kind::kError) << c.name;
    EXPECT_EQ(r.error.code(), absl::StatusCode::kUnavailable) << c.name;
    EXPECT_THAT(std::string(r.error.message()), HasSubstr("protocol error: ")) << c.name;
    EXPECT_THAT(std::string(r.error.message()), HasSubstr(c.expect)) << c.name;
  }
}

TEST(WsFrameDecoder, MessagesOverTheLimitAreRefusedBeforeTheirPayloadArrives) {
  WsFrameDecoder d(1000);
  const std::string big = Text(std::string(1001, 'z'));
  auto r = d.Decode(big.data(), 4);  // the header alone
  ASSERT_EQ(r.kind, Kind::kError);
  EXPECT_EQ(r.error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r.error.message()), HasSubstr("message too big: over max_message_bytes (1000)"));

  WsFrameDecoder f(1000);  // the limit counts the whole reassembled message
  const std::string parts = ServerFrame(0x01, std::string(600, 'a')) + ServerFrame(0x80, std::string(600, 'b'));
  r = f.Decode(parts.data(), parts.size());
  ASSERT_EQ(r.kind, Kind::kError);
  EXPECT_EQ(r.error.code(), absl::StatusCode::kResourceExhausted);

  WsFrameDecoder g(1000);  // a finished message does not count against the next one
  const std::string two = ServerFrame(0x01, std::string(600, 'a')) + ServerFrame(0x80, "") +
                          ServerFrame(0x01, std::string(600, 'c')) + ServerFrame(0x80, "");
  size_t pos = 0;
  for (int i = 0; i < 2; ++i) {
    r = g.Decode(two.data() + pos, two.size() - pos);
    ASSERT_EQ(r.kind, Kind::kMessage) << r.error;
    EXPECT_EQ(r.payload.size(), 600u);
    pos += r.consumed;
  }
}

TEST(WsClose, ParsesCodeAndReason) {
  WsClose c;
  ASSERT_TRUE(ParseWsClose("", &c));
  EXPECT_EQ(c.code, 1005);
  ASSERT_TRUE(ParseWsClose(std::string("\x0f\xa1") + "bye", &c));
  EXPECT_EQ(c.code, 4001);
  EXPECT_EQ(c.reason, "bye");
  EXPECT_FALSE(ParseWsClose("\x03", &c));
  // Codes that may never be sent in a close frame are a protocol error, not something to echo.
  for (uint16_t bad : {999, 1004, 1005, 1006, 1015, 1016, 2999, 5000}) {
    EXPECT_FALSE(ParseWsClose(WsClosePayload(bad), &c)) << bad;
  }
  for (uint16_t good : {1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999}) {
    EXPECT_TRUE(ParseWsClose(WsClosePayload(good), &c)) << good;
  }
  EXPECT_EQ(WsClosePayload(1000), std::string("\x03\xe8", 2));
  EXPECT_EQ(WsClosePayload(4001, std::string(200, 'r')).size(), 125u);
}

TEST(WsClientFrame, IsMaskedAndUnmasksToThePayload) {
  for (size_t n : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string out = "prefix";
    AppendWsClientFrame(&out, WsOpcode::kText, payload, 0xA1B2C3D4);
    const auto* p = reinterpret_cast<const unsigned char*>(out.data() + 6);
    EXPECT_EQ(p[0], 0x81);
    ASSERT_TRUE(p[1] & 0x80) << "client frames must be masked";
    size_t len = p[1] & 0x7F, h = 2;
    if (len == 126) {
      len = (size_t{p[2]} << 8) | p[3];
      h = 4;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      h = 10;
    }
    ASSERT_EQ(len, n);
    const unsigned char key[4] = {0xA1, 0xB2, 0xC3, 0xD4};
    ASSERT_EQ(std::memcmp(p + h, key, 4), 0);
    ASSERT_EQ(out.size(), 6 + h + 4 + n);
    std::string unmasked(n, '\0');
    for (size_t i = 0; i < n; ++i) unmasked[i] = static_cast<char>(p[h + 4 + i] ^ key[i & 3]);
    EXPECT_EQ(unmasked, payload) << n;
    EXPECT_EQ(out.substr(0, 6), "prefix");
  }
}

TEST(WsHandshake, AcceptValueMatchesTheRfcExample) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(WsAcceptFor("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshake, KeysAreSixteenRandomBytes) {
  const std::string a = NewWsKey(), b = NewWsKey();
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(a, &raw));
  EXPECT_EQ(raw.size(), 16u);
  EXPECT_NE(a, b);
  std::set<uint32_t> masks;
  for (int i = 0; i < 64; ++i) masks.insert(NewWsMask());
  EXPECT_GT(masks.size(), 60u) << "masking keys must not repeat";
}

}  // namespace
}  // namespace bx::net
