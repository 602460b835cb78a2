// Integration: the exchange port's REST connection knobs against an in-process simulator: opt-in
// gzip replies (--gzip-replies, POST /control/gzip_replies) and closing idle keep-alive
// connections (POST /control/close_idle_rest, --rest-idle-timeout). Raw sockets, so the test sees
// exactly what went over the wire and when the server closed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <optional>
#include <string>

#include "tests/sim/sim_test_util.h"

namespace bx::sim::testing {
namespace {

using std::chrono::steady_clock;

constexpr const char* kDepth = "/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1";

// An independent decoder (not the gateway's DecodeContent): nullopt unless `in` is one complete
// gzip member.
std::optional<std::string> Gunzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  int rc = Z_OK;
  char chunk[16384];
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof(chunk) - zs.avail_out);
  }
  const bool whole = rc == Z_STREAM_END && zs.avail_in == 0;
  inflateEnd(&zs);
  if (!whole) return std::nullopt;
  return out;
}

template <class T>
bool ParseNumber(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

struct RawReply {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

// One keep-alive HTTP/1.1 connection over a plain socket; every read bounded by poll().
class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConn() { ::close(fd_); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool connected() const { return connected_; }
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  static std::string Get(const std::string& target, const std::string& extra_headers = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
  }
  /// One response (the simulator always sends Content-Length); nullopt on EOF or timeout.
  std::optional<RawReply> Read(milliseconds timeout = milliseconds(5000)) {
    const auto deadline = steady_clock::now() + timeout;
    size_t header_end;
    while ((header_end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    RawReply r;
    std::string_view head(in_.data(), header_end);
    const size_t first_eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, first_eol);
    if (status_line.size() < 12 || !ParseNumber(status_line.substr(9, 3), &r.status)) return std::nullopt;
    size_t length = 0;
    for (size_t pos = first_eol + 2; pos < head.size();) {
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string_view::npos) eol = head.size();
      std::string_view line = head.substr(pos, eol - pos);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        r.headers[Lower(line.substr(0, colon))] = std::string(value);
      }
      pos = eol + 2;
    }
    if (auto it = r.headers.find("content-length"); it != r.headers.end() && !ParseNumber(it->second, &length)) {
      return std::nullopt;
    }
    while (in_.size() < header_end + 4 + length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    r.body = in_.substr(header_end + 4, length);
    in_.erase(0, header_end + 4 + length);
    return r;
  }
  /// True when the server closes (EOF or reset) within `timeout`, with no byte before it.
  bool ClosedByServer(milliseconds timeout = milliseconds(3000)) {
    const auto deadline = steady_clock::now() + timeout;
    while (Fill(deadline)) {
    }
    return eof_ && in_.empty();
  }

 private:
  // Reads what is there, waiting until `deadline`; false on EOF, error or timeout.
  bool Fill(steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0))) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
};

int64_t StatInt(const Simulator& sim, const char* name) { return Stats(sim)[name].get<int64_t>(); }

class RestKeepAliveTest : public ::testing::Test {
 protected:
  void Start(SimConfig cfg) {
    cfg.rest_rate_limits = false;
    sim_ = StartSim(cfg);
    ASSERT_NE(sim_, nullptr);
  }
  // An idle keep-alive connection: one request answered, the connection kept.
  std::unique_ptr<RawConn> IdleConn() {
    auto c = std::make_unique<RawConn>(sim_->port());
    EXPECT_TRUE(c->connected());
    EXPECT_TRUE(c->Send(RawConn::Get(kDepth)));
    auto r = c->Read();
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(r ? r->status : 0, 200);
    return c;
  }
  std::unique_ptr<Simulator> sim_;
};

TEST_F(RestKeepAliveTest, GzipRepliesAreOffByDefaultAndFollowTheControlSwitch) {
  Start(FastConfig());
  EXPECT_EQ(Stats(*sim_)["gzip_replies"], false);
  RawConn c(sim_->port());
  ASSERT_TRUE(c.connected());
  const std::string accept = "Accept-Encoding: gzip\r\n";
  ASSERT_TRUE(c.Send(RawConn::Get(kDepth, accept)));
  auto plain = c.Read();
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->headers.count("content-encoding"), 0u);
  EXPECT_EQ(Json::parse(plain->body)["code"], 0);

  EXPECT_EQ(Control(*sim_, "gzip_replies", {{"enabled", true}})["ok"], true);
  EXPECT_EQ(Stats(*sim_)["gzip_replies"], true);
  ASSERT_TRUE(c.Send(RawConn::Get("/api/v1/futures/market/trading_pairs", accept)));
  auto gz = c.Read();
  ASSERT_TRUE(gz.has_value());
  EXPECT_EQ(gz->headers["content-encoding"], "gzip");
  EXPECT_EQ(gz->headers["vary"], "Accept-Encoding");
  auto body = Gunzip(gz->body);
  ASSERT_TRUE(body.has_value()) << "not a gzip body";
  EXPECT_LT(gz->body.size(), body->size());
  auto j = Json::parse(*body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << *body;
  EXPECT_EQ(j["code"], 0);
  EXPECT_FALSE(j["data"].empty());
  EXPECT_EQ(StatInt(*sim_, "gzip_replies_sent"), 1);

  // Only for clients that accept it.
  for (const std::string& headers : {std::string(), std::string("Accept-Encoding: gzip;q=0, identity\r\n"),
                                     std::string("Accept-Encoding: deflate\r\n")}) {
    ASSERT_TRUE(c.Send(RawConn::Get(kDepth, headers)));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->headers.count("content-encoding"), 0u) << headers;
    EXPECT_EQ(Json::parse(r->body)["code"], 0) << headers;
  }
  EXPECT_EQ(StatInt(*sim_, "gzip_replies_sent"), 1);

  // Reset puts the command-line value (off) back; a bad value is refused and changes nothing.
  HttpTestClient control(sim_->control_url());
  EXPECT_EQ(control.Post("/control/gzip_replies", R"({"enabled":"yes"})").status, 400);
  EXPECT_EQ(Stats(*sim_)["gzip_replies"], true);
  Control(*sim_, "reset", Json::object());
  EXPECT_EQ(Stats(*sim_)["gzip_replies"], false);
  ASSERT_TRUE(c.Send(RawConn::Get(kDepth, accept)));
  auto after = c.Read();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->headers.count("content-encoding"), 0u);
}

TEST_F(RestKeepAliveTest, GzipRepliesFlagCoversSignedCallsAndInjectedFaults) {
  SimConfig cfg = FastConfig();
  cfg.gzip_replies = true;
  Start(cfg);
  EXPECT_EQ(Stats(*sim_)["gzip_replies"], true);
  SignedClient signer(sim_->rest_url());
  auto headers = signer.Headers("marginCoinUSDT", "");
  headers["Accept-Encoding"] = "br, GZIP";
  auto r = HttpTestClient(sim_->rest_url()).Get("/api/v1/futures/account?marginCoin=USDT", headers);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.headers["content-encoding"], "gzip");
  auto body = Gunzip(r.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(Json::parse(*body)["code"], 0) << *body;

  Control(*sim_, "rest_faults", {{"kind", "http_502"}});
  auto fault = HttpTestClient(sim_->rest_url()).Get(kDepth, {{"Accept-Encoding", "gzip"}});
  ASSERT_TRUE(fault.ok) << fault.error;
  EXPECT_EQ(fault.status, 502);
  EXPECT_EQ(fault.headers["content-encoding"], "gzip");
  auto page = Gunzip(fault.body);
  ASSERT_TRUE(page.has_value());
  EXPECT_NE(page->find("502 Bad Gateway"), std::string::npos);
  EXPECT_EQ(StatInt(*sim_, "gzip_replies_sent"), 2);
}

TEST_F(RestKeepAliveTest, CloseIdleRestClosesOnlyConnectionsBetweenRequests) {
  Start(FastConfig());
  auto idle = IdleConn();
  // A request under way: its header has started arriving.
  RawConn partial(sim_->port());
  ASSERT_TRUE(partial.connected());
  ASSERT_TRUE(partial.Send("GET /api/v1/futures/market/depth?symbol=BTCUSDT&limit=1 HTTP/1.1\r\n"));
  // A request the server is still answering (its reply is held back).
  Control(*sim_, "rest_faults", {{"kind", "hang"}, {"apply", "after"}, {"hang_ms", 60'000}});
  RawConn hanging(sim_->port());
  ASSERT_TRUE(hanging.connected());
  ASSERT_TRUE(hanging.Send(RawConn::Get(kDepth)));
  ASSERT_TRUE(WaitFor([&] { return Stats(*sim_)["rest_calls"].value("/api/v1/futures/market/depth", 0) == 2; }));
  ASSERT_TRUE(WaitFor([&] { return StatInt(*sim_, "rest_connections") == 3; }));

  auto r = Control(*sim_, "close_idle_rest", Json::object());
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["closed"], 1);
  EXPECT_EQ(r["busy"], 2);
  // Closed before the control call answered (the FIN is there at once on loopback).
  EXPECT_TRUE(idle->ClosedByServer());
  EXPECT_EQ(StatInt(*sim_, "rest_idle_closed"), 1);

  // The others carry on: the partial request completes and is answered on its connection.
  ASSERT_TRUE(partial.Send("Host: 127.0.0.1\r\n\r\n"));
  auto done = partial.Read();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->status, 200);
  EXPECT_TRUE(WaitFor([&] { return StatInt(*sim_, "rest_connections") == 2; }));

  // Now idle too.
  r = Control(*sim_, "close_idle_rest", Json::object());
  EXPECT_EQ(r["closed"], 1);
  EXPECT_EQ(r["busy"], 1);
  EXPECT_TRUE(partial.ClosedByServer());
  EXPECT_EQ(StatInt(*sim_, "rest_idle_closed"), 2);
}

TEST_F(RestKeepAliveTest, CloseIdleRestWithoutConnectionsAndBadBody) {
  Start(FastConfig());
  auto r = Control(*sim_, "close_idle_rest", Json::object());
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["closed"], 0);
  EXPECT_EQ(r["busy"], 0);
  HttpTestClient control(sim_->control_url());
  EXPECT_EQ(control.Post("/control/close_idle_rest", "[1]").status, 400);
}

TEST_F(RestKeepAliveTest, IdleTimeoutClosesAKeepAliveConnectionBetweenRequests) {
  SimConfig cfg = FastConfig();
  cfg.rest_idle_timeout = milliseconds(300);
  Start(cfg);
  const auto answered = steady_clock::now();
  auto idle = IdleConn();
  EXPECT_TRUE(idle->ClosedByServer(milliseconds(5000)));
  EXPECT_GE(steady_clock::now() - answered, milliseconds(250));
  EXPECT_TRUE(WaitFor([&] { return StatInt(*sim_, "rest_idle_closed") == 1; }));
}

}  // namespace
}  // namespace bx::sim::testing
