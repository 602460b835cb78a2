// The audit file: JSON lines appended across runs.
#include "services/orders/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

namespace bx::orders {
namespace {

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A run that died while writing a record left it without its newline; the next run's first
// record used to be appended to it, and neither line parsed.
TEST(AuditLog, ARecordCutShortByTheLastRunDoesNotSpoilTheNextOne) {
  char tmpl[] = "/tmp/bx-audit-XXXXXX";
  const int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string path = tmpl;
  std::ofstream(path) << R"({"ts_ms":1,"caller":"bot","action":"PlaceOrder","result":"OK"})" << "\n"
                      << R"({"ts_ms":2,"caller":"bot","act)";
  {
    AuditLog audit(path);
    ASSERT_TRUE(audit.file_ok());
    audit.Write({.caller = "bot", .action = "CancelOrder", .client_id = "c1", .result = "OK"});
  }
  {
    AuditLog again(path);  // a file that ends with a newline is left as it is
    again.Write({.caller = "bot", .action = "CancelOrder", .client_id = "c2", .result = "OK"});
  }
  const auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(nlohmann::json::accept(lines[0]));
  EXPECT_EQ(lines[1], R"({"ts_ms":2,"caller":"bot","act)");
  ASSERT_TRUE(nlohmann::json::accept(lines[2])) << lines[2];
  EXPECT_EQ(nlohmann::json::parse(lines[2])["client_id"], "c1");
  ASSERT_TRUE(nlohmann::json::accept(lines[3])) << lines[3];
  EXPECT_EQ(nlohmann::json::parse(lines[3])["client_id"], "c2");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace bx::orders
