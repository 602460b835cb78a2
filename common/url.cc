#include "common/url.h"

#include <cctype>
#include <charconv>

#include "absl/strings/str_cat.h"

namespace bx {
namespace {

absl::StatusOr<uint16_t> ParsePort(std::string_view sv, const std::string& whole) {
  const std::string s(sv);
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port '", s, "' in '", whole, "': expected 0-65535"));
  }
  return static_cast<uint16_t>(v);
}

// A host name or IPv4 address (RFC 3986 reg-name without percent-encoding), or, for `ipv6`, the
// text between the brackets of an IPv6 literal (hex digits, ':' and '.', and a "%zone" suffix).
bool IsValidHost(std::string_view host, bool ipv6) {
  if (host.empty()) return false;
  size_t zone = ipv6 ? host.find('%') : std::string_view::npos;
  for (size_t i = 0; i < host.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(host[i]);
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool ok;
    if (!ipv6 || (zone != std::string_view::npos && i > zone)) {
      ok = alnum || c == '-' || c == '.' || c == '_' || c == '~';
    } else if (i == zone) {
      ok = i > 0 && i + 1 < host.size();
    } else {
      ok = std::isxdigit(c) || c == ':' || c == '.';
    }
    if (!ok) return false;
  }
  return !ipv6 || host.find(':') != std::string_view::npos;
}

absl::Status BadHost(std::string_view host, const std::string& whole) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad host '", std::string(host), "' in '", whole,
      "': expected a name or IPv4 address (letters, digits, '-', '.', '_', '~') or an IPv6 address in brackets"));
}

uint16_t DefaultPort(std::string_view scheme) {
  return (scheme == "wss" || scheme == "https") ? 443 : 80;
}

}  // namespace

std::string Url::HostHeader() const {
  std::string h = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  if (port != DefaultPort(scheme)) absl::StrAppend(&h, ":", port);
  return h;
}

std::string Url::ToString() const { return absl::StrCat(scheme, "://", HostHeader(), target); }

absl::StatusOr<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text_view) {
  const std::string text(text_view);
  std::string_view host, port;
  const std::string_view tv(text);
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", text, "': expected [IPv6]:PORT"));
    }
    host = tv.substr(1, close - 1);
    port = tv.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", text, "': expected HOST:PORT, e.g. 127.0.0.1:0"));
    }
    host = tv.substr(0, colon);
    port = tv.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", text, "': put IPv6 hosts in brackets, e.g. [::1]:0"));
    }
  }
  if (!IsValidHost(host, !text.empty() && text.front() == '[')) return BadHost(host, text);
  auto p = ParsePort(port, text);
  if (!p.ok()) return p.status();
  return std::make_pair(std::string(host), *p);
}

absl::StatusOr<Url> ParseUrl(std::string_view text_view) {
  const std::string text(text_view);
  const std::string_view tv(text);
  Url u;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad URL '", text, "': expected scheme://host[:port][/path]"));
  }
  u.scheme = std::string(tv.substr(0, sep));
  if (u.scheme != "ws" && u.scheme != "wss" && u.scheme != "http" && u.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("bad URL '", text, "': scheme must be ws, wss, http or https"));
  }
  std::string_view rest = tv.substr(sep + 3);
  auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!u.target.empty() && u.target.front() == '?') u.target = "/" + u.target;
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad URL '", text, "': missing host"));
  }
  if (authority.find('@') != std::string_view::npos) {
    // Never echoed: the part before '@' may be a password.
    return absl::InvalidArgumentError(
        "bad URL: user:password@ is not supported (the API key and secret come from files or the environment)");
  }
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad URL '", text, "': unclosed '['"));
    }
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("bad URL '", text, "'"));
      }
      auto p = ParsePort(after.substr(1), text);
      if (!p.ok()) return p.status();
      u.port = *p;
    } else {
      u.port = DefaultPort(u.scheme);
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      u.host = std::string(authority.substr(0, colon));
      auto p = ParsePort(authority.substr(colon + 1), text);
      if (!p.ok()) return p.status();
      u.port = *p;
    } else {
      u.host = std::string(authority);
      u.port = DefaultPort(u.scheme);
    }
  }
  if (u.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad URL '", text, "': missing host"));
  }
  if (!IsValidHost(u.host, authority.front() == '[')) return BadHost(u.host, text);
  // The target goes verbatim into the request line: visible ASCII only (no spaces, controls or
  // raw UTF-8, which must be percent-encoded). A fragment is never sent.
  if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
  for (const char ch : u.target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad URL '", text, "': the path and query must be visible ASCII; percent-encode spaces and other bytes"));
    }
  }
  return u;
}

}  // namespace bx
