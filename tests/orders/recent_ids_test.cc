#include "services/orders/recent_ids.h"

#include <gtest/gtest.h>

namespace bx::orders {
namespace {

TEST(RecentIds, ForgetsTheOldestBeyondItsCapacityAndIgnoresRepeatsAndEmptyIds) {
  RecentIds ids(3);
  ids.Add("a");
  ids.Add("b");
  ids.Add("a");  // a repeat does not refresh or take a second place
  ids.Add("");
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_FALSE(ids.Contains(""));
  ids.Add("c");
  ids.Add("d");  // the fourth: "a", the oldest, goes
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_FALSE(ids.Contains("a"));
  EXPECT_TRUE(ids.Contains("b"));
  EXPECT_TRUE(ids.Contains("c"));
  EXPECT_TRUE(ids.Contains("d"));
}

}  // namespace
}  // namespace bx::orders
