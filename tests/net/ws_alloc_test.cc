// Proves the WsClient read loop allocates nothing per frame in steady state: operator new is
// counted on the io thread while a burst of frames is read. (Its own binary: it replaces the
// global operator new.)
#include <atomic>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "common/net/ws_client.h"
#include "tests/net/test_util.h"
#include "tests/net/test_ws_server.h"

// GCC pairs the replaced operators below with their callers and flags malloc/free as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
thread_local bool t_counting = false;
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (t_counting) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace bx::net {
namespace {

using namespace std::chrono_literals;

class WsClientAllocations : public ::testing::TestWithParam<IoThreads> {};

TEST_P(WsClientAllocations, SteadyStateReadLoopAllocatesNothingPerFrame) {
  testing::IoThread io;
  testing::TestWsServer server;
  constexpr int kFrames = 20000, kWarmup = 1000, kMeasureUntil = 19000;
  testing::Inbox<bool> opened, done;
  std::atomic<long> counted{-1};
  int seen = 0;
  WsOptions o;
  o.url = *ParseUrl("ws://127.0.0.1:" + std::to_string(server.port()) + "/public/");
  std::unique_ptr<WsClient, testing::IoDeleter<WsClient>> client(MakeBeastWsClient(io.ioc(), o, SystemClock::Instance(), GetParam()).release(),
                                                                  {&io.ioc()});
  WsClient::Handlers h;
  h.on_open = [&] { opened.Push(true); };
  h.on_text = [&](std::string_view, int64_t) {
    ++seen;
    if (seen == kWarmup) {
      g_allocations = 0;
      t_counting = true;
    } else if (seen == kMeasureUntil) {
      t_counting = false;
      counted = g_allocations.load();
    } else if (seen == kFrames) {
      done.Push(true);
    }
  };
  client->Connect(std::move(h));
  ASSERT_TRUE(opened.Pop().has_value());
  client->Send("burst " + std::to_string(kFrames));
  ASSERT_TRUE(done.Pop(30s).has_value());
  EXPECT_EQ(counted.load(), 0) << "allocations on the io thread over "
                               << (kMeasureUntil - kWarmup) << " frames";
}

INSTANTIATE_TEST_SUITE_P(IoThreads, WsClientAllocations, testing::AllIoThreads(), testing::IoThreadsName);

}  // namespace
}  // namespace bx::net
