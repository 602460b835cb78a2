#include "common/cpu_latency.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace bx {
namespace {

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

std::string TempFile() {
  char name[] = "/tmp/bx-cpu-latency-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  return name;
}

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(CpuLatencyRequest, WritesTheValueAsA32BitIntegerAndHoldsTheFileUntilDestroyed) {
  const std::string path = TempFile();
  const int before = OpenFds();
  {
    auto req = CpuLatencyRequest::Hold(7, path);
    ASSERT_TRUE(req.ok()) << req.status();
    EXPECT_EQ((*req)->max_us(), 7);
    EXPECT_EQ(OpenFds(), before + 1);  // the kernel keeps the request while the file is open
    const std::string bytes = Contents(path);
    ASSERT_EQ(bytes.size(), sizeof(int32_t));
    int32_t v = -1;
    std::memcpy(&v, bytes.data(), sizeof v);
    EXPECT_EQ(v, 7);
  }
  EXPECT_EQ(OpenFds(), before);  // released
  std::remove(path.c_str());
}

TEST(CpuLatencyRequest, OptionMinusOneHoldsNothingAndZeroHoldsARequest) {
  const std::string path = TempFile();
  auto off = CpuLatencyRequest::FromOption(-1, path);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, nullptr);
  EXPECT_TRUE(Contents(path).empty());
  auto on = CpuLatencyRequest::FromOption(0, path);
  ASSERT_TRUE(on.ok()) << on.status();
  ASSERT_NE(*on, nullptr);
  EXPECT_EQ((*on)->max_us(), 0);
  EXPECT_EQ(Contents(path), std::string(4, '\0'));
  std::remove(path.c_str());
}

TEST(CpuLatencyRequest, ClearErrors) {
  auto missing = CpuLatencyRequest::Hold(0, "/nonexistent-dir/cpu_dma_latency");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("/nonexistent-dir/cpu_dma_latency"), std::string::npos);
  EXPECT_NE(missing.status().message().find("--cpu-dma-latency-us"), std::string::npos);

  auto full = CpuLatencyRequest::Hold(0, "/dev/full");  // every write fails with ENOSPC
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(full.status().message().find("cannot write"), std::string::npos);

  EXPECT_EQ(CpuLatencyRequest::Hold(-5, "/dev/null").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CpuLatencyRequest::FromOption(-2, "/dev/null").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CpuLatencyRequest::FromOption(int64_t{1} << 40, "/dev/null").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace bx
