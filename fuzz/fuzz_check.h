// What the fuzz targets share: a check that reports the failing property and aborts (so libFuzzer
// and the replay driver both record the input), and the input split used by the targets that take
// more than one string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#define FUZZ_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: property failed: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                  \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

namespace bx::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits at the first '\n': (before, after). No newline: (all, "").
inline std::pair<std::string_view, std::string_view> SplitLine(std::string_view s) {
  const size_t nl = s.find('\n');
  if (nl == std::string_view::npos) return {s, {}};
  return {s.substr(0, nl), s.substr(nl + 1)};
}

/// The step-driven targets: feeds `h.Step` one line of the input at a time, at most `max_steps`.
template <class Harness>
void StepLines(Harness& h, const uint8_t* data, size_t size, int max_steps = 256) {
  std::string_view rest = AsText(data, size);
  for (int steps = 0; !rest.empty() && steps < max_steps; ++steps) {
    auto [line, next] = SplitLine(rest);
    h.Step(line);
    rest = next;
  }
}

}  // namespace bx::fuzz
