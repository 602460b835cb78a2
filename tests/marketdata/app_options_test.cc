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

}  // namespace
}  // namespace bx::md
