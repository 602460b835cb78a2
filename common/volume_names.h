// Which of a REST reply's volume fields holds the base volume. The exchange's kline (and ticker)
// replies were captured once with `baseVol`/`quoteVol` named as documented and once with the names
// swapped (reference section 8), so both services decide it from the numbers, once per reply.
//
// The rule, exact decimal arithmetic only:
//  - A row gives a signal only when both volumes are positive decimals and its `low`..`high` range
//    (both positive, low <= high) stays clear of 1.0 by more than 5% (high < 1/1.05 or
//    low > 1.05). Near 1.0 base and quote volume are nearly the same number, and a range holding
//    1.0 (a coin crossing $1) fits both readings, so such rows say nothing.
//  - Its implied average price must lie within [low, high] (1% slack for the rounding of the
//    reported values): quoteVol/baseVol -> the names are as documented; baseVol/quoteVol -> they
//    are swapped. A row that fits neither reading says nothing.
//  - The reading more signalling rows fit wins and applies to every row of the reply. No signal,
//    or a tie, keeps the documented names.
//  - Several replies answering one request (the pages of one GetKlines) must not disagree because
//    one of them had no signal: a page without a verdict takes the verdict of the nearest page
//    that has one (CarryVolumeVerdicts).
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace bx {

/// One row as the reply named its fields. Texts that are not decimals count as absent.
struct VolumeRow {
  std::string_view base_vol;   ///< the field named baseVol
  std::string_view quote_vol;  ///< the field named quoteVol
  std::string_view low, high;  ///< the row's price range (the candle's, or the ticker's 24 h)
};

enum class VolumeVote { kNone, kAsNamed, kSwapped };

/// What one row says about the naming (see the rule above).
VolumeVote VoteOnVolumeNames(const VolumeRow& row);

/// A reply's verdict; kUndecided when no row gives a signal, or on a tie.
enum class VolumeVerdict { kUndecided, kAsNamed, kSwapped };
VolumeVerdict DecideVolumeNames(std::span<const VolumeRow> rows);

/// The reply's verdict: true when `baseVol` and `quoteVol` are to be read the other way round
/// (an undecided reply keeps the documented names).
bool VolumeNamesSwapped(std::span<const VolumeRow> rows);

/// The pages of one request, in the order they were fetched: whether each page's names are
/// swapped. A decided page keeps its own verdict; an undecided one takes the verdict of the
/// nearest decided page before it, else of the nearest after it; with no decided page at all,
/// the documented names.
std::vector<bool> CarryVolumeVerdicts(std::span<const VolumeVerdict> pages);

}  // namespace bx
