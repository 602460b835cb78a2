// Kline replies on which both services' parsers must agree about which volume field is the base
// volume (common/volume_names.h). Each case is the reply's `data` array, as the exchange names the
// fields, and the base/quote volume expected for each row (by its time).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bx::testing {

struct ExpectedVolumes {
  int64_t time_ms;
  std::string base, quote;
};

struct KlineVolumeCase {
  std::string name;
  std::string data;  ///< the reply's `data` array
  std::vector<ExpectedVolumes> rows;
};

inline std::vector<KlineVolumeCase> KlineVolumeCases() {
  return {
      // A coin crossing $1 within one reply. Row 2's candle runs from 0.97 to 1.05 and closes at
      // 0.98 on an average price of 1.01: both readings fit it, and judged by its close alone it
      // looked swapped. Rows 1 and 3 decide for the whole reply.
      {"crossing $1, named as documented",
       R"([{"open":"1.07","high":"1.12","low":"1.06","close":"1.1","quoteVol":"1080","baseVol":"1000","time":"3"},)"
       R"({"open":"0.97","high":"1.05","low":"0.97","close":"0.98","quoteVol":"1010","baseVol":"1000","time":"2"},)"
       R"({"open":"0.91","high":"0.95","low":"0.9","close":"0.94","quoteVol":"925","baseVol":"1000","time":"1"}])",
       {{1, "1000", "925"}, {2, "1000", "1010"}, {3, "1000", "1080"}}},
      {"crossing $1, names swapped",
       R"([{"open":"1.07","high":"1.12","low":"1.06","close":"1.1","quoteVol":"1000","baseVol":"1080","time":"3"},)"
       R"({"open":"0.97","high":"1.05","low":"0.97","close":"0.98","quoteVol":"1000","baseVol":"1010","time":"2"},)"
       R"({"open":"0.91","high":"0.95","low":"0.9","close":"0.94","quoteVol":"1000","baseVol":"925","time":"1"}])",
       {{1, "1000", "925"}, {2, "1000", "1010"}, {3, "1000", "1080"}}},
      // Prices near 1.0 with small, rounded volumes: rows 1 and 2 (0.95..1.0) imply an average of
      // 1.025 and 1.03, outside their range, which only the swapped reading fits. They outvoted
      // row 3 (0.90..0.94, plainly as documented) when near-1 rows voted.
      {"near 1.0, rounded small volumes",
       R"([{"open":"0.93","high":"0.94","low":"0.9","close":"0.93","quoteVol":"920","baseVol":"1000","time":"3"},)"
       R"({"open":"0.96","high":"1","low":"0.95","close":"0.99","quoteVol":"10.3","baseVol":"10","time":"2"},)"
       R"({"open":"0.97","high":"1","low":"0.95","close":"0.98","quoteVol":"20.5","baseVol":"20","time":"1"}])",
       {{1, "20", "20.5"}, {2, "10", "10.3"}, {3, "1000", "920"}}},
      // No row gives a signal (a stablecoin; close and average price on opposite sides of 1.0):
      // the documented names stand.
      {"no signal: stablecoin",
       R"([{"open":"1","high":"1.002","low":"0.999","close":"1.001","quoteVol":"499.8","baseVol":"500","time":"2"},)"
       R"({"open":"1","high":"1.001","low":"0.998","close":"0.999","quoteVol":"1000.5","baseVol":"1000","time":"1"}])",
       {{1, "1000", "1000.5"}, {2, "500", "499.8"}}},
      // Zero-volume rows give no signal; the one traded row decides (swapped), for every row.
      {"zero-volume rows, names swapped",
       R"([{"open":"64045.1","high":"64045.1","low":"64045.1","close":"64045.1","quoteVol":"0","baseVol":"0","time":"3"},)"
       R"({"open":"64045.1","high":"64045.1","low":"64045.1","close":"64045.1","quoteVol":"0","baseVol":"0","time":"2"},)"
       R"({"open":"64034.3","high":"64045.1","low":"64030.9","close":"64045.1","quoteVol":"16.0341","baseVol":"1026789.19294","time":"1"}])",
       {{1, "16.0341", "1026789.19294"}, {2, "0", "0"}, {3, "0", "0"}}},
      {"zero volume only",
       R"([{"open":"5","high":"5","low":"5","close":"5","quoteVol":"0","baseVol":"0","time":"1"}])",
       {{1, "0", "0"}}},
      // A single row decides alone.
      {"single row, names swapped",
       R"([{"open":"84101.7","high":"84167.8","low":"84071.8","close":"84166.7","quoteVol":"38.3557","baseVol":"3226465.06406","time":"1"}])",
       {{1, "38.3557", "3226465.06406"}}},
      {"single row, named as documented",
       R"([{"open":"84101.7","high":"84167.8","low":"84071.8","close":"84166.7","quoteVol":"3226465.06406","baseVol":"38.3557","time":"1"}])",
       {{1, "38.3557", "3226465.06406"}}},
      {"single row near 1.0", R"([{"open":"1","high":"1.001","low":"0.999","close":"0.9995","quoteVol":"1000.3","baseVol":"1000","time":"1"}])",
       {{1, "1000", "1000.3"}}},
  };
}

}  // namespace bx::testing
