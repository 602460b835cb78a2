#include "common/net/content_coding.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/strings/str_cat.h"

namespace bx::net {
namespace {

enum class Wrapper { kGzip, kZlib, kRaw };

int WindowBits(Wrapper w) {
  switch (w) {
    case Wrapper::kGzip:
      return 16 + MAX_WBITS;
    case Wrapper::kZlib:
      return MAX_WBITS;
    case Wrapper::kRaw:
      return -MAX_WBITS;
  }
  return MAX_WBITS;
}

// Inflates every member of `in` (gzip allows several concatenated members).
absl::StatusOr<std::string> Inflate(std::string_view in, Wrapper wrapper, size_t max_bytes) {
  std::string out;
  z_stream zs{};
  if (inflateInit2(&zs, WindowBits(wrapper)) != Z_OK) {
    return absl::InternalError("zlib: inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char chunk[16384];
  int rc = Z_OK;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = sizeof(chunk) - zs.avail_out;
    if (out.size() + produced > max_bytes) {
      inflateEnd(&zs);
      return absl::InternalError(
          absl::StrCat("decoded body exceeds the limit of ", max_bytes, " bytes"));
    }
    out.append(chunk, produced);
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow; trailing garbage after zlib/raw data is an error.
      if (zs.avail_in == 0) break;
      if (wrapper != Wrapper::kGzip) {
        inflateEnd(&zs);
        return absl::InternalError("zlib: trailing bytes after the compressed stream");
      }
      if (inflateReset(&zs) != Z_OK) {
        inflateEnd(&zs);
        return absl::InternalError("zlib: inflateReset failed");
      }
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      return absl::InternalError("compressed body is truncated");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string msg = zs.msg != nullptr ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      return absl::InternalError(absl::StrCat("corrupt compressed body: ", msg));
    }
    if (rc == Z_BUF_ERROR && produced == 0) {
      inflateEnd(&zs);
      return absl::InternalError("compressed body is truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

absl::StatusOr<std::string> DecodeContent(std::string_view encoding, std::string body,
                                          size_t max_bytes) {
  std::vector<std::string> codings;
  while (!encoding.empty()) {
    const size_t comma = encoding.find(',');
    std::string_view item = Trim(encoding.substr(0, comma));
    if (!item.empty()) codings.push_back(Lower(item));
    if (comma == std::string_view::npos) break;
    encoding.remove_prefix(comma + 1);
  }
  // Codings are listed in the order they were applied: undo them last to first.
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    const std::string& c = *it;
    if (c == "identity" || body.empty()) continue;  // an empty body has nothing to decode
    if (c == "gzip" || c == "x-gzip") {
      auto r = Inflate(body, Wrapper::kGzip, max_bytes);
      if (!r.ok()) return r.status();
      body = std::move(*r);
    } else if (c == "deflate") {
      auto r = Inflate(body, Wrapper::kZlib, max_bytes);
      if (!r.ok()) r = Inflate(body, Wrapper::kRaw, max_bytes);
      if (!r.ok()) return r.status();
      body = std::move(*r);
    } else {
      return absl::UnimplementedError(absl::StrCat("unsupported Content-Encoding '", c, "'"));
    }
  }
  if (body.size() > max_bytes) {
    return absl::InternalError(absl::StrCat("body exceeds the limit of ", max_bytes, " bytes"));
  }
  return body;
}

}  // namespace bx::net
