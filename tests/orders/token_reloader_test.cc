// Token rotation without a restart: the tokens file is re-read on a timer (FakeClock); a valid
// change replaces the tokens once two checks in a row read it, anything else keeps the tokens in
// force.
#include "services/orders/token_reloader.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "services/orders/orders_metrics.h"
#include "tests/orders/fakes.h"

namespace bx::orders {
namespace {

using testing::ManualScheduler;
using namespace std::chrono_literals;

constexpr const char* kOld = "bot trade old-token-0123456789abcdef\n";
constexpr const char* kNew = "bot trade new-token-0123456789abcdef\nviewer read view-token-0123456789abcdef\n";

class TokenReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bx-tokens-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
    Write(kOld);
    auth_ = std::make_unique<Authenticator>(*ParseTokens(kOld), AuthOptions{});
    reloader_ = std::make_unique<TokenReloader>(scheduler_, *auth_, path_, kOld, &metrics_);
    reloader_->Start(10s);
  }
  void TearDown() override {
    reloader_->Stop();
    std::remove(path_.c_str());
  }
  void Write(const std::string& text) {
    std::ofstream f(path_, std::ios::trunc);
    f << text;
  }
  bool Accepts(const std::string& token) { return auth_->Authenticate("Bearer " + token, "").ok(); }
  double Reloads(const std::string& result) {
    for (const auto& fam : registry_.Collect()) {
      if (fam.name != "bitunix_orders_auth_token_reloads_total") continue;
      for (const auto& m : fam.metric) {
        for (const auto& l : m.label) {
          if (l.name == "result" && l.value == result) return m.counter.value;
        }
      }
    }
    return 0;
  }

  FakeClock clock_;
  ManualScheduler scheduler_{clock_};
  prometheus::Registry registry_;
  OrdersMetrics metrics_{registry_};
  std::string path_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<TokenReloader> reloader_;
};

TEST_F(TokenReloaderTest, AValidChangeReplacesTheTokensAtTheSecondCheckThatReadsIt) {
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef"));
  Write(kNew);
  scheduler_.Advance(9s);
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef")) << "reloaded before the interval";
  scheduler_.Advance(1s);
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef")) << "applied at the first check that saw it";
  EXPECT_EQ(Reloads("deferred"), 1);
  scheduler_.Advance(10s);
  EXPECT_FALSE(Accepts("old-token-0123456789abcdef"));
  EXPECT_TRUE(Accepts("new-token-0123456789abcdef"));
  EXPECT_TRUE(Accepts("view-token-0123456789abcdef"));
  EXPECT_EQ(auth_->token_count(), 2u);
  EXPECT_EQ(Reloads("reloaded"), 1);
  // Unchanged content: nothing happens at the following checks.
  scheduler_.Advance(30s);
  EXPECT_EQ(Reloads("reloaded"), 1);
  EXPECT_EQ(Reloads("deferred"), 1);
  EXPECT_EQ(Reloads("error"), 0);
}

// A file caught half-written (its first line written, the second not yet) used to be applied as
// read: the token not written yet was revoked (its streams ended) until the next check. Now the
// check that sees it only notes it; the writer finishes; the next check sees other bytes and waits
// again; the one after applies the complete file.
TEST_F(TokenReloaderTest, AFileCaughtHalfWrittenIsNotApplied) {
  Write(kNew);
  ASSERT_EQ(*reloader_->CheckNow(), TokensCheck::kDeferred);
  ASSERT_EQ(*reloader_->CheckNow(), TokensCheck::kReloaded);
  int reloaded = 0;
  reloader_->set_on_reloaded([&] { ++reloaded; });
  const std::string third = "ops read ops-token-0123456789abcdef\n";
  Write("bot trade new-token-0123456789abcdef\n");  // the rewrite adding `ops`, caught after one line
  scheduler_.Advance(10s);
  EXPECT_TRUE(Accepts("view-token-0123456789abcdef")) << "a half-written file revoked a token";
  Write(std::string(kNew) + third);  // the writer is done
  scheduler_.Advance(10s);
  EXPECT_TRUE(Accepts("view-token-0123456789abcdef"));
  EXPECT_FALSE(Accepts("ops-token-0123456789abcdef")) << "applied without a second read";
  EXPECT_EQ(reloaded, 0);
  scheduler_.Advance(10s);
  EXPECT_TRUE(Accepts("view-token-0123456789abcdef"));
  EXPECT_TRUE(Accepts("ops-token-0123456789abcdef"));
  EXPECT_EQ(auth_->token_count(), 3u);
  EXPECT_EQ(reloaded, 1);
  EXPECT_EQ(Reloads("error"), 0);
}

// A file whose last line has no newline (a Secret written with --from-literal, `echo -n`) is
// applied like any other once settled; while it is still being written, the settle rule holds it.
TEST_F(TokenReloaderTest, AFileWithoutAFinalNewlineIsAppliedOnceSettled) {
  Write("bot trade new-token-0123456789abcdef\nviewer read view-token-0123");  // caught mid-line
  scheduler_.Advance(10s);
  EXPECT_FALSE(Accepts("view-token-0123")) << "applied at the first check that saw it";
  Write("bot trade new-token-0123456789abcdef\nviewer read view-token-0123456789abcdef");  // done, no newline
  scheduler_.Advance(10s);
  EXPECT_FALSE(Accepts("view-token-0123")) << "applied a content the next check did not read again";
  EXPECT_FALSE(Accepts("view-token-0123456789abcdef")) << "applied without a second read";
  scheduler_.Advance(10s);
  EXPECT_TRUE(Accepts("view-token-0123456789abcdef"));
  EXPECT_TRUE(Accepts("new-token-0123456789abcdef"));
  EXPECT_FALSE(Accepts("view-token-0123"));
  EXPECT_FALSE(Accepts("old-token-0123456789abcdef"));
  EXPECT_EQ(Reloads("reloaded"), 1);
  EXPECT_EQ(Reloads("error"), 0);
}

TEST_F(TokenReloaderTest, InvalidEmptyOrMissingFilesKeepTheTokensInForce) {
  for (const char* bad : {"bot admin new-token-0123456789abcdef\n",  // unknown role
                          "bot trade short\n",                       // token too short
                          "# every token removed\n",                 // would close the API
                          ""}) {                                     // a file being rewritten, for a moment
    Write(bad);
    ASSERT_EQ(*reloader_->CheckNow(), TokensCheck::kDeferred) << bad;
    auto r = reloader_->CheckNow();
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(std::string(r.status().message()).find("new-token"), std::string::npos) << "echoed a token";
    EXPECT_TRUE(Accepts("old-token-0123456789abcdef")) << bad;
    EXPECT_EQ(auth_->token_count(), 1u);
  }
  std::remove(path_.c_str());
  EXPECT_FALSE(reloader_->CheckNow().ok());
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef"));
  EXPECT_EQ(Reloads("error"), 5);
  // Fixed again: the next timer checks pick it up.
  Write(kNew);
  scheduler_.Advance(10s);
  scheduler_.Advance(10s);
  EXPECT_TRUE(Accepts("new-token-0123456789abcdef"));
  EXPECT_EQ(Reloads("reloaded"), 1);
}

// Revoking every token stays possible, on purpose only: a file whose only entry is `revoke-all`.
TEST_F(TokenReloaderTest, RevokeAllRevokesEveryToken) {
  int reloaded = 0;
  reloader_->set_on_reloaded([&] { ++reloaded; });
  Write("# incident 42: every caller out\nrevoke-all\n");
  scheduler_.Advance(10s);
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef"));
  scheduler_.Advance(10s);
  EXPECT_FALSE(Accepts("old-token-0123456789abcdef"));
  EXPECT_EQ(auth_->token_count(), 0u);
  EXPECT_EQ(reloaded, 1) << "the streams of the revoked tokens are not ended";
  EXPECT_EQ(Reloads("reloaded"), 1);
  // And back.
  Write(kOld);
  scheduler_.Advance(20s);
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef"));
  EXPECT_EQ(Reloads("error"), 0);
}

// The error is logged once per episode, not once per process: a file that was refused, then
// restored to the tokens in force, then broken the same way again is logged again.
TEST_F(TokenReloaderTest, ARefusalAfterTheFileWasRestoredIsLoggedAgain) {
  auto refusals = [](const std::string& log) {
    size_t n = 0;
    for (size_t at = log.find("tokens file refused"); at != std::string::npos;
         at = log.find("tokens file refused", at + 1)) {
      ++n;
    }
    return n;
  };
  Write(kNew);
  ASSERT_EQ(*reloader_->CheckNow(), TokensCheck::kDeferred);
  ASSERT_EQ(*reloader_->CheckNow(), TokensCheck::kReloaded);
  ::testing::internal::CaptureStderr();
  Write("bot trade short\n");
  EXPECT_EQ(*reloader_->CheckNow(), TokensCheck::kDeferred);
  EXPECT_FALSE(reloader_->CheckNow().ok());
  EXPECT_FALSE(reloader_->CheckNow().ok());  // the same error: not logged twice
  Write(kNew);                                 // restored: the tokens in force, unchanged
  EXPECT_EQ(*reloader_->CheckNow(), TokensCheck::kUnchanged);
  Write("bot trade short\n");
  EXPECT_EQ(*reloader_->CheckNow(), TokensCheck::kDeferred);
  EXPECT_FALSE(reloader_->CheckNow().ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(refusals(log), 2u) << log;
  EXPECT_TRUE(Accepts("new-token-0123456789abcdef"));
}

// A file whose size or modification time moves while it is read is being written: the check is
// deferred, not refused (no error counted or logged) and nothing is applied. A /proc file stands in
// for it: its size says 0, its read returns more.
TEST_F(TokenReloaderTest, AFileThatChangesWhileItIsReadIsDeferred) {
  TokenReloader racing(scheduler_, *auth_, "/proc/self/status", kOld, &metrics_);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*racing.CheckNow(), TokensCheck::kDeferred);
  EXPECT_EQ(Reloads("deferred"), 3);
  EXPECT_EQ(Reloads("error"), 0);
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef"));
  auto text = ReadTokensText("/proc/self/status");
  EXPECT_TRUE(absl::IsUnavailable(text.status())) << text.status();
  EXPECT_TRUE(ReadTokensText(path_).ok());
}

TEST_F(TokenReloaderTest, StopEndsTheChecks) {
  reloader_->Stop();
  Write(kNew);
  scheduler_.Advance(60s);
  EXPECT_TRUE(Accepts("old-token-0123456789abcdef"));
  EXPECT_EQ(scheduler_.pending_timers(), 0u);
}

}  // namespace
}  // namespace bx::orders
