#include "common/net/content_coding.h"

#include <zlib.h>

#include <gtest/gtest.h>

namespace bx::net {
namespace {

std::string Deflate(const std::string& in, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::string kJson = [] {
  std::string s = "{\"code\":0,\"data\":[";
  for (int i = 0; i < 2000; ++i) s += "[\"60000." + std::to_string(i) + "\",\"0.5\"],";
  return s + "[]]}";
}();

TEST(DecodeContent, IdentityAndEmptyPassThrough) {
  EXPECT_EQ(*DecodeContent("", "abc", 100), "abc");
  EXPECT_EQ(*DecodeContent("identity", "abc", 100), "abc");
  EXPECT_EQ(*DecodeContent("gzip", "", 100), "");
}

TEST(DecodeContent, Gzip) {
  auto r = DecodeContent("gzip", Deflate(kJson, 16 + MAX_WBITS), 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, kJson);
  r = DecodeContent(" X-GZIP ", Deflate(kJson, 16 + MAX_WBITS), 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, kJson);
}

TEST(DecodeContent, ConcatenatedGzipMembers) {
  auto r = DecodeContent("gzip", Deflate("abc", 16 + MAX_WBITS) + Deflate("def", 16 + MAX_WBITS), 100);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "abcdef");
}

TEST(DecodeContent, DeflateZlibWrappedAndRaw) {
  auto z = DecodeContent("deflate", Deflate(kJson, MAX_WBITS), 1 << 20);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(*z, kJson);
  auto raw = DecodeContent("deflate", Deflate(kJson, -MAX_WBITS), 1 << 20);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, kJson);
}

TEST(DecodeContent, StackedCodingsAreUndoneInReverse) {
  const std::string twice = Deflate(Deflate(kJson, MAX_WBITS), 16 + MAX_WBITS);
  auto r = DecodeContent("deflate, gzip", twice, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, kJson);
}

TEST(DecodeContent, TruncatedCorruptAndTooLargeAreInternal) {
  const std::string gz = Deflate(kJson, 16 + MAX_WBITS);
  auto truncated = DecodeContent("gzip", gz.substr(0, gz.size() / 2), 1 << 20);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos) << truncated.status();
  auto corrupt = DecodeContent("gzip", "\x1f\x8b not really gzip", 1 << 20);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kInternal);
  auto big = DecodeContent("gzip", gz, 1000);  // a decompression bomb is stopped at the limit
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(big.status().message().find("limit"), std::string::npos) << big.status();
}

TEST(DecodeContent, UnknownCodingIsUnimplemented) {
  EXPECT_EQ(DecodeContent("br", "xyz", 100).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace bx::net
