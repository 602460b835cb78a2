// The WsClient's connect timeout, close and shutdown while the host name is being looked up. A
// lookup is a blocking getaddrinfo that cannot be interrupted, so this binary replaces getaddrinfo
// (stalled_dns.h, hence its own binary): one reserved name stalls until the test releases it.
// The market-data upstream and the order service's private stream reconnect through this path.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>

#include <boost/asio/post.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/net/ws_client.h"
#include "tests/net/stalled_dns.h"
#include "tests/net/test_util.h"
#include "tests/net/test_ws_server.h"

namespace bx::net {
namespace {

using ::testing::HasSubstr;
using testing::Inbox;
using testing::IoDeleter;
using testing::IoThread;
using testing::kStalledHost;
using testing::Signal;
using testing::StalledDns;
using testing::TestWsServer;
using namespace std::chrono_literals;

struct Events {
  Inbox<absl::Status> closes;
  std::atomic<int> open_count{0};
  std::atomic<int> close_count{0};

  WsClient::Handlers Handlers() {
    WsClient::Handlers h;
    h.on_open = [this] { ++open_count; };
    h.on_closed = [this](absl::Status s) {
      ++close_count;
      closes.Push(std::move(s));
    };
    return h;
  }
};

using ClientPtr = std::unique_ptr<WsClient, IoDeleter<WsClient>>;

class WsResolveTest : public ::testing::TestWithParam<IoThreads> {
 protected:
  std::unique_ptr<WsClient> MakeRawClient(boost::asio::io_context& ioc,
                                          std::chrono::milliseconds connect_timeout,
                                          uint16_t port = 8080) {
    WsOptions o;
    auto u = ParseUrl(std::string("ws://") + kStalledHost + ":" + std::to_string(port) + "/public/");
    EXPECT_TRUE(u.ok()) << u.status();
    o.url = *u;
    o.connect_timeout = connect_timeout;
    return MakeBeastWsClient(ioc, o, clock_, GetParam());
  }
  ClientPtr MakeClient(std::chrono::milliseconds connect_timeout, uint16_t port = 8080) {
    return ClientPtr(MakeRawClient(io_.ioc(), connect_timeout, port).release(),
                     IoDeleter<WsClient>{&io_.ioc()});
  }
  // Returns once the io thread has run what was posted to it before.
  void DrainIo() {
    std::promise<void> done;
    boost::asio::post(io_.ioc(), [&] { done.set_value(); });
    done.get_future().wait();
  }

  IoThread io_;  // first member: outlives every client a test creates
  FakeClock clock_;
};

TEST_P(WsResolveTest, TheConnectTimeoutEndsAConnectWhoseHostLookupStalls) {
  StalledDns dns;
  Events ev;
  auto client = MakeClient(/*connect_timeout=*/200ms);
  const auto start = std::chrono::steady_clock::now();
  client->Connect(ev.Handlers());
  Signal signal;
  ASSERT_TRUE(signal.WaitFor([] { return StalledDns::started() > 0; }));
  auto closed = ev.closes.Pop(3s);
  ASSERT_TRUE(closed.has_value()) << "the connect attempt was held past its 200 ms timeout by the DNS lookup";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(closed->code(), absl::StatusCode::kDeadlineExceeded) << *closed;
  EXPECT_THAT(std::string(closed->message()), HasSubstr("connect timeout after 200 ms"));
  EXPECT_THAT(std::string(closed->message()), HasSubstr("looking up the host"));
  EXPECT_EQ(ev.open_count.load(), 0);
  // The client may connect again at once (a reconnect does not wait for the old lookup either).
  Events again;
  client->Connect(again.Handlers());
  ASSERT_TRUE(signal.WaitFor([] { return StalledDns::started() > 1; }))
      << "the second lookup queued behind the stalled one";
  auto closed_again = again.closes.Pop(3s);
  ASSERT_TRUE(closed_again.has_value());
  EXPECT_EQ(closed_again->code(), absl::StatusCode::kDeadlineExceeded) << *closed_again;
  EXPECT_EQ(ev.close_count.load(), 1);
}

TEST_P(WsResolveTest, CloseIsNotHeldByAStalledHostLookup) {
  StalledDns dns;
  Events ev;
  auto client = MakeClient(/*connect_timeout=*/30s);
  client->Connect(ev.Handlers());
  Signal signal;
  ASSERT_TRUE(signal.WaitFor([] { return StalledDns::started() > 0; }));
  client->Close();
  auto closed = ev.closes.Pop(3s);
  ASSERT_TRUE(closed.has_value()) << "Close() waited for the stalled lookup";
  EXPECT_EQ(closed->code(), absl::StatusCode::kCancelled) << *closed;
  EXPECT_EQ(ev.open_count.load(), 0);
}

// What a service's shutdown does: destroy the client, then its io_context. Neither waits for a
// lookup that stalls (Asio's resolver thread, which the io_context's destructor joins, used to
// hold it until getaddrinfo gave up).
TEST_P(WsResolveTest, ShutdownIsNotHeldByAStalledHostLookup) {
  StalledDns dns;
  Events ev;
  auto io = std::make_unique<IoThread>();
  auto client = MakeRawClient(io->ioc(), /*connect_timeout=*/30s);
  client->Connect(ev.Handlers());
  Signal signal;
  ASSERT_TRUE(signal.WaitFor([] { return StalledDns::started() > 0; }));
  auto shutdown = std::async(std::launch::async, [&] {
    client.reset();
    io.reset();
  });
  const bool prompt = shutdown.wait_for(3s) == std::future_status::ready;
  dns.Release();  // lets a held shutdown end, so the test ends either way
  shutdown.wait();
  EXPECT_TRUE(prompt) << "shutdown waited for the stalled host-name lookup";
}

// The lookup answers (with a live server's address) after the attempt timed out: nothing
// connects, no second on_closed. Then the same after the client and its io_context are gone
// (under ASan, a lookup thread touching either would show).
TEST_P(WsResolveTest, ALateLookupResultIsDropped) {
  TestWsServer server;
  const int threads_before = testing::ProcessThreadCount();
  {
    StalledDns dns(/*answer_loopback=*/true);
    Events ev;
    auto client = MakeClient(/*connect_timeout=*/200ms, server.port());
    client->Connect(ev.Handlers());
    auto closed = ev.closes.Pop(3s);
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->code(), absl::StatusCode::kDeadlineExceeded) << *closed;
    dns.Release();
    Signal signal;
    ASSERT_TRUE(signal.WaitFor([] { return StalledDns::returned() == 1; }));
    // The lookup thread posts its answer, then exits; once it is gone, the io thread runs what
    // it posted before this.
    ASSERT_TRUE(signal.WaitFor([&] { return testing::ProcessThreadCount() <= threads_before; }));
    DrainIo();
    EXPECT_EQ(ev.open_count.load(), 0);
    EXPECT_EQ(ev.close_count.load(), 1);
    EXPECT_EQ(server.connections_accepted(), 0);
  }
  {
    StalledDns dns(/*answer_loopback=*/true);
    Events ev;
    auto io = std::make_unique<IoThread>();
    auto client = MakeRawClient(io->ioc(), /*connect_timeout=*/30s, server.port());
    client->Connect(ev.Handlers());
    Signal signal;
    ASSERT_TRUE(signal.WaitFor([] { return StalledDns::started() > 0; }));
    auto shutdown = std::async(std::launch::async, [&] {
      client.reset();
      io.reset();
    });
    const bool prompt = shutdown.wait_for(3s) == std::future_status::ready;
    dns.Release();
    shutdown.wait();
    EXPECT_TRUE(prompt);
    ASSERT_TRUE(signal.WaitFor([&] { return testing::ProcessThreadCount() <= threads_before; }));
    EXPECT_EQ(ev.open_count.load(), 0);
    EXPECT_EQ(server.connections_accepted(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, WsResolveTest, testing::AllIoThreads(), testing::IoThreadsName);

}  // namespace
}  // namespace bx::net
