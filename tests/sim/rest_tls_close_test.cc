// Integration: idle REST keep-alive connections closed over TLS (--tls-cert), by
// POST /control/close_idle_rest and by --rest-idle-timeout. By default a TLS close_notify goes out
// before the FIN, as the servers in front of the exchange send one; --rest-idle-close=abrupt (or
// "mode":"abrupt" in the control call) sends the FIN alone. A raw Asio TLS client that verifies
// the simulator's certificate tells the two apart: a clean end of stream (eof) or a truncated one.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "tests/sim/sim_test_util.h"

namespace bx::sim::testing {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using std::chrono::steady_clock;

constexpr const char* kDepth = "/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1";

ssl::context VerifyingContext(const std::string& ca_file) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  return ctx;
}

// One keep-alive HTTPS connection to the exchange port, verifying the certificate (chain and the
// 127.0.0.1 IP SAN) against `ca_file`. Every wait is bounded.
class TlsConn {
 public:
  TlsConn(uint16_t port, const std::string& ca_file) : ctx_(VerifyingContext(ca_file)), stream_(ioc_, ctx_) {
    stream_.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    stream_.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), error_);
    if (!error_) error_ = Run([&](auto h) { stream_.async_handshake(ssl::stream_base::client, h); });
  }
  const beast::error_code& error() const { return error_; }

  bool Send(const std::string& bytes) {
    return !Run([&](auto h) { net::async_write(stream_, net::buffer(bytes), h); });
  }
  static std::string Get(const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  }
  /// The next response's status (0 if none came).
  int ReadStatus() {
    http::response<http::string_body> res;
    if (Run([&](auto h) { http::async_read(stream_, buffer_, res, h); })) return 0;
    return res.result_int();
  }
  /// Reads until the server ends the stream: eof when it sent a TLS close_notify, stream_truncated
  /// when TCP closed without one, timed_out when it stays open. No byte may come before the end.
  beast::error_code ReadEnd(milliseconds timeout = milliseconds(3000)) {
    EXPECT_EQ(buffer_.size(), 0u);
    char b[256];
    beast::error_code ec = Run([&](auto h) { stream_.async_read_some(net::buffer(b), h); }, timeout);
    EXPECT_EQ(last_bytes_, 0u) << "bytes instead of the end of the stream";
    return ec;
  }

 private:
  // Starts an operation with a completion handler and runs it to the end or `timeout`.
  template <class Start>
  beast::error_code Run(Start start, milliseconds timeout = milliseconds(5000)) {
    bool done = false;
    beast::error_code result;
    last_bytes_ = 0;
    start([&](beast::error_code ec, std::size_t n = 0) {
      result = ec;
      last_bytes_ = n;
      done = true;
    });
    const auto deadline = steady_clock::now() + timeout;
    ioc_.restart();
    while (!done && ioc_.run_one_until(deadline) > 0) {
    }
    if (done) return result;
    beast::error_code ignored;
    stream_.next_layer().cancel(ignored);  // and let the operation finish
    ioc_.restart();
    while (!done && ioc_.run_one() > 0) {
    }
    return net::error::timed_out;
  }

  net::io_context ioc_;
  ssl::context ctx_;
  ssl::stream<tcp::socket> stream_;
  beast::flat_buffer buffer_;
  beast::error_code error_;
  std::size_t last_bytes_ = 0;
};

int64_t StatInt(const Simulator& sim, const char* name) { return Stats(sim)[name].get<int64_t>(); }

class RestTlsCloseTest : public ::testing::Test {
 protected:
  ~RestTlsCloseTest() override { sim_.reset(); }  // before the certificate's directory goes
  void Start(SimConfig cfg) {
    cert_.emplace();
    cfg.tls_cert = cert_->cert;
    cfg.tls_key = cert_->key;
    cfg.rest_rate_limits = false;
    sim_ = StartSim(cfg);
    ASSERT_NE(sim_, nullptr);
    ASSERT_EQ(sim_->rest_url().substr(0, 8), "https://");
  }
  // An idle keep-alive connection: one request answered over TLS, the connection kept.
  std::unique_ptr<TlsConn> IdleConn() {
    auto c = std::make_unique<TlsConn>(sim_->port(), cert_->cert);  // self-signed: its own CA
    EXPECT_FALSE(c->error()) << c->error().message();
    EXPECT_TRUE(c->Send(TlsConn::Get(kDepth)));
    EXPECT_EQ(c->ReadStatus(), 200);
    return c;
  }
  std::optional<SelfSignedCert> cert_;
  std::unique_ptr<Simulator> sim_;
};

TEST_F(RestTlsCloseTest, CloseIdleRestSendsCloseNotifyAndSparesRequestsInFlight) {
  Start(FastConfig());
  auto idle = IdleConn();
  // A request under way: its header has started arriving.
  TlsConn partial(sim_->port(), cert_->cert);
  ASSERT_FALSE(partial.error()) << partial.error().message();
  ASSERT_TRUE(partial.Send("GET /api/v1/futures/market/depth?symbol=BTCUSDT&limit=1 HTTP/1.1\r\n"));
  // A request the server is still answering (its reply is held back).
  Control(*sim_, "rest_faults", {{"kind", "hang"}, {"apply", "after"}, {"hang_ms", 60'000}});
  TlsConn hanging(sim_->port(), cert_->cert);
  ASSERT_FALSE(hanging.error()) << hanging.error().message();
  ASSERT_TRUE(hanging.Send(TlsConn::Get(kDepth)));
  ASSERT_TRUE(WaitFor([&] { return Stats(*sim_)["rest_calls"].value("/api/v1/futures/market/depth", 0) == 2; }));
  ASSERT_TRUE(WaitFor([&] { return StatInt(*sim_, "rest_connections") == 3; }));

  auto r = Control(*sim_, "close_idle_rest", Json::object());
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["closed"], 1);
  EXPECT_EQ(r["busy"], 2);
  // A clean TLS end: the close_notify came before the FIN.
  const beast::error_code end = idle->ReadEnd();
  EXPECT_EQ(end, net::error::eof) << end.message();
  EXPECT_EQ(StatInt(*sim_, "rest_idle_closed"), 1);
  EXPECT_EQ(StatInt(*sim_, "rest_close_notify_sent"), 1);

  // The request under way completes and is answered on its connection.
  ASSERT_TRUE(partial.Send("Host: 127.0.0.1\r\n\r\n"));
  EXPECT_EQ(partial.ReadStatus(), 200);
  EXPECT_TRUE(WaitFor([&] { return StatInt(*sim_, "rest_connections") == 2; }));

  // Now idle too, and closed the abrupt way this time: the FIN alone, a truncated TLS stream.
  r = Control(*sim_, "close_idle_rest", {{"mode", "abrupt"}});
  EXPECT_EQ(r["closed"], 1);
  EXPECT_EQ(r["busy"], 1);
  const beast::error_code cut = partial.ReadEnd();
  EXPECT_EQ(cut, ssl::error::stream_truncated) << cut.message();
  EXPECT_EQ(StatInt(*sim_, "rest_idle_closed"), 2);
  EXPECT_EQ(StatInt(*sim_, "rest_close_notify_sent"), 1);
}

TEST_F(RestTlsCloseTest, AbruptFlagIsTheDefaultOfTheControlCallAndABadModeIsRefused) {
  SimConfig cfg = FastConfig();
  cfg.rest_idle_close_notify = false;  // --rest-idle-close=abrupt
  Start(cfg);
  HttpTestClient control(sim_->control_url());
  EXPECT_EQ(control.Post("/control/close_idle_rest", R"({"mode":"polite"})").status, 400);
  EXPECT_EQ(control.Post("/control/close_idle_rest", R"({"mode":1})").status, 400);

  auto cut = IdleConn();
  auto r = Control(*sim_, "close_idle_rest", Json::object());
  EXPECT_EQ(r["closed"], 1);
  const beast::error_code cut_end = cut->ReadEnd();
  EXPECT_EQ(cut_end, ssl::error::stream_truncated) << cut_end.message();

  auto clean = IdleConn();
  r = Control(*sim_, "close_idle_rest", {{"mode", "close_notify"}});
  EXPECT_EQ(r["closed"], 1);
  const beast::error_code clean_end = clean->ReadEnd();
  EXPECT_EQ(clean_end, net::error::eof) << clean_end.message();
  EXPECT_EQ(StatInt(*sim_, "rest_idle_closed"), 2);
  EXPECT_EQ(StatInt(*sim_, "rest_close_notify_sent"), 1);
}

// The client sees the close_notify (a clean eof) as soon as it is on the wire, and the simulator
// counts it when its TLS shutdown completes, a moment later on another thread: the count is waited
// for, not read once (under load the client used to read it first, and find 0).
TEST_F(RestTlsCloseTest, IdleTimeoutSendsCloseNotify) {
  SimConfig cfg = FastConfig();
  cfg.rest_idle_timeout = milliseconds(300);
  Start(cfg);
  TlsConn idle(sim_->port(), cert_->cert);  // self-signed: its own CA
  ASSERT_FALSE(idle.error()) << idle.error().message();
  // The reply goes out after this, and the idle timeout runs from then.
  const auto sent = steady_clock::now();
  ASSERT_TRUE(idle.Send(TlsConn::Get(kDepth)));
  ASSERT_EQ(idle.ReadStatus(), 200);
  const beast::error_code end = idle.ReadEnd(milliseconds(5000));
  EXPECT_EQ(end, net::error::eof) << end.message();
  EXPECT_GE(steady_clock::now() - sent, milliseconds(300)) << "closed before the idle timeout";
  EXPECT_TRUE(WaitFor([&] { return StatInt(*sim_, "rest_close_notify_sent") == 1; }))
      << "close_notify counted " << StatInt(*sim_, "rest_close_notify_sent");
  EXPECT_EQ(StatInt(*sim_, "rest_idle_closed"), 1);
}

TEST_F(RestTlsCloseTest, IdleTimeoutAbruptSendsTheFinAlone) {
  SimConfig cfg = FastConfig();
  cfg.rest_idle_timeout = milliseconds(300);
  cfg.rest_idle_close_notify = false;
  Start(cfg);
  auto idle = IdleConn();
  const beast::error_code end = idle->ReadEnd(milliseconds(5000));
  EXPECT_EQ(end, ssl::error::stream_truncated) << end.message();
  EXPECT_TRUE(WaitFor([&] { return StatInt(*sim_, "rest_idle_closed") == 1; }));
  EXPECT_EQ(StatInt(*sim_, "rest_close_notify_sent"), 0);
}

// A request that has only partly arrived when the idle timeout ends is dropped, over TLS as in
// plain HTTP (the FIN alone, not counted as an idle close): the timeout covers the whole request.
TEST_F(RestTlsCloseTest, IdleTimeoutDropsARequestStillArriving) {
  SimConfig cfg = FastConfig();
  cfg.rest_idle_timeout = milliseconds(300);
  Start(cfg);
  TlsConn partial(sim_->port(), cert_->cert);
  ASSERT_FALSE(partial.error()) << partial.error().message();
  ASSERT_TRUE(partial.Send("GET /api/v1/futures/market/depth?symbol=BTCUSDT&limit=1 HTTP/1.1\r\n"));
  const beast::error_code end = partial.ReadEnd(milliseconds(5000));
  EXPECT_EQ(end, ssl::error::stream_truncated) << end.message();
  EXPECT_EQ(StatInt(*sim_, "rest_idle_closed"), 0);
}

}  // namespace
}  // namespace bx::sim::testing
