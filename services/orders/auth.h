// Who may call the order API. Closed by default: callers present a bearer token from the tokens
// file (compared in constant time; each token read-only or trading) and/or a client certificate
// verified by mTLS. Transport-free: the gRPC adapter passes the `authorization` metadata value and
// the verified peer identity.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/signing.h"

namespace bx::orders {

enum class Role { kReadOnly, kTrading };
std::string_view RoleName(Role r);

struct Caller {
  std::string name;  ///< the token's name, "mtls:<identity>", or "anonymous" (insecure dev mode)
  Role role = Role::kReadOnly;
};

struct TokenEntry {
  std::string name;
  Role role = Role::kReadOnly;
  std::string token;
};

/// Tokens file: one token per line, `<name> <role> <token>`, role `read` or `trade` (also
/// `read-only`/`readonly`/`trading`); blank lines and `#` comments ignored. Tokens need at least
/// 16 characters; names and tokens must be unique. A line `revoke-all`, alone in the file, is the
/// deliberate way to have no tokens (`*revoke_all` set; an empty list otherwise just means no
/// tokens were found). Errors name the line, never the token.
absl::StatusOr<std::vector<TokenEntry>> ParseTokens(std::string_view text, bool* revoke_all = nullptr);

/// The line that revokes every token (ParseTokens).
inline constexpr char kRevokeAllLine[] = "revoke-all";

/// A tokens file as read: its tokens and the text they came from.
struct TokensFile {
  std::vector<TokenEntry> tokens;
  std::string text;
};
/// Reads `path` whole, as it is on disk (nothing trimmed). UNAVAILABLE when the file changed
/// while it was read (its size or modification time moved, or fewer or more bytes than its size
/// came back): a writer is at work, read it again later. Any other failure is INVALID_ARGUMENT.
absl::StatusOr<std::string> ReadTokensText(const std::string& path);
/// Checks and parses a tokens file's text (`path` only names it in errors). Refused: an empty
/// text, a text whose last line does not end with a newline (a file cut short, or caught while
/// being written), a bad line, and a file without tokens unless it says `revoke-all` (then the
/// token list is empty).
absl::StatusOr<TokensFile> TokensFromText(const std::string& path, std::string text);
/// ReadTokensText, then TokensFromText. Errors name the file (and the line), never a token.
absl::StatusOr<TokensFile> ReadTokensFile(const std::string& path);

struct AuthOptions {
  /// Development only: with no tokens and no mTLS, let every call through as "anonymous".
  bool insecure_no_auth = false;
  /// Clients verified by mTLS (and presenting no token) get this role.
  bool mtls = false;
  Role mtls_role = Role::kTrading;
};

class Authenticator {
 public:
  Authenticator(std::vector<TokenEntry> tokens, AuthOptions options);

  /// Thread-safe. `authorization`: the metadata value ("" if absent); `peer_identity`: the
  /// verified client-certificate identity ("" if none). UNAUTHENTICATED on failure.
  absl::StatusOr<Caller> Authenticate(std::string_view authorization, std::string_view peer_identity) const;

  /// PERMISSION_DENIED for a read-only caller on a state-changing call.
  static absl::Status Authorize(const Caller& caller, bool state_changing, std::string_view method);

  /// Thread-safe. Replaces the token set (file reload).
  void SetTokens(std::vector<TokenEntry> tokens);
  size_t token_count() const;
  const AuthOptions& options() const { return options_; }

 private:
  /// A token and its digest, computed once: a call hashes the presented token once and compares
  /// digests, in constant time, with every known one.
  struct KnownToken {
    TokenEntry entry;
    Sha256Digest digest;
  };
  static std::shared_ptr<const std::vector<KnownToken>> Known(std::vector<TokenEntry> tokens);

  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<KnownToken>> tokens_;
  AuthOptions options_;
};

}  // namespace bx::orders
