// Integration tests of the Beast HttpClient against in-process servers on 127.0.0.1 port 0.
#include <unistd.h>
#include <zlib.h>

#include <cstdio>

#include <chrono>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/net/http_client.h"
#include "tests/net/test_certs.h"
#include "tests/net/test_http_server.h"
#include "tests/net/test_util.h"

namespace bx::net {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Inbox;
using testing::IoThread;
using testing::Reply;
using testing::SeenRequest;
using testing::Signal;
using testing::TestCert;
using testing::TestHttpServer;
using namespace std::chrono_literals;

std::string Compress(const std::string& in, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
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

Reply Ok(std::string body = "{\"code\":0}") {
  Reply r;
  r.body = std::move(body);
  r.headers = {{"Content-Type", "application/json"}};
  return r;
}

HttpRequest Get(std::string target, std::chrono::milliseconds timeout = 5s) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  r.timeout = timeout;
  return r;
}

HttpRequest Post(std::string target, std::string body, std::chrono::milliseconds timeout = 5s) {
  HttpRequest r;
  r.method = "POST";
  r.target = std::move(target);
  r.body = std::move(body);
  r.timeout = timeout;
  return r;
}

class HttpClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> MakeClient(const std::string& url, TlsOptions tls = {},
                                         size_t max_connections = 4,
                                         std::chrono::milliseconds idle_timeout = 30s,
                                         size_t max_body = 32 * 1024 * 1024) {
    HttpClientOptions o;
    auto u = ParseUrl(url);
    EXPECT_TRUE(u.ok()) << u.status();
    o.base = *u;
    o.tls = std::move(tls);
    o.max_connections = max_connections;
    o.idle_timeout = idle_timeout;
    o.connect_timeout = 3s;
    o.max_body_bytes = max_body;
    return MakeBeastHttpClient(io_.ioc(), o, clock_);
  }
  static std::string Local(uint16_t port, const std::string& scheme = "http",
                           const std::string& host = "127.0.0.1") {
    return scheme + "://" + host + ":" + std::to_string(port);
  }

  IoThread io_;  // first member: outlives every client a test creates
  FakeClock clock_;
};

TEST_F(HttpClientTest, GetRoundTripHeadersAndTimestamps) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r = Ok("{\"code\":0,\"data\":[]}");
    r.headers.emplace_back("X-Trace", "abc");
    r.headers.emplace_back("Set-Cookie", "a=1");
    r.headers.emplace_back("Set-Cookie", "b=2");
    return r;
  });
  auto client = MakeClient(Local(server.port()));
  HttpRequest req = Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=15");
  req.headers = {{"api-key", "key-1"}, {"language", "en-US"}};
  HttpResult res = client->SendAndWait(req);
  ASSERT_TRUE(res.status.ok()) << res.status;
  EXPECT_TRUE(res.maybe_sent);
  EXPECT_EQ(res.response.status, 200);
  EXPECT_EQ(res.response.body, "{\"code\":0,\"data\":[]}");
  EXPECT_EQ(res.response.headers["x-trace"], "abc");
  EXPECT_EQ(res.response.headers["set-cookie"], "a=1, b=2");
  EXPECT_EQ(res.response.headers["content-type"], "application/json");
  EXPECT_EQ(res.response.sent_ns, clock_.NowNs());
  EXPECT_EQ(res.response.received_ns, clock_.NowNs());
  EXPECT_EQ(res.response.date_ms, 0);

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/api/v1/futures/market/depth?symbol=BTCUSDT&limit=15");
  EXPECT_EQ(seen[0].Header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].Header("user-agent"), "bitunix-gateway/0.1");
  EXPECT_EQ(seen[0].Header("accept-encoding"), "gzip");
  EXPECT_EQ(seen[0].Header("api-key"), "key-1");
  EXPECT_EQ(seen[0].Header("language"), "en-US");
  EXPECT_EQ(seen[0].CountHeader("content-type"), 0);
  EXPECT_EQ(seen[0].body, "");
}

TEST_F(HttpClientTest, PostSendsBodyByteForByteWithCallerHeadersVerbatim) {
  TestHttpServer server([](const SeenRequest&) { return Ok(); });
  auto client = MakeClient(Local(server.port()));
  // Exactly what was signed: odd spacing, key order, escapes and UTF-8 must survive untouched.
  const std::string body =
      "{\"symbol\":\"BTCUSDT\", \"qty\":\"0.5\",\"price\":\"60000\",\"note\":\"a\\u00e9 \xc3\xa9\\n\"}";
  HttpRequest req = Post("/api/v1/futures/trade/place_order", body);
  req.headers = {{"api-key", "k"}, {"nonce", "n0"}, {"timestamp", "1732178884994"}, {"sign", "ab"}};
  HttpResult res = client->SendAndWait(req);
  ASSERT_TRUE(res.status.ok()) << res.status;
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].body, body);
  EXPECT_EQ(seen[0].Header("content-type"), "application/json");
  EXPECT_EQ(seen[0].CountHeader("content-type"), 1);
  EXPECT_EQ(seen[0].Header("content-length"), std::to_string(body.size()));
  std::vector<std::string> caller;
  for (const auto& [k, v] : seen[0].headers) {
    if (k == "api-key" || k == "nonce" || k == "timestamp" || k == "sign") caller.push_back(k + "=" + v);
  }
  EXPECT_THAT(caller, ::testing::ElementsAre("api-key=k", "nonce=n0", "timestamp=1732178884994", "sign=ab"));
}

TEST_F(HttpClientTest, CallerContentTypeReplacesTheDefault) {
  TestHttpServer server([](const SeenRequest&) { return Ok(); });
  auto client = MakeClient(Local(server.port()));
  HttpRequest req = Post("/x", "a=1");
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  ASSERT_TRUE(client->SendAndWait(req).status.ok());
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].CountHeader("content-type"), 1);
  EXPECT_EQ(seen[0].Header("content-type"), "application/x-www-form-urlencoded");
}

TEST_F(HttpClientTest, KeepAliveReusesOneConnection) {
  TestHttpServer server([](const SeenRequest&) { return Ok(); });
  auto client = MakeClient(Local(server.port()));
  for (int i = 0; i < 5; ++i) {
    HttpResult res = client->SendAndWait(Get("/ping?i=" + std::to_string(i)));
    ASSERT_TRUE(res.status.ok()) << res.status;
  }
  EXPECT_EQ(server.connections_accepted(), 1);
  HttpClientStats s = client->Stats();
  EXPECT_EQ(s.connects_total, 1u);
  EXPECT_EQ(s.reuses_total, 4u);
  EXPECT_EQ(s.requests_total, 5u);
  EXPECT_EQ(s.connections_open, 1);
  EXPECT_EQ(s.connections_busy, 0);
  EXPECT_EQ(s.requests_queued, 0);
}

TEST_F(HttpClientTest, ServerClosingAnIdleConnectionIsNoticedBeforeReuse) {
  TestHttpServer server([](const SeenRequest& r) {
    Reply reply = Ok();
    reply.close_after = r.conn_id == 1;  // keep-alive headers, then FIN: a server idle close
    return reply;
  });
  auto client = MakeClient(Local(server.port()));
  ASSERT_TRUE(client->SendAndWait(Get("/one")).status.ok());
  Signal signal;
  // The idle watch sees the FIN and drops the connection without any request being sent.
  ASSERT_TRUE(signal.WaitFor([&] { return client->Stats().connections_open == 0; }));
  HttpResult res = client->SendAndWait(Post("/two", "{}"));
  ASSERT_TRUE(res.status.ok()) << res.status;
  EXPECT_EQ(server.connections_accepted(), 2);
  EXPECT_EQ(client->Stats().retries_total, 0u);
}

// The race the pool cannot see coming: the server drops a reused connection after reading the
// request. A GET is retried once on a fresh connection; a POST is ambiguous and is not.
Reply DropSecondRequestOnEachConnection(const SeenRequest& r) {
  if (r.index_on_conn == 1) {
    Reply reply;
    reply.kind = Reply::Kind::kCloseNoReply;
    return reply;
  }
  return Ok();
}

TEST_F(HttpClientTest, StaleReusedConnectionRetriesGetOnce) {
  TestHttpServer server(DropSecondRequestOnEachConnection);
  auto client = MakeClient(Local(server.port()));
  ASSERT_TRUE(client->SendAndWait(Get("/a")).status.ok());
  HttpResult res = client->SendAndWait(Get("/b"));
  ASSERT_TRUE(res.status.ok()) << res.status;
  EXPECT_EQ(client->Stats().retries_total, 1u);
  EXPECT_EQ(server.connections_accepted(), 2);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].target, "/b");
  EXPECT_EQ(seen[2].target, "/b");
  EXPECT_EQ(seen[2].conn_id, 2);
}

TEST_F(HttpClientTest, StaleReusedConnectionNeverRetriesPost) {
  TestHttpServer server(DropSecondRequestOnEachConnection);
  auto client = MakeClient(Local(server.port()));
  ASSERT_TRUE(client->SendAndWait(Get("/a")).status.ok());
  HttpResult res = client->SendAndWait(Post("/order", "{\"qty\":\"1\"}"));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable) << res.status;
  EXPECT_TRUE(res.maybe_sent);
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("reused connection"));
  EXPECT_EQ(client->Stats().retries_total, 0u);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(HttpClientTest, GzipAndDeflateBodiesAreDecoded) {
  std::string json = "{\"code\":0,\"data\":[";
  for (int i = 0; i < 500; ++i) json += "{\"price\":\"60000.5\",\"qty\":\"0.01\"},";
  json += "{}]}";
  TestHttpServer server([&](const SeenRequest& r) {
    Reply reply;
    if (r.target == "/gzip") {
      reply.body = Compress(json, 16 + MAX_WBITS);
      reply.headers = {{"Content-Encoding", "gzip"}};
    } else if (r.target == "/deflate") {
      reply.body = Compress(json, MAX_WBITS);
      reply.headers = {{"Content-Encoding", "deflate"}};
    } else {
      reply.body = "\x1f\x8b\x08garbage";
      reply.headers = {{"Content-Encoding", "gzip"}};
    }
    return reply;
  });
  auto client = MakeClient(Local(server.port()));
  HttpResult gz = client->SendAndWait(Get("/gzip"));
  ASSERT_TRUE(gz.status.ok()) << gz.status;
  EXPECT_EQ(gz.response.body, json);
  EXPECT_EQ(server.requests()[0].Header("accept-encoding"), "gzip");
  HttpResult df = client->SendAndWait(Get("/deflate"));
  ASSERT_TRUE(df.status.ok()) << df.status;
  EXPECT_EQ(df.response.body, json);
  HttpResult bad = client->SendAndWait(Get("/corrupt"));
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kInternal) << bad.status;
  EXPECT_THAT(std::string(bad.status.message()), HasSubstr("decode"));
  EXPECT_TRUE(bad.maybe_sent);
}

TEST_F(HttpClientTest, DateHeaderIsParsed) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r = Ok();
    r.headers.emplace_back("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
    return r;
  });
  auto client = MakeClient(Local(server.port()));
  HttpResult res = client->SendAndWait(Get("/"));
  ASSERT_TRUE(res.status.ok()) << res.status;
  EXPECT_EQ(res.response.date_ms, 784111777000);
}

TEST_F(HttpClientTest, ConnectRefusedIsUnavailableAndProvablyUnsent) {
  uint16_t port;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto client = MakeClient(Local(port));
  HttpResult res = client->SendAndWait(Post("/order", "{}"));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable) << res.status;
  EXPECT_FALSE(res.maybe_sent);
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("refused"));
}

TEST_F(HttpClientTest, NoReplyHitsTheDeadlineWithMaybeSent) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r;
    r.kind = Reply::Kind::kHang;
    return r;
  });
  auto client = MakeClient(Local(server.port()));
  const auto start = std::chrono::steady_clock::now();
  HttpResult res = client->SendAndWait(Post("/order", "{}", 300ms));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(res.status.code(), absl::StatusCode::kDeadlineExceeded) << res.status;
  EXPECT_TRUE(res.maybe_sent);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 300ms + 2s);  // the deadline is honoured, not a multiple of it
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(HttpClientTest, ResetAfterReadingIsUnavailableWithMaybeSent) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r;
    r.kind = Reply::Kind::kReset;
    return r;
  });
  auto client = MakeClient(Local(server.port()));
  HttpResult res = client->SendAndWait(Post("/order", "{}"));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable) << res.status;
  EXPECT_TRUE(res.maybe_sent);
  // A first request on a fresh connection is never retried, even a GET.
  HttpResult get = client->SendAndWait(Get("/x"));
  EXPECT_EQ(get.status.code(), absl::StatusCode::kUnavailable) << get.status;
  EXPECT_EQ(client->Stats().retries_total, 0u);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(HttpClientTest, MaxConnectionsHoldsUnderFiftyConcurrentRequests) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r = Ok();
    r.hold_until_in_flight = 4;  // replies wait until 4 requests are on the wire at once
    return r;
  });
  auto client = MakeClient(Local(server.port()), {}, /*max_connections=*/4);
  Inbox<HttpResult> results;
  for (int i = 0; i < 50; ++i) {
    client->Send(Get("/q?i=" + std::to_string(i)), [&](HttpResult r) { results.Push(std::move(r)); });
  }
  for (int i = 0; i < 50; ++i) {
    auto r = results.Pop();
    ASSERT_TRUE(r.has_value()) << "request " << i << " never completed";
    EXPECT_TRUE(r->status.ok()) << r->status;
  }
  EXPECT_EQ(server.max_connections_open(), 4);
  EXPECT_EQ(server.connections_accepted(), 4);
  EXPECT_EQ(server.requests().size(), 50u);
  EXPECT_EQ(client->Stats().connects_total, 4u);
}

TEST_F(HttpClientTest, QueuedPastItsDeadlineIsProvablyUnsent) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r;
    r.kind = Reply::Kind::kHang;
    return r;
  });
  auto client = MakeClient(Local(server.port()), {}, /*max_connections=*/1);
  Inbox<HttpResult> first;
  client->Send(Get("/hang", 800ms), [&](HttpResult r) { first.Push(std::move(r)); });
  HttpResult queued = client->SendAndWait(Post("/order", "{}", 100ms));
  EXPECT_EQ(queued.status.code(), absl::StatusCode::kDeadlineExceeded) << queued.status;
  EXPECT_FALSE(queued.maybe_sent);
  EXPECT_THAT(std::string(queued.status.message()), HasSubstr("waiting for a connection"));
  auto r = first.Pop();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(r->maybe_sent);
  for (const auto& seen : server.requests()) EXPECT_NE(seen.target, "/order");
}

// Every pooled connection is taken by requests the server sits on: an ordinary request waits
// (and here expires unsent), while a request of priority > 0 (the order service's cancels) gets
// one more connection and goes through at once. Among waiting requests, higher priority first.
TEST_F(HttpClientTest, AnUrgentRequestNeverWaitsBehindHungOrdinaryOnes) {
  TestHttpServer server([](const SeenRequest& seen) {
    Reply r = Ok();
    if (seen.target.rfind("/hang", 0) == 0) r.kind = Reply::Kind::kHang;
    return r;
  });
  auto client = MakeClient(Local(server.port()), {}, /*max_connections=*/2);
  // The hung requests complete (CANCELLED) on the io thread after the client is gone, after this
  // test: their callbacks own what they touch.
  auto hung = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 2; ++i) {
    client->Send(Post("/hang/place", "{}", 5s), [hung](HttpResult) { hung->fetch_add(1); });
  }
  HttpResult ordinary = client->SendAndWait(Post("/place", "{}", 300ms));
  EXPECT_EQ(ordinary.status.code(), absl::StatusCode::kDeadlineExceeded) << ordinary.status;
  EXPECT_FALSE(ordinary.maybe_sent);
  HttpRequest cancel = Post("/cancel", "{}", 2s);
  cancel.priority = 1;
  HttpResult urgent = client->SendAndWait(std::move(cancel));
  EXPECT_TRUE(urgent.status.ok()) << urgent.status;
  EXPECT_EQ(urgent.response.status, 200);
  EXPECT_EQ(server.max_connections_open(), 3);
  for (const auto& seen : server.requests()) EXPECT_NE(seen.target, "/place");
}

TEST_F(HttpClientTest, IdleConnectionsCloseAfterIdleTimeout) {
  TestHttpServer server([](const SeenRequest&) { return Ok(); });
  auto client = MakeClient(Local(server.port()), {}, 4, /*idle_timeout=*/50ms);
  ASSERT_TRUE(client->SendAndWait(Get("/a")).status.ok());
  Signal signal;
  ASSERT_TRUE(signal.WaitFor([&] { return server.connections_open() == 0; }));
  EXPECT_EQ(client->Stats().connections_open, 0);
  ASSERT_TRUE(client->SendAndWait(Get("/b")).status.ok());
  EXPECT_EQ(server.connections_accepted(), 2);
}

TEST_F(HttpClientTest, OversizedBodyIsInternal) {
  TestHttpServer server([](const SeenRequest&) { return Ok(std::string(5000, 'x')); });
  auto client = MakeClient(Local(server.port()), {}, 4, 30s, /*max_body=*/1000);
  HttpResult res = client->SendAndWait(Get("/big"));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kInternal) << res.status;
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("max_body_bytes"));
}

TEST_F(HttpClientTest, MalformedResponseIsInternal) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  std::thread raw([&] {
    asio::ip::tcp::socket s(ioc);
    acceptor.accept(s);
    asio::streambuf buf;
    asio::read_until(s, buf, "\r\n\r\n");
    asio::write(s, asio::buffer(std::string("HTTP/1.1 two hundred OK\r\n\r\n")));
    boost::system::error_code ec;
    s.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  });
  auto client = MakeClient(Local(port));
  HttpResult res = client->SendAndWait(Get("/"));
  raw.join();
  EXPECT_EQ(res.status.code(), absl::StatusCode::kInternal) << res.status;
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("malformed"));
  EXPECT_TRUE(res.maybe_sent);
}

TEST_F(HttpClientTest, HeaderInjectionIsRejectedBeforeSending) {
  TestHttpServer server([](const SeenRequest&) { return Ok(); });
  auto client = MakeClient(Local(server.port()));
  HttpRequest req = Get("/x");
  req.headers = {{"sign", "abc\r\nX-Evil: 1"}};
  HttpResult res = client->SendAndWait(req);
  EXPECT_EQ(res.status.code(), absl::StatusCode::kInvalidArgument) << res.status;
  EXPECT_FALSE(res.maybe_sent);
  EXPECT_EQ(client->SendAndWait(Get("/has space")).status.code(), absl::StatusCode::kInvalidArgument);
  HttpRequest cl = Post("/x", "{}");
  cl.headers = {{"Content-Length", "2"}};
  EXPECT_EQ(client->SendAndWait(cl).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, DestroyingTheClientCancelsPendingRequests) {
  TestHttpServer server([](const SeenRequest&) {
    Reply r;
    r.kind = Reply::Kind::kHang;
    return r;
  });
  auto client = MakeClient(Local(server.port()), {}, 1);
  Inbox<HttpResult> results;
  client->Send(Get("/hang", 30s), [&](HttpResult r) { results.Push(std::move(r)); });
  client->Send(Get("/queued", 30s), [&](HttpResult r) { results.Push(std::move(r)); });
  Signal signal;
  ASSERT_TRUE(signal.WaitFor([&] { return server.requests().size() == 1; }));
  client.reset();
  for (int i = 0; i < 2; ++i) {
    auto r = results.Pop(5s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status.code(), absl::StatusCode::kCancelled) << r->status;
  }
}

TEST_F(HttpClientTest, AnInterimResponseIsSkippedForTheFinalOne) {
  // 103 Early Hints before the answer: the caller gets the 200 and its body, and the
  // connection stays usable.
  TestHttpServer server([](const SeenRequest&) {
    Reply r = Ok();
    r.interim_status = 103;
    return r;
  });
  auto client = MakeClient(Local(server.port()));
  for (int i = 0; i < 2; ++i) {
    HttpResult res = client->SendAndWait(Post("/order", "{}"));
    ASSERT_TRUE(res.status.ok()) << res.status;
    EXPECT_EQ(res.response.status, 200);
    EXPECT_EQ(res.response.body, "{\"code\":0}");
  }
  EXPECT_EQ(server.connections_accepted(), 1);
}

// ---- TLS ----

TEST_F(HttpClientTest, TlsWithCaFileVerifiesAndSendsSni) {
  TestCert cert({"localhost"}, {"127.0.0.1"});
  TestHttpServer server([](const SeenRequest&) { return Ok(); }, &cert);
  TlsOptions tls;
  tls.ca_file = cert.cert_file();
  auto client = MakeClient(Local(server.port(), "https", "localhost"), tls);
  for (int i = 0; i < 2; ++i) {
    HttpResult res = client->SendAndWait(Get("/secure"));
    ASSERT_TRUE(res.status.ok()) << res.status;
    EXPECT_EQ(res.response.body, "{\"code\":0}");
  }
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].sni, "localhost");
  EXPECT_EQ(seen[0].Header("host"), "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(server.connections_accepted(), 1);  // keep-alive over TLS too
}

TEST_F(HttpClientTest, TlsToAnIpLiteralChecksTheIpSanAndSendsNoSni) {
  TestCert cert({"localhost"}, {"127.0.0.1"});
  TestHttpServer server([](const SeenRequest&) { return Ok(); }, &cert);
  TlsOptions tls;
  tls.ca_file = cert.cert_file();
  auto client = MakeClient(Local(server.port(), "https"), tls);
  HttpResult res = client->SendAndWait(Get("/"));
  ASSERT_TRUE(res.status.ok()) << res.status;
  EXPECT_EQ(server.requests()[0].sni, "");
}

TEST_F(HttpClientTest, TlsWithTheSystemStoreRejectsASelfSignedCert) {
  TestCert cert({"localhost"}, {"127.0.0.1"});
  TestHttpServer server([](const SeenRequest&) { return Ok(); }, &cert);
  auto client = MakeClient(Local(server.port(), "https", "localhost"));
  HttpResult res = client->SendAndWait(Post("/order", "{}"));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable) << res.status;
  EXPECT_FALSE(res.maybe_sent);
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("certificate verify failed"));
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, TlsRejectsACertificateForAnotherHost) {
  TestCert cert({"other.example"}, {});
  TestHttpServer server([](const SeenRequest&) { return Ok(); }, &cert);
  TlsOptions tls;
  tls.ca_file = cert.cert_file();
  auto client = MakeClient(Local(server.port(), "https", "localhost"), tls);
  HttpResult res = client->SendAndWait(Get("/"));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kUnavailable) << res.status;
  EXPECT_FALSE(res.maybe_sent);
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("host name mismatch"));
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, TlsWithVerifyOffAcceptsASelfSignedCert) {
  TestCert cert({"other.example"}, {});
  TestHttpServer server([](const SeenRequest&) { return Ok(); }, &cert);
  TlsOptions tls;
  tls.verify = false;  // a throwaway simulator certificate
  auto client = MakeClient(Local(server.port(), "https", "localhost"), tls);
  HttpResult res = client->SendAndWait(Get("/"));
  ASSERT_TRUE(res.status.ok()) << res.status;
  EXPECT_EQ(server.requests()[0].sni, "localhost");  // SNI is sent all the same
}

TEST_F(HttpClientTest, UnreadableCaFileFailsEveryRequestClearly) {
  TlsOptions tls;
  tls.ca_file = "/nonexistent/ca.pem";
  auto client = MakeClient("https://localhost:1", tls);
  HttpResult res = client->SendAndWait(Get("/"));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kInvalidArgument) << res.status;
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("/nonexistent/ca.pem"));
  EXPECT_THAT(std::string(res.status.message()), HasSubstr("No such file or directory"));
  EXPECT_FALSE(res.maybe_sent);
}

TEST(CheckTlsOptions, SaysWhyACaFileCannotBeUsed) {
  EXPECT_TRUE(CheckTlsOptions({}).ok());  // the system store
  TestCert cert({"localhost"}, {});
  TlsOptions good;
  good.ca_file = cert.cert_file();
  EXPECT_TRUE(CheckTlsOptions(good).ok()) << CheckTlsOptions(good);

  TlsOptions missing;
  missing.ca_file = "/nonexistent/ca.pem";
  absl::Status s = CheckTlsOptions(missing);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'/nonexistent/ca.pem': No such file or directory"));

  char name[] = "/tmp/bx-not-a-ca-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "not a certificate\n", 18), 18);
  close(fd);
  TlsOptions junk;
  junk.ca_file = name;
  s = CheckTlsOptions(junk);
  std::remove(name);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(name));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("asio.ssl error")));
}

}  // namespace
}  // namespace bx::net
