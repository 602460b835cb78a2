// The HttpClient's deadlines while the host name is being looked up. Asio resolves on a background
// thread with a blocking getaddrinfo that cancel() cannot interrupt, so this binary replaces
// getaddrinfo (hence its own binary): one reserved name stalls until the test releases it, every
// other name goes to the C library.
#include <dlfcn.h>
#include <netdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/net/http_client.h"
#include "tests/net/test_util.h"

namespace {

constexpr const char* kStalledHost = "stalled-dns.invalid";

std::mutex g_mu;
std::condition_variable g_cv;
bool g_released = true;
std::atomic<int> g_stalled_lookups{0};

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  if (node != nullptr && std::string_view(node) == kStalledHost) {
    g_stalled_lookups.fetch_add(1);
    std::unique_lock<std::mutex> lock(g_mu);
    g_cv.wait(lock, [] { return g_released; });
    return EAI_AGAIN;
  }
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  return real(node, service, hints, res);
}

namespace bx::net {
namespace {

using ::testing::HasSubstr;
using testing::Inbox;
using testing::IoThread;
using testing::Signal;
using namespace std::chrono_literals;

// Holds lookups of kStalledHost until destroyed (before the io_context, whose destructor joins the
// resolver thread).
class StalledDns {
 public:
  StalledDns() {
    std::lock_guard<std::mutex> lock(g_mu);
    g_released = false;
    g_stalled_lookups = 0;
  }
  ~StalledDns() {
    std::lock_guard<std::mutex> lock(g_mu);
    g_released = true;
    g_cv.notify_all();
  }
};

class HttpResolveTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> MakeClient(std::chrono::milliseconds connect_timeout) {
    HttpClientOptions o;
    auto u = ParseUrl(std::string("http://") + kStalledHost + ":8080");
    EXPECT_TRUE(u.ok()) << u.status();
    o.base = *u;
    o.connect_timeout = connect_timeout;
    return MakeBeastHttpClient(io_.ioc(), o, clock_);
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
  ASSERT_TRUE(signal.WaitFor([] { return g_stalled_lookups.load() > 0; }));
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
  EXPECT_EQ(g_stalled_lookups.load(), 1);
}

}  // namespace
}  // namespace bx::net
