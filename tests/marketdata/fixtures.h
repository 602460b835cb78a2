// Captured exchange traffic (tests/fixtures/bitunix, see its README) as test input.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bx::md::testing {

struct FixtureFrame {
  std::string kind;
  std::string text;  ///< the exact captured text when given ("raw"), else the message re-serialised
  nlohmann::ordered_json message;
  bool captured = false;
};

/// Reads one of the .jsonl fixture files (ws-public.jsonl, ws-control.jsonl).
inline std::vector<FixtureFrame> LoadJsonl(const std::string& name) {
  std::vector<FixtureFrame> out;
  std::ifstream in(std::string(BITUNIX_FIXTURES_DIR) + "/bitunix/" + name);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto rec = nlohmann::ordered_json::parse(line);
    FixtureFrame f;
    f.kind = rec.at("kind").get<std::string>();
    f.message = rec.at("message");
    f.captured = rec.value("captured", false);
    f.text = rec.contains("raw") && rec["raw"].is_string() ? rec["raw"].get<std::string>() : f.message.dump();
    out.push_back(std::move(f));
  }
  return out;
}

/// Reads a .json fixture file (rest-responses.json, rest-requests.json).
inline nlohmann::ordered_json LoadJson(const std::string& name) {
  std::ifstream in(std::string(BITUNIX_FIXTURES_DIR) + "/bitunix/" + name);
  return nlohmann::ordered_json::parse(in);
}

}  // namespace bx::md::testing
