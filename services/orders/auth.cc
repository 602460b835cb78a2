#include "services/orders/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/signing.h"
#include "services/orders/errors.h"

namespace bx::orders {

std::string_view RoleName(Role r) { return r == Role::kTrading ? "trading" : "read-only"; }

// Longest role text an error message repeats (the longest valid one, "read-only", has 9).
constexpr size_t kMaxEchoedRole = 12;

absl::StatusOr<std::vector<TokenEntry>> ParseTokens(std::string_view text, bool* revoke_all) {
  std::vector<TokenEntry> out;
  std::set<std::string> names, tokens;
  int line_no = 0;
  int revoke_line = 0;  // the line that says revoke-all (0: none)
  std::vector<std::string> lines = absl::StrSplit(std::string(text), '\n');
  for (const std::string& raw : lines) {
    ++line_no;
    std::string line = std::string(absl::StripAsciiWhitespace(raw));
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() == 1 && parts[0] == kRevokeAllLine) {
      if (revoke_line == 0) revoke_line = line_no;
      continue;
    }
    if (parts.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file line ", line_no, ": expected '<name> <read|trade> <token>' (", parts.size(),
                       " fields found)"));
    }
    TokenEntry e;
    e.name = parts[0];
    const std::string role = absl::AsciiStrToLower(parts[1]);
    if (role == "read" || role == "read-only" || role == "readonly") {
      e.role = Role::kReadOnly;
    } else if (role == "trade" || role == "trading") {
      e.role = Role::kTrading;
    } else {
      // The role is echoed only when it is short: a long second field is most likely a token written
      // in the wrong place, and errors never carry a token.
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens file line ", line_no, ": the role (second field) must be read or trade",
          parts[1].size() <= kMaxEchoedRole ? absl::StrCat(", not '", parts[1], "'")
                                            : absl::StrCat(", not a ", parts[1].size(),
                                                           "-character value (is the token in the wrong place?)")));
    }
    e.token = parts[2];
    if (e.token.size() < 16) {
      // The name is not echoed: on a line written in the wrong order it is the token.
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens file line ", line_no,
          ": token (third field) too short (at least 16 characters; is the token in the wrong place?)"));
    }
    if (!names.insert(e.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("tokens file line ", line_no,
                                                     ": duplicate name (the first field is already used above)"));
    }
    if (!tokens.insert(e.token).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file line ", line_no, ": this token is already used by another name"));
    }
    out.push_back(std::move(e));
  }
  if (revoke_line != 0 && !out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tokens file line ", revoke_line, ": '", kRevokeAllLine,
                                                   "' revokes every token, so the file must hold no token lines (",
                                                   out.size(), " found)"));
  }
  if (revoke_all != nullptr) *revoke_all = revoke_line != 0;
  return out;
}

namespace {

bool SameVersion(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

absl::StatusOr<std::string> ReadTokensText(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("cannot read the tokens file ", path));
  struct stat before {};
  struct stat after {};
  std::string text;
  bool read_ok = ::fstat(fd, &before) == 0 && S_ISREG(before.st_mode);
  char buf[4096];
  while (read_ok) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read_ok = false;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  read_ok = read_ok && ::fstat(fd, &after) == 0;
  ::close(fd);
  if (!read_ok) return absl::InvalidArgumentError(absl::StrCat("cannot read the tokens file ", path));
  if (!SameVersion(before, after) || static_cast<off_t>(text.size()) != after.st_size) {
    return absl::UnavailableError(
        absl::StrCat("the tokens file ", path, " changed while it was read (being written?)"));
  }
  return text;
}

absl::StatusOr<TokensFile> TokensFromText(const std::string& path, std::string text) {
  const std::string revoke_hint =
      absl::StrCat("to revoke every token, write a line '", kRevokeAllLine, "' (and nothing else but comments)");
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the tokens file ", path, " is empty; ", revoke_hint));
  }
  // A last line without a newline is accepted: `kubectl create secret --from-literal` and `echo -n`
  // write none, and a Secret mount is replaced atomically. A file still being written is caught by
  // the reload's settle rule instead (the same bytes at two checks in a row, TokenReloader).
  bool revoke_all = false;
  auto tokens = ParseTokens(text, &revoke_all);
  if (!tokens.ok()) return tokens.status();
  if (tokens->empty() && !revoke_all) {
    return absl::InvalidArgumentError(absl::StrCat("the tokens file ", path, " has no tokens; ", revoke_hint));
  }
  return TokensFile{std::move(*tokens), std::move(text)};
}

absl::StatusOr<TokensFile> ReadTokensFile(const std::string& path) {
  auto text = ReadTokensText(path);
  if (!text.ok()) return text.status();
  return TokensFromText(path, std::move(*text));
}

std::shared_ptr<const std::vector<Authenticator::KnownToken>> Authenticator::Known(std::vector<TokenEntry> tokens) {
  std::vector<KnownToken> known;
  known.reserve(tokens.size());
  for (auto& t : tokens) {
    const Sha256Digest digest = Sha256(t.token);
    known.push_back({std::move(t), digest});
  }
  return std::make_shared<const std::vector<KnownToken>>(std::move(known));
}

Authenticator::Authenticator(std::vector<TokenEntry> tokens, AuthOptions options)
    : tokens_(Known(std::move(tokens))), options_(options) {}

void Authenticator::SetTokens(std::vector<TokenEntry> tokens) {
  auto next = Known(std::move(tokens));
  std::lock_guard<std::mutex> lock(mu_);
  tokens_ = std::move(next);
}

size_t Authenticator::token_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_->size();
}

absl::StatusOr<Caller> Authenticator::Authenticate(std::string_view authorization,
                                                   std::string_view peer_identity) const {
  std::shared_ptr<const std::vector<KnownToken>> tokens;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tokens = tokens_;
  }
  if (!authorization.empty()) {
    std::string_view value = authorization;
    constexpr std::string_view kBearer = "bearer ";
    if (value.size() <= kBearer.size() ||
        absl::AsciiStrToLower(std::string(value.substr(0, kBearer.size()))) != kBearer) {
      return MakeError(absl::StatusCode::kUnauthenticated,
                       "authorization metadata must be 'Bearer <token>'", reason::kUnauthenticated);
    }
    value.remove_prefix(kBearer.size());
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    // Compare digests with every token (no early exit), so timing tells neither which one
    // matched nor how much of one did.
    const Sha256Digest presented = Sha256(value);
    const TokenEntry* match = nullptr;
    for (const auto& t : *tokens) {
      if (DigestsEqual(presented, t.digest) && match == nullptr) match = &t.entry;
    }
    if (match == nullptr) {
      return MakeError(absl::StatusCode::kUnauthenticated, "invalid bearer token", reason::kUnauthenticated);
    }
    return Caller{match->name, match->role};
  }
  if (options_.mtls && !peer_identity.empty()) {
    return Caller{absl::StrCat("mtls:", std::string(peer_identity)), options_.mtls_role};
  }
  if (options_.insecure_no_auth) return Caller{"anonymous", Role::kTrading};
  return MakeError(absl::StatusCode::kUnauthenticated,
                   options_.mtls ? "no client certificate identity and no bearer token"
                                 : "missing credentials: send metadata 'authorization: Bearer <token>'",
                   reason::kUnauthenticated);
}

absl::Status Authenticator::Authorize(const Caller& caller, bool state_changing, std::string_view method) {
  if (!state_changing || caller.role == Role::kTrading) return absl::OkStatus();
  return MakeError(absl::StatusCode::kPermissionDenied,
                   absl::StrCat(std::string(method), " changes state; caller ", caller.name,
                                " has a read-only token (use a trading token)"),
                   reason::kPermissionDenied);
}

}  // namespace bx::orders
