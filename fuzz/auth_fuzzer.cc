// Who may call the order API: the tokens file (operator input) and the `authorization` metadata
// and client-certificate identity of every call (anyone's input, before authentication). Input
// lines: the authorization value, the peer identity, a flags byte (bit 0: mTLS on), then the
// tokens file. Properties:
// - apart from the names it quotes, a tokens-file error never quotes a second or third field of
//   16+ characters (a token, or a token written in the wrong column); accepted tokens are 16+
//   characters, names and tokens unique;
// - Authenticate lets a call in only for "Bearer <configured token>" (scheme case-insensitive),
//   as that token's name and role, or, with mTLS on and no authorization value, as the verified
//   peer; every refusal is UNAUTHENTICATED and quotes no token.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "fuzz/fuzz_check.h"
#include "services/orders/auth.h"

namespace {

namespace o = ::bx::orders;

bool Contains(std::string_view haystack, std::string_view needle) {
  return !needle.empty() && haystack.find(needle) != std::string_view::npos;
}

struct Columns {
  std::vector<std::string> names;    ///< first column (errors may quote these)
  std::vector<std::string> secrets;  ///< second or third column, 16+ characters
};

Columns SplitColumns(std::string_view text) {
  Columns out;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (!parts.empty()) out.names.push_back(parts[0]);
    for (size_t i = 1; i < parts.size() && i < 3; ++i) {
      if (parts[i].size() >= 16) out.secrets.push_back(parts[i]);
    }
  }
  return out;
}

// `msg` with every quoted name cut out: a name is the operator's label and may be quoted, even
// when it happens to contain the text of some token.
std::string WithoutNames(std::string msg, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (n.empty()) continue;
    for (size_t at = msg.find(n); at != std::string::npos; at = msg.find(n, at)) msg.erase(at, n.size());
  }
  return msg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [authorization, rest1] = bx::fuzz::SplitLine(bx::fuzz::AsText(data, size));
  auto [peer, rest2] = bx::fuzz::SplitLine(rest1);
  auto [flags, tokens_text] = bx::fuzz::SplitLine(rest2);

  auto tokens = o::ParseTokens(tokens_text);
  if (!tokens.ok()) {
    const Columns columns = SplitColumns(tokens_text);
    const std::string msg = WithoutNames(std::string(tokens.status().message()), columns.names);
    for (const auto& secret : columns.secrets) {
      FUZZ_CHECK(!Contains(msg, secret), "tokens-file error quotes a 16+ character field: %s",
                 std::string(tokens.status().message()).c_str());
    }
    return 0;
  }
  std::set<std::string> names, values;
  for (const auto& t : *tokens) {
    FUZZ_CHECK(t.token.size() >= 16, "accepted a %zu-character token", t.token.size());
    FUZZ_CHECK(names.insert(t.name).second && values.insert(t.token).second, "duplicate name or token accepted");
  }

  o::AuthOptions options;
  options.mtls = !flags.empty() && (static_cast<unsigned char>(flags[0]) & 1) != 0;
  o::Authenticator auth(*tokens, options);
  auto caller = auth.Authenticate(authorization, peer);
  if (!caller.ok()) {
    FUZZ_CHECK(caller.status().code() == absl::StatusCode::kUnauthenticated, "refusal with %s",
               caller.status().ToString().c_str());
    const std::string msg(caller.status().message());
    for (const auto& t : *tokens) FUZZ_CHECK(!Contains(msg, t.token), "refusal quotes a configured token");
    return 0;
  }
  if (authorization.empty()) {
    FUZZ_CHECK(options.mtls && !peer.empty() && caller->name == "mtls:" + std::string(peer),
               "let in without a token as '%s'", caller->name.c_str());
    return 0;
  }
  const std::string scheme = absl::AsciiStrToLower(std::string(authorization.substr(0, 7)));
  FUZZ_CHECK(scheme == "bearer ", "let in with scheme '%s'", scheme.c_str());
  std::string_view presented = authorization.substr(7);
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  const o::TokenEntry* match = nullptr;
  for (const auto& t : *tokens) {
    if (t.token == presented) match = &t;
  }
  FUZZ_CHECK(match != nullptr, "let in with a token that is not configured");
  FUZZ_CHECK(caller->name == match->name && caller->role == match->role, "let in as '%s', token of '%s'",
             caller->name.c_str(), match->name.c_str());
  return 0;
}
