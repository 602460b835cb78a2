// The HttpClient's deadlines while the host name is being looked up. A lookup is a blocking
// getaddrinfo that cannot be interrupted, so this binary replaces getaddrinfo (stalled_dns.h,
// hence its own binary): one reserved name stalls until the test releases it.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/net/http_client.h"
#include "common/net/resolve_internal.h"
#include "tests/net/stalled_dns.h"
#include "tests/net/test_util.h"

namespace bx::net {
namespace {

using ::testing::HasSubstr;
using testing::Inbox;
using testing::IoThread;
using testing::kStalledHost;
using testing::Signal;
using testing::StalledDns;
using namespace std::chrono_literals;

class HttpResolveTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> MakeClient(std::chrono::milliseconds connect_timeout) {
    return MakeClient(io_.ioc(), connect_timeout);
  }
  std::unique_ptr<HttpClient> MakeClient(boost::asio::io_context& ioc,
                                         std::chrono::milliseconds connect_timeout) {
    HttpClientOptions o;
    auto u = ParseUrl(std::string("http://") + kStalledHost + ":8080");
    EXPECT_TRUE(u.ok()) << u.status();
    o.base = *u;
    o.connect_timeout = connect_timeout;
    return MakeBeastHttpClient(ioc, o, clock_);
  }
  static HttpRequest Post(std::chrono::milliseconds timeout) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/api/v1/futures/trade/place_order";
    r.body = "{}";
    r.timeout = timeout;
    return r;
  }

  IoThread io_;  // first member: outlives every client a test creates
  FakeClock clock_;
};

TEST_F(HttpResolveTest, TheDeadlineEndsARequestWhoseHostLookupStalls) {
  StalledDns dns;
  auto client = MakeClient(/*connect_timeout=*/30s);
  auto results = std::make_shared<Inbox<HttpResult>>();
  const auto start = std::chrono::steady_clock::now();
  client->Send(Post(200ms), [results](HttpResult r) { results->Push(std::move(r)); });
  Signal signal;
  ASSERT_TRUE(signal.WaitFor([] { return StalledDns::started() > 0; }));
  auto r = results->Pop(3s);
  ASSERT_TRUE(r.has_value()) << "the caller was held past its 200 ms deadline by the DNS lookup";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(r->status.code(), absl::StatusCode::kDeadlineExceeded) << r->status;
  EXPECT_THAT(std::string(r->status.message()), HasSubstr("nothing sent"));
  EXPECT_FALSE(r->maybe_sent);
  // Its connection slot is free again.
  ASSERT_TRUE(signal.WaitFor([&] { return client->Stats().connections_open == 0; }));
  EXPECT_EQ(client->Stats().connections_busy, 0);
}

TEST_F(HttpResolveTest, TheConnectTimeoutCoversAStalledHostLookup) {
  StalledDns dns;
  auto client = MakeClient(/*connect_timeout=*/200ms);
  auto results = std::make_shared<Inbox<HttpResult>>();
  client->Send(Post(30s), [results](HttpResult r) { results->Push(std::move(r)); });
  auto r = results->Pop(3s);
  ASSERT_TRUE(r.has_value()) << "the connect timeout did not cover the DNS lookup";
  EXPECT_EQ(r->status.code(), absl::StatusCode::kUnavailable) << r->status;
  EXPECT_THAT(std::string(r->status.message()), HasSubstr("connect timeout"));
  EXPECT_FALSE(r->maybe_sent);
  EXPECT_EQ(StalledDns::started(), 1);
}

// What a service's shutdown does: destroy the client, then its io_context. Neither waits for a
// lookup that stalls (Asio's resolver thread, which the io_context's destructor joins, used to
// hold it until getaddrinfo gave up).
TEST_F(HttpResolveTest, ShutdownIsNotHeldByAStalledHostLookup) {
  StalledDns dns;
  auto io = std::make_unique<IoThread>();
  auto client = MakeClient(io->ioc(), /*connect_timeout=*/30s);
  auto results = std::make_shared<Inbox<HttpResult>>();
  client->Send(Post(30s), [results](HttpResult r) { results->Push(std::move(r)); });
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

// A stalled DNS server holds each lookup thread for its own timeout, and every connect attempt
// that gave up on one may start another: past the cap a lookup fails at once, with no new thread,
// and the cap frees as the stalled lookups return.
TEST(HostLookupCap, PastTheCapALookupFailsAtOnceWithoutAThread) {
  using boost::system::error_code;
  auto results = std::make_shared<Inbox<error_code>>();
  auto done = [results](error_code ec, internal::Endpoints) { results->Push(ec); };
  std::optional<StalledDns> dns;
  dns.emplace();
  std::vector<std::unique_ptr<internal::HostLookup>> lookups;
  for (int i = 0; i < internal::kMaxHostLookupsRunning; ++i) {
    lookups.push_back(internal::StartHostLookup(kStalledHost, 8080, done));
  }
  Signal signal;
  ASSERT_TRUE(signal.WaitFor([] { return StalledDns::started() == internal::kMaxHostLookupsRunning; }));
  EXPECT_EQ(results->size(), 0u);

  auto over = internal::StartHostLookup(kStalledHost, 8080, done);
  auto refused = results->Pop(2s);
  ASSERT_TRUE(refused.has_value()) << "a lookup past the cap waited";
  EXPECT_EQ(*refused, boost::asio::error::host_not_found_try_again);
  EXPECT_EQ(StalledDns::started(), internal::kMaxHostLookupsRunning) << "a lookup past the cap started a thread";

  dns.reset();  // the stalled lookups return (EAI_AGAIN)
  for (int i = 0; i < internal::kMaxHostLookupsRunning; ++i) ASSERT_TRUE(results->Pop().has_value());
  ASSERT_TRUE(signal.WaitFor([] { return internal::HostLookupsRunning() == 0; }));
  auto again = internal::StartHostLookup("127.0.0.1", 8080, done);
  auto answer = results->Pop();
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(*answer) << answer->message();
}

}  // namespace
}  // namespace bx::net
