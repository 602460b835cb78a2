// The volume-naming decision both services share (common/volume_names.h).
#include "common/volume_names.h"

#include <gtest/gtest.h>

#include <vector>

namespace bx {
namespace {

// The 2026-09-29 capture (names as documented) and the 2026-08-11 one (names swapped): the first
// row of each, as the reply named the fields.
constexpr VolumeRow kCapturedAsNamed{"38.3557", "3226465.06406", "84071.8", "84167.8"};
constexpr VolumeRow kCapturedSwapped{"1026789.19294", "16.0341", "64030.9", "64045.1"};

TEST(VolumeNames, CapturedRowsVoteTheirWay) {
  EXPECT_EQ(VoteOnVolumeNames(kCapturedAsNamed), VolumeVote::kAsNamed);
  EXPECT_EQ(VoteOnVolumeNames(kCapturedSwapped), VolumeVote::kSwapped);
  // The captured ticker row: 24 h turnover over volume lies in the 24 h range.
  EXPECT_EQ(VoteOnVolumeNames({"26573.4995", "2217493295.14546", "82500.5", "84349.7"}), VolumeVote::kAsNamed);
}

TEST(VolumeNames, RowsWithoutVolumeOrRangeSayNothing) {
  EXPECT_EQ(VoteOnVolumeNames({"0", "0", "100", "101"}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"0", "150", "100", "101"}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"", "", "100", "101"}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"2", "200", "", ""}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"2", "200", "101", "99"}), VolumeVote::kNone);  // low above high
  EXPECT_EQ(VoteOnVolumeNames({"2", "200", "0", "101"}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"2", "-200", "99", "101"}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"2", "1e3", "99", "101"}), VolumeVote::kNone);
}

TEST(VolumeNames, ImpliedPriceMustLieInTheRange) {
  EXPECT_EQ(VoteOnVolumeNames({"2", "200", "99", "101"}), VolumeVote::kAsNamed);
  EXPECT_EQ(VoteOnVolumeNames({"200", "2", "99", "101"}), VolumeVote::kSwapped);
  // 1% slack for rounding on either side, not more.
  EXPECT_EQ(VoteOnVolumeNames({"2", "196.03", "99", "101"}), VolumeVote::kAsNamed);
  EXPECT_EQ(VoteOnVolumeNames({"2", "204.02", "99", "101"}), VolumeVote::kAsNamed);
  EXPECT_EQ(VoteOnVolumeNames({"2", "196", "99", "101"}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"2", "204.03", "99", "101"}), VolumeVote::kNone);
  // Neither reading fits (the volumes do not belong to this range): no signal.
  EXPECT_EQ(VoteOnVolumeNames({"2", "300", "99", "101"}), VolumeVote::kNone);
}

TEST(VolumeNames, RangesNearOneSayNothing) {
  // A stablecoin: both readings fit.
  EXPECT_EQ(VoteOnVolumeNames({"1000", "1000.5", "0.999", "1.001"}), VolumeVote::kNone);
  // A coin crossing $1 in the candle: quote/base 1.01 and base/quote 0.99 both lie in the range.
  EXPECT_EQ(VoteOnVolumeNames({"1000", "1010", "0.97", "1.05"}), VolumeVote::kNone);
  // Within 5% of 1.0 on either side.
  EXPECT_EQ(VoteOnVolumeNames({"1000", "960", "0.955", "0.96"}), VolumeVote::kNone);
  EXPECT_EQ(VoteOnVolumeNames({"1000", "1045", "1.04", "1.05"}), VolumeVote::kNone);
  // Just clear of it, a row speaks.
  EXPECT_EQ(VoteOnVolumeNames({"1000", "940", "0.93", "0.95"}), VolumeVote::kAsNamed);
  EXPECT_EQ(VoteOnVolumeNames({"940", "1000", "0.93", "0.95"}), VolumeVote::kSwapped);
  EXPECT_EQ(VoteOnVolumeNames({"1000", "1060", "1.051", "1.07"}), VolumeVote::kAsNamed);
  // Far below 1.0 (PEPE-like prices), base volume is the big number: still decided.
  EXPECT_EQ(VoteOnVolumeNames({"5000000000", "50000", "0.0000099", "0.0000101"}), VolumeVote::kAsNamed);
  EXPECT_EQ(VoteOnVolumeNames({"50000", "5000000000", "0.0000099", "0.0000101"}), VolumeVote::kSwapped);
}

TEST(VolumeNames, TheReplyDecidesOnceByMajorityAndFallsBackToTheDocumentedNames) {
  EXPECT_FALSE(VolumeNamesSwapped({}));
  const std::vector<VolumeRow> silent = {{"0", "0", "100", "100"}, {"1000", "1000.5", "0.999", "1.001"}};
  EXPECT_FALSE(VolumeNamesSwapped(silent));
  EXPECT_TRUE(VolumeNamesSwapped(std::vector<VolumeRow>{kCapturedSwapped}));
  EXPECT_FALSE(VolumeNamesSwapped(std::vector<VolumeRow>{kCapturedAsNamed}));
  const std::vector<VolumeRow> tie = {kCapturedAsNamed, kCapturedSwapped};
  EXPECT_FALSE(VolumeNamesSwapped(tie));
  const std::vector<VolumeRow> majority = {kCapturedSwapped, kCapturedAsNamed, kCapturedSwapped, silent[0]};
  EXPECT_TRUE(VolumeNamesSwapped(majority));
}

TEST(VolumeNames, AReplyWithoutSignalOrWithATieIsUndecided) {
  EXPECT_EQ(DecideVolumeNames({}), VolumeVerdict::kUndecided);
  const std::vector<VolumeRow> tie = {kCapturedAsNamed, kCapturedSwapped};
  EXPECT_EQ(DecideVolumeNames(tie), VolumeVerdict::kUndecided);
  EXPECT_EQ(DecideVolumeNames(std::vector<VolumeRow>{kCapturedSwapped}), VolumeVerdict::kSwapped);
  EXPECT_EQ(DecideVolumeNames(std::vector<VolumeRow>{kCapturedAsNamed}), VolumeVerdict::kAsNamed);
}

// The pages of one request: an undecided page reads as the nearest decided page before it, else
// the nearest after it; decided pages keep their own verdict; none decided: documented names.
TEST(VolumeNames, UndecidedPagesTakeTheVerdictOfTheNearestDecidedPage) {
  using V = VolumeVerdict;
  auto carry = [](std::vector<V> pages) { return CarryVolumeVerdicts(pages); };
  EXPECT_TRUE(carry({}).empty());
  EXPECT_EQ(carry({V::kUndecided, V::kUndecided}), (std::vector<bool>{false, false}));
  EXPECT_EQ(carry({V::kSwapped, V::kUndecided}), (std::vector<bool>{true, true}));
  EXPECT_EQ(carry({V::kUndecided, V::kUndecided, V::kSwapped}), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(carry({V::kSwapped, V::kUndecided, V::kAsNamed, V::kUndecided}),
            (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(carry({V::kUndecided, V::kAsNamed, V::kSwapped}), (std::vector<bool>{false, false, true}));
}

}  // namespace
}  // namespace bx
