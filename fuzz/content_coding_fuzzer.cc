// HTTP Content-Encoding decoding of REST replies (zlib). Input: the Content-Encoding value, a
// newline, then the body. Properties: no crash, leak or UB on corrupt, truncated or hostile
// (decompression-bomb) bodies; the output never exceeds the size bound; errors are statuses.
#include <cstdint>
#include <string>

#include "common/net/content_coding.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [encoding, body] = bx::fuzz::SplitLine(bx::fuzz::AsText(data, size));
  constexpr size_t kMax = 64 << 10;
  auto out = bx::net::DecodeContent(encoding, std::string(body), kMax);
  if (out.ok()) {
    FUZZ_CHECK(out->size() <= kMax, "decoded %zu bytes, bound %zu", out->size(), kMax);
  } else {
    const auto code = out.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnimplemented,
               "unexpected status %s", out.status().ToString().c_str());
  }
  return 0;
}
