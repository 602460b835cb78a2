// The market-data service's option checks (AppOptionsFromConfig): a value the service cannot
// honour is refused at startup with what to give instead.
#include "services/marketdata/app.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"

namespace bx::md {
namespace {

absl::StatusOr<AppOptions> Parse(std::vector<const char*> flags) {
  flags.insert(flags.begin(), "bitunix-marketdata");
  auto config = Config::Load("bitunix-marketdata", MarketDataOptionSpecs(), static_cast<int>(flags.size()),
                             flags.data(), [](const std::string&) { return std::optional<std::string>(); });
  if (!config.ok()) return config.status();
  return AppOptionsFromConfig(*config);
}

TEST(MarketDataOptions, TheDefaultsAreAccepted) { EXPECT_TRUE(Parse({}).ok()) << Parse({}).status(); }

TEST(MarketDataOptions, AZeroQueueAgeIsRefusedWithWhatToGiveInstead) {
  auto zero = Parse({"--max-queue-age=0"});
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("--max-queue-age must be > 0"), std::string_view::npos)
      << zero.status();
  auto loose = Parse({"--max-queue-age=30s"});
  ASSERT_TRUE(loose.ok()) << loose.status();
  EXPECT_EQ(loose->hub.max_queue_age, std::chrono::seconds(30));
}

// The poller's floor is a share of its own budget: a smaller budget lowers it (no polling, no
// floor); a negative floor is refused, saying what to give.
TEST(MarketDataOptions, ThePollFloorIsAShareOfThePollBudget) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->rest.background_floor_per_second, 2);
  auto off = Parse({"--rest-poll-floor=0"});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->rest.background_floor_per_second, 0);
  auto no_polling = Parse({"--rest-poll-budget=0"});
  ASSERT_TRUE(no_polling.ok()) << no_polling.status();
  EXPECT_EQ(no_polling->rest.background_floor_per_second, 0);
  auto above = Parse({"--rest-poll-budget=3", "--rest-poll-floor=4"});
  ASSERT_TRUE(above.ok()) << above.status();
  EXPECT_EQ(above->rest.background_floor_per_second, 3);
  auto negative = Parse({"--rest-poll-floor=-1"});
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("--rest-poll-floor must be >= 0"), std::string_view::npos)
      << negative.status();
}

}  // namespace
}  // namespace bx::md
