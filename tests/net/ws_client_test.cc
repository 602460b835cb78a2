// Integration tests of the Beast WsClient against an in-process WebSocket server (port 0).
#include <algorithm>
#include <atomic>
#include <mutex>
#include <chrono>
#include <future>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/net/ws_client.h"
#include "common/net/ws_frame.h"
#include "tests/net/test_certs.h"
#include "tests/net/test_util.h"
#include "tests/net/test_ws_server.h"

namespace bx::net {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Inbox;
using testing::IoDeleter;
using testing::IoThread;
using testing::TestCert;
using testing::TestWsServer;
using Records = std::vector<TestWsServer::ConnRecord>;
using namespace std::chrono_literals;

// Collects a client's callbacks for the test thread.
struct Events {
  Inbox<std::string> texts;
  Inbox<int64_t> recv_ns;
  Inbox<bool> opens;
  Inbox<absl::Status> closes;
  std::atomic<int> open_count{0};
  std::atomic<int> close_count{0};

  WsClient::Handlers Handlers() {
    WsClient::Handlers h;
    h.on_open = [this] {
      ++open_count;
      opens.Push(true);
    };
    h.on_text = [this](std::string_view data, int64_t ns) {
      texts.Push(std::string(data));
      recv_ns.Push(ns);
    };
    h.on_closed = [this](absl::Status s) {
      ++close_count;
      closes.Push(std::move(s));
    };
    return h;
  }
};

// Destroyed on the io thread, so no handler still runs into the test's (already gone) Events.
using ClientPtr = std::unique_ptr<WsClient, IoDeleter<WsClient>>;

// Every WsClientTest runs twice: with a strand per connection (IoThreads::kMany) and without
// (kOne, what the services use); the fixture's io_context has one thread either way.
class WsClientTest : public ::testing::TestWithParam<IoThreads> {
 protected:
  ClientPtr MakeClient(const std::string& url, TlsOptions tls = {},
                                       size_t max_message = 16 * 1024 * 1024,
                                       std::chrono::milliseconds connect_timeout = 3s) {
    WsOptions o;
    auto u = ParseUrl(url);
    EXPECT_TRUE(u.ok()) << u.status();
    o.url = *u;
    o.tls = std::move(tls);
    o.max_message_bytes = max_message;
    o.connect_timeout = connect_timeout;
    return ClientPtr(MakeBeastWsClient(io_.ioc(), o, clock_, GetParam()).release(),
                     IoDeleter<WsClient>{&io_.ioc()});
  }
  static std::string Local(uint16_t port, const std::string& scheme = "ws",
                           const std::string& host = "127.0.0.1") {
    return scheme + "://" + host + ":" + std::to_string(port) + "/public/";
  }
  // Connects and waits for on_open.
  static void Open(WsClient& client, Events& ev) {
    client.Connect(ev.Handlers());
    auto opened = ev.opens.Pop();
    ASSERT_TRUE(opened.has_value()) << "no on_open";
  }

  // Connects to a server that refuses the upgrade: its one close status, nothing opened.
  absl::Status RefusedUpgrade(uint16_t port) {
    Events ev;
    auto client = MakeClient(Local(port));
    client->Connect(ev.Handlers());
    auto closed = ev.closes.Pop();
    EXPECT_TRUE(closed.has_value()) << "no on_closed";
    EXPECT_EQ(ev.open_count.load(), 0);
    return closed.value_or(absl::InternalError("no on_closed"));
  }

  IoThread io_;  // first member: outlives every client a test creates
  FakeClock clock_;
};

TEST_P(WsClientTest, OpensSendsAndReceivesText) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  EXPECT_TRUE(client->is_open());
  client->Send("{\"op\":\"ping\",\"ping\":1732178884}");
  auto echo = ev.texts.Pop();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, "{\"op\":\"ping\",\"ping\":1732178884}");
  EXPECT_EQ(*ev.recv_ns.Pop(), clock_.NowNs());
  auto rec = server.conn(0);
  EXPECT_EQ(rec.user_agent, "bitunix-gateway/0.1");
  EXPECT_THAT(rec.messages, ::testing::ElementsAre("{\"op\":\"ping\",\"ping\":1732178884}"));

  client->Close();
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kCancelled) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("closed by client"));
  EXPECT_FALSE(client->is_open());
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  EXPECT_EQ(server.conn(0).close_code_from_client, 1000);
  EXPECT_EQ(ev.close_count.load(), 1);
}

TEST_P(WsClientTest, ManyFramesArriveInOrder) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  constexpr int kFrames = 20000;
  client->Send("burst " + std::to_string(kFrames));
  for (int i = 0; i < kFrames; ++i) {
    auto t = ev.texts.Pop();
    ASSERT_TRUE(t.has_value()) << "frame " << i << " missing";
    ASSERT_EQ(*t, std::to_string(i));
  }
}

TEST_P(WsClientTest, OneMegabyteFrame) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Send("big 1048576");
  auto t = ev.texts.Pop();
  ASSERT_TRUE(t.has_value());
  ASSERT_EQ(t->size(), 1048576u);
  for (size_t i = 0; i < t->size(); i += 4099) ASSERT_EQ((*t)[i], static_cast<char>('a' + i % 26));
  EXPECT_TRUE(client->is_open());
}

TEST_P(WsClientTest, FrameOverMaxMessageBytesClosesWithAClearStatus) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()), {}, /*max_message=*/1000);
  Open(*client, ev);
  client->Send("big 999");
  ASSERT_TRUE(ev.texts.Pop().has_value());  // under the limit: fine
  client->Send("big 2000");
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kResourceExhausted) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("message too big"));
  // The client sends a 1009 close frame, but it closes the socket with the rest of the oversized
  // payload unread, so the server may see a reset instead: the frame is checked in
  // OversizedMessageIsRefusedWithA1009CloseFrame, where nothing is left unread.
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  EXPECT_EQ(ev.close_count.load(), 1);
  EXPECT_EQ(ev.texts.size(), 0u);
}

// The read loop takes frames already in Beast's buffer inline, nested inside the previous frame's
// handler. 300 small frames and an oversized one arrive in one TCP write: every small frame is
// delivered, in order, before the single RESOURCE_EXHAUSTED close (run 20 times; also under ASan).
TEST_P(WsClientTest, ErrorAmidBufferedFramesEndsOnceAfterEveryEarlierFrame) {
  TestWsServer server;
  for (int round = 0; round < 20; ++round) {
    Events ev;
    auto client = MakeClient(Local(server.port()), {}, /*max_message=*/1000);
    Open(*client, ev);
    client->Send("burstbig 300 2000");
    for (int i = 0; i < 300; ++i) {
      auto t = ev.texts.Pop();
      ASSERT_TRUE(t.has_value()) << "round " << round << " frame " << i << " missing";
      ASSERT_EQ(*t, std::to_string(i));
    }
    auto closed = ev.closes.Pop();
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->code(), absl::StatusCode::kResourceExhausted) << *closed;
    client.reset();
    EXPECT_EQ(ev.close_count.load(), 1);
    EXPECT_EQ(ev.texts.size(), 0u);
  }
}

TEST_P(WsClientTest, ServerCloseFrameEndsOnceWithItsCodeAndReason) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Send("close 4001 bye");
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kUnavailable) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("closed by server: code 4001 'bye'"));
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  EXPECT_EQ(ev.close_count.load(), 1);
  EXPECT_FALSE(client->is_open());
}

TEST_P(WsClientTest, ServerDroppingTcpIsEndOfStream) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Send("drop");
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kUnavailable) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("end of stream"));
  EXPECT_EQ(ev.close_count.load(), 1);
}

TEST_P(WsClientTest, AbortDropsTcpWithoutACloseFrame) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Abort();
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kCancelled) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("aborted by client"));
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  EXPECT_EQ(server.conn(0).close_code_from_client, -1);
  EXPECT_EQ(ev.close_count.load(), 1);
}

TEST_P(WsClientTest, ReconnectsAfterClose) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  for (int round = 0; round < 3; ++round) {
    Open(*client, ev);
    client->Send("round " + std::to_string(round));
    auto t = ev.texts.Pop();
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(*t, "round " + std::to_string(round));
    client->Close();
    ASSERT_TRUE(ev.closes.Pop().has_value());
  }
  EXPECT_EQ(server.connections_accepted(), 3);
  EXPECT_EQ(ev.open_count.load(), 3);
  EXPECT_EQ(ev.close_count.load(), 3);
}

TEST_P(WsClientTest, ReconnectFromInsideOnClosed) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  std::atomic<int> reconnects{0};
  WsClient::Handlers h = ev.Handlers();
  auto base_closed = h.on_closed;
  // Like the upstream manager: on_closed schedules the next Connect right away.
  std::function<void(absl::Status)> on_closed = [&, base_closed](absl::Status s) {
    base_closed(s);
    if (reconnects++ == 0) {
      WsClient::Handlers again = ev.Handlers();
      client->Connect(std::move(again));
    }
  };
  h.on_closed = on_closed;
  client->Connect(std::move(h));
  ASSERT_TRUE(ev.opens.Pop().has_value());
  client->Send("drop");
  ASSERT_TRUE(ev.closes.Pop().has_value());
  ASSERT_TRUE(ev.opens.Pop().has_value());  // the second connection opened
  client->Send("hi");
  EXPECT_EQ(ev.texts.Pop().value_or(""), "hi");
  EXPECT_EQ(server.connections_accepted(), 2);
}

TEST_P(WsClientTest, NeverSendsProtocolPingsButAnswersServerPings) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Send("ping");
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].pongs_from_client == 1; }));
  client->Send("burst 100");
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(ev.texts.Pop().has_value());
  client->Close();
  ASSERT_TRUE(ev.closes.Pop().has_value());
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  EXPECT_EQ(server.conn(0).pings_from_client, 0);
}

TEST_P(WsClientTest, CloseFlushesQueuedFramesFirst) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Send("one");
  client->Send("two");
  client->Send("three");
  client->Close();
  ASSERT_TRUE(ev.closes.Pop().has_value());
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  auto rec = server.conn(0);
  EXPECT_THAT(rec.messages, ::testing::ElementsAre("one", "two", "three"));
  EXPECT_EQ(rec.close_code_from_client, 1000);
}

TEST_P(WsClientTest, FramesSentBeforeOpenGoOutAfterTheUpgrade) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  client->Connect(ev.Handlers());
  client->Send("early");
  ASSERT_TRUE(ev.opens.Pop().has_value());
  EXPECT_EQ(ev.texts.Pop().value_or(""), "early");
}

TEST_P(WsClientTest, ConnectWhileActiveIsRefusedWithoutDisturbingTheConnection) {
  TestWsServer server;
  Events ev, ev2;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Connect(ev2.Handlers());
  auto refused = ev2.closes.Pop();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code(), absl::StatusCode::kFailedPrecondition) << *refused;
  client->Send("still here");
  EXPECT_EQ(ev.texts.Pop().value_or(""), "still here");
  EXPECT_EQ(ev2.open_count.load(), 0);
}

TEST_P(WsClientTest, SendIsThreadSafeAndKeepsEachThreadsOrder) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  constexpr int kThreads = 4, kEach = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) client->Send("t" + std::to_string(t) + " " + std::to_string(i));
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < kThreads * kEach; ++i) ASSERT_TRUE(ev.texts.Pop().has_value());
  auto rec = server.conn(0);
  ASSERT_EQ(rec.messages.size(), static_cast<size_t>(kThreads * kEach));
  std::vector<int> next(kThreads, 0);
  for (const auto& m : rec.messages) {
    const int t = m[1] - '0';
    EXPECT_EQ(m, "t" + std::to_string(t) + " " + std::to_string(next[t]));
    ++next[t];
  }
}

TEST_P(WsClientTest, ConnectRefusedReportsOnClosedOnly) {
  uint16_t port;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  Events ev;
  auto client = MakeClient(Local(port));
  client->Connect(ev.Handlers());
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kUnavailable) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("refused"));
  // No HTTP reply was read: none is quoted (the default "HTTP 200 OK" once was).
  EXPECT_THAT(std::string(closed->message()), Not(HasSubstr("HTTP")));
  EXPECT_EQ(ev.open_count.load(), 0);
}

TEST_P(WsClientTest, ConnectTimeoutCoversTheUpgrade) {
  TestWsServer server(nullptr, /*never_upgrade=*/true);
  Events ev;
  auto client = MakeClient(Local(server.port()), {}, 16 << 20, /*connect_timeout=*/300ms);
  const auto start = std::chrono::steady_clock::now();
  client->Connect(ev.Handlers());
  auto closed = ev.closes.Pop();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kDeadlineExceeded) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("connect timeout"));
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 300ms + 2s);
  EXPECT_EQ(ev.open_count.load(), 0);
}

TEST_P(WsClientTest, WssWithCaFile) {
  TestCert cert({"localhost"}, {"127.0.0.1"});
  TestWsServer server(&cert);
  Events ev;
  TlsOptions tls;
  tls.ca_file = cert.cert_file();
  auto client = MakeClient(Local(server.port(), "wss", "localhost"), tls);
  Open(*client, ev);
  client->Send("secure hello");
  EXPECT_EQ(ev.texts.Pop().value_or(""), "secure hello");
  client->Send("big 600000");  // a depth_books-sized frame through TLS
  EXPECT_EQ(ev.texts.Pop().value_or("").size(), 600000u);
  client->Close();
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kCancelled) << *closed;
}

TEST_P(WsClientTest, WssRefusesAnUntrustedCertificate) {
  TestCert cert({"localhost"}, {"127.0.0.1"});
  TestWsServer server(&cert);
  Events ev;
  auto client = MakeClient(Local(server.port(), "wss", "localhost"));  // system store only
  client->Connect(ev.Handlers());
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kUnavailable) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("tls: certificate verify failed"));
  EXPECT_EQ(ev.open_count.load(), 0);
}

TEST_P(WsClientTest, WssRefusesACertificateForAnotherHost) {
  TestCert cert({"other.example"}, {});
  TestWsServer server(&cert);
  Events ev;
  TlsOptions tls;
  tls.ca_file = cert.cert_file();
  auto client = MakeClient(Local(server.port(), "wss", "localhost"), tls);
  client->Connect(ev.Handlers());
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_THAT(std::string(closed->message()), HasSubstr("host name mismatch"));
  EXPECT_EQ(ev.open_count.load(), 0);
}

TEST_P(WsClientTest, AbortWhileConnectingEndsOnceWithoutOpening) {
  TestWsServer server(nullptr, /*never_upgrade=*/true);
  Events ev;
  auto client = MakeClient(Local(server.port()));
  client->Connect(ev.Handlers());
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return !r.empty(); }));  // TCP is up
  client->Abort();
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kCancelled) << *closed;
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  EXPECT_EQ(ev.open_count.load(), 0);
  EXPECT_EQ(ev.close_count.load(), 1);
}

TEST_P(WsClientTest, DestroyingAnOpenClientIsSafe) {
  TestWsServer server;
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  client->Send("burst 1000");
  client.reset();
  ASSERT_TRUE(server.WaitFor([](const Records& r) { return r[0].ended; }));
  EXPECT_EQ(ev.close_count.load(), 0);  // no handler runs for a destroyed client
}

TEST(WsClientMultiThreadTest, StrandSerialisesHandlersOnAMultiThreadedIoContext) {
  IoThread io(2);
  TestWsServer server;
  Events ev;
  WsOptions o;
  o.url = *ParseUrl("ws://127.0.0.1:" + std::to_string(server.port()) + "/public/");
  auto client = MakeBeastWsClient(io.ioc(), o);
  client->Connect(ev.Handlers());
  ASSERT_TRUE(ev.opens.Pop().has_value());
  client->Send("burst 5000");
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(ev.texts.Pop().value_or(""), std::to_string(i));
  client->Close();
  ASSERT_TRUE(ev.closes.Pop().has_value());
  client.reset();
}

// on_read_end follows the frames of each socket read: 5,001 frames written at once arrive in far
// fewer reads than frames, and the last frame is followed by a read end (a consumer flushing
// there loses nothing).
TEST_P(WsClientTest, ReadEndFollowsTheFramesOfEachRead) {
  TestWsServer server;
  Events ev;
  std::mutex mu;
  std::vector<char> log;  // 'T' per frame, 'E' per read end, in call order
  Inbox<bool> all_read;
  constexpr int kFrames = 5001;  // "burstbig": 5000 small frames and one of 10 bytes in one TCP write
  auto client = MakeClient(Local(server.port()));
  WsClient::Handlers h = ev.Handlers();
  h.on_text = [&](std::string_view, int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back('T');
  };
  h.on_read_end = [&] {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back('E');
    if (std::count(log.begin(), log.end(), 'T') == kFrames) all_read.Push(true);
  };
  client->Connect(std::move(h));
  ASSERT_TRUE(ev.opens.Pop().has_value());
  client->Send("burstbig 5000 10");
  ASSERT_TRUE(all_read.Pop().has_value()) << "no read end after the last frame";
  std::lock_guard<std::mutex> lock(mu);
  const auto ends = std::count(log.begin(), log.end(), 'E');
  EXPECT_GE(ends, 1);
  EXPECT_LT(ends, kFrames / 10) << "frames are delivered in reads of many";
}

// A one-connection server speaking raw bytes, for replies and frames Beast's server never sends:
// it reads the upgrade request, then runs the test's script with the socket and the client's key.
class RawWsServer {
 public:
  using Script = std::function<void(boost::asio::ip::tcp::socket&, const std::string& key)>;
  /// `receive_buffer` > 0: SO_RCVBUF of the accepted socket, set on the listener so the window
  /// is small from the handshake on (shrinking it later makes Linux drop segments it advertised
  /// room for, acknowledgements included, and the connection stalls for seconds).
  explicit RawWsServer(Script script, int receive_buffer = 0)
      : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    if (receive_buffer > 0) acceptor_.set_option(boost::asio::socket_base::receive_buffer_size(receive_buffer));
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, script = std::move(script)] {
      boost::asio::ip::tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec) return;
      std::string request;
      boost::asio::read_until(s, boost::asio::dynamic_buffer(request), "\r\n\r\n", ec);
      if (ec) return;
      const std::string field = "Sec-WebSocket-Key: ";
      const size_t at = request.find(field);
      const std::string key =
          at == std::string::npos ? "" : request.substr(at + field.size(), request.find("\r\n", at) - at - field.size());
      script(s, key);
    });
  }
  ~RawWsServer() { thread_.join(); }
  uint16_t port() const { return port_; }

  static std::string Accept(const std::string& key) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " + WsAcceptFor(key) + "\r\n\r\n";
  }
  // Reads one client frame and unmasks it: {opcode byte, payload}.
  // {-3, error} when the connection ends first.
  static std::pair<int, std::string> ReadClientFrame(boost::asio::ip::tcp::socket& s) {
    boost::system::error_code ec;
    unsigned char h[2];
    boost::asio::read(s, boost::asio::buffer(h, 2), ec);
    if (ec) return {-3, ec.message()};
    size_t len = h[1] & 0x7F;
    if (len >= 126) return {-1, "long client frame"};  // the scripts only expect short ones
    unsigned char mask[4];
    boost::asio::read(s, boost::asio::buffer(mask, 4), ec);
    std::string payload(len, '\0');
    if (!ec) boost::asio::read(s, boost::asio::buffer(payload), ec);
    if (ec) return {-3, ec.message()};
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i & 3]);
    return {(h[1] & 0x80) ? h[0] : -2, payload};  // -2: not masked
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// The close frame a RawWsServer script read from the client: opcode 0x88 with `payload`.
void ExpectClientCloseFrame(std::promise<std::pair<int, std::string>>& answer, const std::string& payload) {
  auto f = answer.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto [op, got] = f.get();
  EXPECT_EQ(op, 0x88);
  EXPECT_EQ(got, payload);
}

TEST_P(WsClientTest, DeclinedUpgradeQuotesTheHttpStatusAndBody) {
  RawWsServer server([](boost::asio::ip::tcp::socket& s, const std::string&) {
    boost::asio::write(s, boost::asio::buffer(std::string(
                              "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\n\r\nmaintenance")));
  });
  const absl::Status closed = RefusedUpgrade(server.port());
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable) << closed;
  EXPECT_THAT(std::string(closed.message()),
              HasSubstr("connect failed in the WebSocket upgrade: HTTP 503 Service Unavailable: maintenance"));
}

TEST_P(WsClientTest, UpgradeWithAWrongAcceptValueIsRefused) {
  RawWsServer server([](boost::asio::ip::tcp::socket& s, const std::string&) {
    boost::asio::write(s, boost::asio::buffer(std::string(
                              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")));
  });
  EXPECT_THAT(std::string(RefusedUpgrade(server.port()).message()), HasSubstr("Sec-WebSocket-Accept does not match"));
}

// Header names and values vary between servers: any case, and Connection as a token list.
TEST_P(WsClientTest, UpgradeReplyHeadersAreMatchedWithoutRegardToCase) {
  RawWsServer server([](boost::asio::ip::tcp::socket& s, const std::string& key) {
    const std::string reply = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                              "connection: keep-alive, UPGRADE\r\nsec-websocket-accept: " +
                              WsAcceptFor(key) + "\r\nServer: test\r\n\r\n";
    boost::asio::write(s, boost::asio::buffer(reply + testing::ServerFrame(0x81, "hi")));
    char c;
    boost::system::error_code ec;
    s.read_some(boost::asio::buffer(&c, 1), ec);  // until the client goes
  });
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  EXPECT_EQ(ev.texts.Pop().value_or("none"), "hi");
  client->Abort();
  ASSERT_TRUE(ev.closes.Pop().has_value());
}

// An extension the client never offered (it offers none) cannot be accepted.
TEST_P(WsClientTest, UpgradeReplyChoosingAnExtensionIsRefused) {
  RawWsServer server([](boost::asio::ip::tcp::socket& s, const std::string& key) {
    std::string reply = RawWsServer::Accept(key);
    reply.insert(reply.size() - 2, "Sec-WebSocket-Extensions: permessage-deflate\r\n");  // before the blank line
    boost::asio::write(s, boost::asio::buffer(reply));
  });
  EXPECT_THAT(std::string(RefusedUpgrade(server.port()).message()), HasSubstr("extension that was not offered: permessage-deflate"));
}

// Frames in the same TCP segment as the 101, a fragmented message with a ping between its
// fragments: the text is reassembled, and the ping is answered with a masked pong of its payload.
TEST_P(WsClientTest, FragmentsAroundAPingRightBehindTheUpgradeReply) {
  std::promise<std::pair<int, std::string>> pong;
  RawWsServer server([&pong](boost::asio::ip::tcp::socket& s, const std::string& key) {
    const std::string bytes = RawWsServer::Accept(key) + testing::ServerFrame(0x01, "{\"a\":") +
                              testing::ServerFrame(0x89, "p-1") + testing::ServerFrame(0x80, "1}");
    boost::asio::write(s, boost::asio::buffer(bytes));
    pong.set_value(RawWsServer::ReadClientFrame(s));
  });
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  EXPECT_EQ(ev.texts.Pop().value_or("none"), "{\"a\":1}");
  auto f = pong.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto [op, payload] = f.get();
  EXPECT_EQ(op, 0x8A) << "a masked pong with FIN";
  EXPECT_EQ(payload, "p-1");
}

// A server pinging faster than it reads: pongs that have not started out yet are replaced by the
// answer to the newest ping (RFC 6455 5.5.3), so the send queue holds one pong, not one per ping,
// and the last ping is still answered with its own payload.
TEST_P(WsClientTest, PingFloodWhileTheSocketDoesNotDrainQueuesOnePong) {
  constexpr int kPings = 20000;
  const std::string pad(110, 'x');
  auto ping_payload = [&](int i) { return std::to_string(1000000 + i) + pad; };
  std::promise<std::vector<std::string>> pongs;
  std::promise<void> client_read_all;
  RawWsServer server([&](boost::asio::ip::tcp::socket& s, const std::string& key) {
    std::string bytes = RawWsServer::Accept(key);
    for (int i = 0; i < kPings; ++i) bytes += testing::ServerFrame(0x89, ping_payload(i));
    bytes += testing::ServerFrame(0x81, "done");
    boost::asio::write(s, boost::asio::buffer(bytes));  // nothing read meanwhile
    client_read_all.get_future().wait();
    std::vector<std::string> got;
    while (got.empty() || got.back() != ping_payload(kPings - 1)) {
      auto [op, payload] = RawWsServer::ReadClientFrame(s);
      if (op != 0x8A) break;
      got.push_back(payload);
    }
    pongs.set_value(std::move(got));
    char c;
    boost::system::error_code ec;
    s.read_some(boost::asio::buffer(&c, 1), ec);  // until the client goes
  }, /*receive_buffer=*/4096);
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  EXPECT_EQ(ev.texts.Pop(std::chrono::seconds(30)).value_or("none"), "done");  // every ping was read
  client_read_all.set_value();
  auto f = pongs.get_future();
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
  const auto got = f.get();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), ping_payload(kPings - 1)) << "the newest ping is answered";
  EXPECT_LT(got.size(), static_cast<size_t>(kPings) / 2) << "pongs waiting in the queue were replaced";
  for (size_t i = 1; i < got.size(); ++i) ASSERT_LT(got[i - 1], got[i]) << "answers keep the pings' order";
  client->Abort();
  ASSERT_TRUE(ev.closes.Pop().has_value());
}

// A binary frame goes to on_binary (the services count it as a bad frame) and reading goes on;
// text frames around it arrive as usual. Without on_binary it is dropped.
TEST_P(WsClientTest, BinaryFramesGoToOnBinaryAndReadingGoesOn) {
  for (const bool with_handler : {true, false}) {
    RawWsServer server([](boost::asio::ip::tcp::socket& s, const std::string& key) {
      const std::string bytes = RawWsServer::Accept(key) + testing::ServerFrame(0x81, "before") +
                                testing::ServerFrame(0x82, std::string("\x00\x01\xff", 3)) +
                                testing::ServerFrame(0x81, "after");
      boost::asio::write(s, boost::asio::buffer(bytes));
      RawWsServer::ReadClientFrame(s);  // until the client closes
    });
    Events ev;
    Inbox<std::string> binaries;
    WsClient::Handlers h = ev.Handlers();
    if (with_handler) h.on_binary = [&binaries](std::string_view data) { binaries.Push(std::string(data)); };
    auto client = MakeClient(Local(server.port()));
    client->Connect(std::move(h));
    ASSERT_TRUE(ev.opens.Pop().has_value());
    EXPECT_EQ(ev.texts.Pop().value_or("none"), "before");
    EXPECT_EQ(ev.texts.Pop().value_or("none"), "after");
    if (with_handler) {
      EXPECT_EQ(binaries.Pop().value_or("none"), std::string("\x00\x01\xff", 3));
    }
    client->Close();
    EXPECT_TRUE(ev.closes.Pop().has_value());
    EXPECT_EQ(ev.close_count.load(), 1);
  }
}

// A server that reads our close frame and never answers it: the connection ends after
// close_timeout, not after the (much longer) connect timeout.
// Close() after megabytes were queued for a slow reader: the close timeout does not cut the tail
// while our queue or the kernel's still drains; it counts once the close frame is out and
// acknowledged. (It used to start at Close(), and the session ended with frames unsent.)
TEST_P(WsClientTest, CloseOnASlowLinkSendsEveryQueuedFrameFirst) {
  constexpr int kFrames = 128;  // 8 MiB: more than the kernel's send buffer (4 MiB at most here)
  const std::string chunk(64 * 1024, 'q');
  std::promise<std::pair<int, size_t>> got;  // (opcode of the last frame, text bytes before it)
  RawWsServer server([&](boost::asio::ip::tcp::socket& s, const std::string& key) {
    boost::asio::write(s, boost::asio::buffer(RawWsServer::Accept(key)));
    // A slow reader: at most 64 KiB every 5 ms, so the 8 MiB take about a second.
    std::string data;
    boost::system::error_code ec;
    size_t text = 0;
    int last = -3;
    while (true) {
      char buf[64 * 1024];
      const size_t n = s.read_some(boost::asio::buffer(buf), ec);
      if (ec) break;
      data.append(buf, n);
      // Parse whole client frames (masked, 64-bit or 16-bit lengths).
      while (data.size() >= 2) {
        const auto* p = reinterpret_cast<const unsigned char*>(data.data());
        size_t len = p[1] & 0x7F, hdr = 2;
        if (len == 126) {
          if (data.size() < 4) break;
          len = (size_t{p[2]} << 8) | p[3];
          hdr = 4;
        } else if (len == 127) {
          if (data.size() < 10) break;
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
          hdr = 10;
        }
        if (data.size() < hdr + 4 + len) break;
        last = p[0];
        if (last == 0x81) text += len;
        data.erase(0, hdr + 4 + len);
      }
      if (last == 0x88) {
        got.set_value({last, text});
        boost::asio::write(s, boost::asio::buffer(testing::ServerFrame(0x88, std::string("\x03\xe8", 2))), ec);
        return;
      }
      std::this_thread::sleep_for(5ms);  // pacing the reader, not synchronisation
    }
    got.set_value({last, text});
  }, /*receive_buffer=*/64 * 1024);
  Events ev;
  WsOptions o;
  o.url = *ParseUrl(Local(server.port()));
  o.close_timeout = 100ms;
  o.max_send_queue_bytes = 16 * 1024 * 1024;
  ClientPtr client(MakeBeastWsClient(io_.ioc(), o, clock_, GetParam()).release(), IoDeleter<WsClient>{&io_.ioc()});
  Open(*client, ev);
  for (int i = 0; i < kFrames; ++i) client->Send(chunk);
  client->Close();
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(60s), std::future_status::ready);
  const auto [last, text] = f.get();
  EXPECT_EQ(last, 0x88) << "the close frame came last";
  EXPECT_EQ(text, chunk.size() * kFrames) << "every queued frame went out before it";
  // The timeout counted from when everything, the close frame included, had reached the server:
  // it answered in time.
  auto closed = ev.closes.Pop(10s);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kCancelled) << *closed;  // "closed by client"
}

TEST_P(WsClientTest, CloseGivesUpOnASilentServerAfterTheCloseTimeout) {
  std::promise<std::pair<int, std::string>> got_close;
  RawWsServer server([&got_close](boost::asio::ip::tcp::socket& s, const std::string& key) {
    boost::asio::write(s, boost::asio::buffer(RawWsServer::Accept(key)));
    got_close.set_value(RawWsServer::ReadClientFrame(s));
    RawWsServer::ReadClientFrame(s);  // no answer; returns when the client drops TCP
  });
  Events ev;
  WsOptions o;
  o.url = *ParseUrl(Local(server.port()));
  o.connect_timeout = 60s;
  o.close_timeout = 100ms;
  ClientPtr client(MakeBeastWsClient(io_.ioc(), o, clock_, GetParam()).release(), IoDeleter<WsClient>{&io_.ioc()});
  Open(*client, ev);
  client->Close();
  ExpectClientCloseFrame(got_close, std::string("\x03\xe8", 2));  // 1000
  auto closed = ev.closes.Pop(5s);
  ASSERT_TRUE(closed.has_value()) << "still waiting for the answer";
  EXPECT_EQ(closed->code(), absl::StatusCode::kDeadlineExceeded) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("did not answer the close frame"));
}

// The client tells the server why it fails the connection: close code 1002 (protocol error).
TEST_P(WsClientTest, MaskedServerFrameFailsTheConnectionWithA1002CloseFrame) {
  std::promise<std::pair<int, std::string>> answer;
  RawWsServer server([&answer](boost::asio::ip::tcp::socket& s, const std::string& key) {
    boost::asio::write(s, boost::asio::buffer(RawWsServer::Accept(key) + testing::ServerFrame(0x81, "x", true)));
    answer.set_value(RawWsServer::ReadClientFrame(s));
  });
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kUnavailable) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("protocol error: masked frame from the server"));
  EXPECT_EQ(ev.texts.size(), 0u);
  ExpectClientCloseFrame(answer, std::string("\x03\xEA", 2));  // 1002
  EXPECT_EQ(ev.close_count.load(), 1);
}

// A message over max_message_bytes is refused from its header, with close code 1009.
TEST_P(WsClientTest, OversizedMessageIsRefusedWithA1009CloseFrame) {
  std::promise<std::pair<int, std::string>> answer;
  RawWsServer server([&answer](boost::asio::ip::tcp::socket& s, const std::string& key) {
    // A text frame announcing 2,000 bytes, and the first few of them.
    const std::string header = std::string("\x81\x7E", 2) + static_cast<char>(2000 >> 8) + static_cast<char>(2000 & 0xFF);
    boost::asio::write(s, boost::asio::buffer(RawWsServer::Accept(key) + header + "0123456789"));
    answer.set_value(RawWsServer::ReadClientFrame(s));
  });
  Events ev;
  auto client = MakeClient(Local(server.port()), {}, /*max_message=*/1000);
  Open(*client, ev);
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), absl::StatusCode::kResourceExhausted) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("message too big"));
  ExpectClientCloseFrame(answer, std::string("\x03\xF1", 2));  // 1009
  EXPECT_EQ(ev.close_count.load(), 1);
}

// A close frame without a status code: reported as 1005, and answered with an empty close frame.
TEST_P(WsClientTest, ServerCloseWithoutACodeIsAnsweredAndReported) {
  std::promise<std::pair<int, std::string>> answer;
  RawWsServer server([&answer](boost::asio::ip::tcp::socket& s, const std::string& key) {
    boost::asio::write(s, boost::asio::buffer(RawWsServer::Accept(key) + testing::ServerFrame(0x81, "last") +
                                              testing::ServerFrame(0x88, "")));
    answer.set_value(RawWsServer::ReadClientFrame(s));
  });
  Events ev;
  auto client = MakeClient(Local(server.port()));
  Open(*client, ev);
  EXPECT_EQ(ev.texts.Pop().value_or("none"), "last");
  auto closed = ev.closes.Pop();
  ASSERT_TRUE(closed.has_value());
  EXPECT_THAT(std::string(closed->message()), HasSubstr("closed by server: code 1005"));
  ExpectClientCloseFrame(answer, "");
}

INSTANTIATE_TEST_SUITE_P(IoThreads, WsClientTest, testing::AllIoThreads(), testing::IoThreadsName);

// A client made for one io thread whose io_context moves to another thread says so. The hand-off
// here is sequential (the first thread has stopped), so nothing actually races in the test.
TEST(WsClientOneThreadTest, HandlersOnASecondThreadAreLoggedAsAnError) {
  TestWsServer server;
  Events ev;
  boost::asio::io_context ioc;
  auto guard = boost::asio::make_work_guard(ioc);
  WsOptions o;
  o.url = *ParseUrl("ws://127.0.0.1:" + std::to_string(server.port()) + "/public/");
  auto client = MakeBeastWsClient(ioc, o, SystemClock::Instance(), IoThreads::kOne);
  // The first thread stays alive until the end: a thread that has exited can hand its id to the
  // next one.
  std::promise<void> first_ran, first_may_exit;
  std::thread first([&] {
    ioc.run();
    first_ran.set_value();
    first_may_exit.get_future().wait();
  });
  client->Connect(ev.Handlers());
  ASSERT_TRUE(ev.opens.Pop().has_value());
  client->Send("burst 3");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ev.texts.Pop().value_or(""), std::to_string(i));
  ioc.stop();
  first_ran.get_future().wait();
  ioc.restart();
  ::testing::internal::CaptureStderr();
  std::thread second([&] { ioc.run(); });
  client->Send("burst 3");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ev.texts.Pop().value_or(""), std::to_string(i));
  client->Close();
  ASSERT_TRUE(ev.closes.Pop().has_value());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, ::testing::HasSubstr("IoThreads::kOne"));
  EXPECT_EQ(err.find("IoThreads::kOne"), err.rfind("IoThreads::kOne")) << "logged once per connection:\n" << err;
  guard.reset();
  ioc.stop();
  second.join();
  first_may_exit.set_value();
  first.join();
  client.reset();
}

}  // namespace
}  // namespace bx::net

namespace bx::net {
namespace {

// Shutdown order of a service: the client is destroyed on the io thread while its read is still
// pending, then the io_context stops and is destroyed without running what was left queued. Asio
// then destroys the read's handler (the last owner of the connection and its strand) before the
// operation's work guard; the guard must not reach into the freed strand. A use-after-free here
// shows up under AddressSanitizer (-DBITUNIX_SANITIZE_ADDRESS=ON), where it was first seen at the
// orders service's shutdown.
class WsClientTeardown : public ::testing::TestWithParam<IoThreads> {};

TEST_P(WsClientTeardown, IoContextDestroyedWithAReadPendingAfterTheClientIsGone) {
  TestWsServer server;
  Events ev;
  FakeClock clock;
  auto io = std::make_unique<testing::IoThread>();
  WsOptions o;
  o.url = *ParseUrl("ws://127.0.0.1:" + std::to_string(server.port()) + "/public/");
  std::unique_ptr<WsClient> client = MakeBeastWsClient(io->ioc(), o, clock, GetParam());
  client->Connect(ev.Handlers());
  ASSERT_TRUE(ev.opens.Pop().has_value());
  IoDeleter<WsClient>{&io->ioc()}(client.release());
  io.reset();  // stop, join, destroy the io_context with the read's completion still queued
  EXPECT_EQ(ev.close_count.load(), 0);  // nothing ran after the stop
}

INSTANTIATE_TEST_SUITE_P(IoThreads, WsClientTeardown, testing::AllIoThreads(), testing::IoThreadsName);

}  // namespace
}  // namespace bx::net
