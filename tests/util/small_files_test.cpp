// The small helpers of util: UTC formatting of a known instant, and kernel-file reads that report
// failure as data (errno) instead of throwing.
#include <cerrno>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "greenknobs/util/fs.h"
#include "greenknobs/util/utc_time.h"

#include "../common/temp_dir.h"

namespace gk {
namespace {

TEST(UtcTime, FormatsAKnownInstant) {
    // 2026-12-06T13:40:05Z is 1796564405 s after the epoch; fractions are dropped, never rounded
    // up.
    EXPECT_EQ(utc_iso8601(1796564405.9), "2026-12-06T13:40:05Z");
    EXPECT_EQ(utc_format(0.0, "%Y-%m-%d %H:%M:%S"), "1970-01-01 00:00:00");
    EXPECT_EQ(utc_format(1796564405.0, "%Y%m%dT%H%M%SZ"), "20261206T134005Z");
    const std::string now = utc_now_iso8601();
    ASSERT_EQ(now.size(), 20u);
    EXPECT_EQ(now[10], 'T');
    EXPECT_EQ(now.back(), 'Z');
}

TEST(SmallFiles, SysfsValueIsTrimmedAndFailuresCarryErrno) {
    gk::testing::TempDir dir("small_files");
    std::ofstream(dir / "energy_uj") << "123456789 \n";
    std::string v;
    int err = -1;
    ASSERT_TRUE(fs::read_sysfs_value(dir / "energy_uj", &v, &err));
    EXPECT_EQ(v, "123456789");
    EXPECT_EQ(err, 0);

    ASSERT_TRUE(fs::read_small_file(dir / "energy_uj", &v));
    EXPECT_EQ(v, "123456789 \n");  // whole, untrimmed

    std::string big(10000, 'x');  // longer than one read
    std::ofstream(dir / "stat") << big;
    ASSERT_TRUE(fs::read_small_file(dir / "stat", &v));
    EXPECT_EQ(v.size(), big.size());

    EXPECT_FALSE(fs::read_sysfs_value(dir / "absent", &v, &err));
    EXPECT_EQ(err, ENOENT);
    EXPECT_FALSE(fs::read_small_file(dir.path(), &v, &err));  // a directory cannot be read
    EXPECT_EQ(err, EISDIR);
}

}  // namespace
}  // namespace gk
