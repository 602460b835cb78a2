#include "common/volume_names.h"

#include <optional>
#include <string>

#include "common/decimal.h"

namespace bx {
namespace {

constexpr std::string_view kNearOne = "1.05";    // a range within 5% of 1.0 gives no signal
constexpr std::string_view kSlackDown = "0.99";  // 1% slack for rounding of the reported values
constexpr std::string_view kSlackUp = "1.01";

// a x b <op> c, exactly; nullopt when the product does not fit MultiplyDecimal.
std::optional<int> CompareProduct(std::string_view a, std::string_view b, std::string_view c) {
  auto product = MultiplyDecimal(a, b);
  if (!product) return std::nullopt;
  return CompareDecimal(*product, c);
}

// base x low x 0.99 <= quote <= base x high x 1.01.
bool ImpliedPriceFits(std::string_view base, std::string_view quote, std::string_view low, std::string_view high) {
  auto lo = MultiplyDecimal(base, low), hi = MultiplyDecimal(base, high);
  if (!lo || !hi) return false;
  auto below = CompareProduct(*lo, kSlackDown, quote);
  auto above = CompareProduct(*hi, kSlackUp, quote);
  return below && above && *below <= 0 && *above >= 0;
}

// The range is clear of 1.0: high x 1.05 < 1, or low > 1.05.
bool ClearOfOne(std::string_view low, std::string_view high) {
  auto under = CompareProduct(high, kNearOne, "1");
  auto over = CompareDecimal(low, kNearOne);
  return (under && *under < 0) || (over && *over > 0);
}

}  // namespace

VolumeVote VoteOnVolumeNames(const VolumeRow& row) {
  if (!IsPositiveDecimal(row.base_vol) || !IsPositiveDecimal(row.quote_vol)) return VolumeVote::kNone;
  if (!IsPositiveDecimal(row.low) || !IsPositiveDecimal(row.high)) return VolumeVote::kNone;
  auto order = CompareDecimal(row.low, row.high);
  if (!order || *order > 0) return VolumeVote::kNone;
  if (!ClearOfOne(row.low, row.high)) return VolumeVote::kNone;
  // Clear of 1.0, the range and its reciprocal do not overlap: at most one reading fits.
  if (ImpliedPriceFits(row.base_vol, row.quote_vol, row.low, row.high)) return VolumeVote::kAsNamed;
  if (ImpliedPriceFits(row.quote_vol, row.base_vol, row.low, row.high)) return VolumeVote::kSwapped;
  return VolumeVote::kNone;
}

VolumeVerdict DecideVolumeNames(std::span<const VolumeRow> rows) {
  int as_named = 0, swapped = 0;
  for (const VolumeRow& row : rows) {
    switch (VoteOnVolumeNames(row)) {
      case VolumeVote::kAsNamed: ++as_named; break;
      case VolumeVote::kSwapped: ++swapped; break;
      case VolumeVote::kNone: break;
    }
  }
  if (swapped > as_named) return VolumeVerdict::kSwapped;
  if (as_named > swapped) return VolumeVerdict::kAsNamed;
  return VolumeVerdict::kUndecided;
}

bool VolumeNamesSwapped(std::span<const VolumeRow> rows) {
  return DecideVolumeNames(rows) == VolumeVerdict::kSwapped;
}

std::vector<bool> CarryVolumeVerdicts(std::span<const VolumeVerdict> pages) {
  std::vector<VolumeVerdict> carried(pages.begin(), pages.end());
  // Forward: an undecided page takes the last decided one before it.
  VolumeVerdict last = VolumeVerdict::kUndecided;
  for (VolumeVerdict& v : carried) {
    if (v == VolumeVerdict::kUndecided) {
      v = last;
    } else {
      last = v;
    }
  }
  // Backward: pages before the first decided one take that one.
  last = VolumeVerdict::kUndecided;
  for (auto it = carried.rbegin(); it != carried.rend(); ++it) {
    if (*it == VolumeVerdict::kUndecided) {
      *it = last;
    } else {
      last = *it;
    }
  }
  std::vector<bool> swapped;
  swapped.reserve(carried.size());
  for (VolumeVerdict v : carried) swapped.push_back(v == VolumeVerdict::kSwapped);
  return swapped;
}

}  // namespace bx
