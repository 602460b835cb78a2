// The fuzz targets' main() when they are not built with libFuzzer (the normal g++ build): runs
// LLVMFuzzerTestOneInput once per input, so every corpus and captured fixture is replayed by the
// test suite. Arguments are files or directories (every regular file in them, not recursive).
// --captures FILE feeds each record of a fixture capture file instead of the file itself: the
// record's "raw" text, or its "message" re-serialised when no raw text was kept (.json holds an
// array of records, .jsonl one record per line).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

size_t Feed(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 1;
}

bool ReadFile(const std::filesystem::path& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

size_t FeedRecord(const nlohmann::json& rec) {
  if (!rec.is_object()) return 0;
  if (auto it = rec.find("raw"); it != rec.end() && it->is_string()) return Feed(it->get<std::string>());
  if (auto it = rec.find("message"); it != rec.end()) return Feed(it->dump());
  return 0;
}

// Returns the number of inputs fed, or -1 when the file is not a capture file.
long FeedCaptures(const std::filesystem::path& p) {
  std::string text;
  if (!ReadFile(p, &text)) return -1;
  long n = 0;
  if (p.extension() == ".jsonl") {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      auto rec = nlohmann::json::parse(line, nullptr, false);
      if (rec.is_discarded()) return -1;
      n += static_cast<long>(FeedRecord(rec));
    }
    return n;
  }
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_array()) return -1;
  for (const auto& rec : doc) n += static_cast<long>(FeedRecord(rec));
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--captures" && i + 1 < argc) {
      const long n = FeedCaptures(argv[++i]);
      if (n < 0) {
        std::fprintf(stderr, "%s: not a capture file\n", argv[i]);
        return 2;
      }
      inputs += static_cast<size_t>(n);
      continue;
    }
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(arg)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else {
      files.emplace_back(arg);
    }
    for (const auto& f : files) {
      std::string bytes;
      if (!ReadFile(f, &bytes)) {
        std::fprintf(stderr, "%s: cannot read\n", f.c_str());
        return 2;
      }
      inputs += Feed(bytes);
    }
  }
  if (inputs == 0) {
    std::fprintf(stderr, "no inputs given\n");
    return 2;
  }
  std::printf("%zu inputs replayed, no property failed\n", inputs);
  return 0;
}
