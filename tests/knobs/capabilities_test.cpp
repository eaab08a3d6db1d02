// Capability probes against fake powercap trees (fakes over mocks): a writable RAPL limit makes the
// CPU power limit supported; a missing tree or missing constraints say why not; no CUDA or no NVML
// says why for the GPU.
#include "greenknobs/knobs/capabilities.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "../common/temp_dir.h"

using namespace gk::knobs;
namespace stdfs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
    static const gk::testing::TempDir root("caps");
    std::string dir = root / name;
    stdfs::remove_all(dir);
    stdfs::create_directories(dir);
    return dir;
}

bool has(const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
}

}  // namespace

TEST(Capabilities, WritableRaplLimitIsSupported) {
    std::string root = fresh_dir("writable");
    stdfs::create_directories(root + "/intel-rapl:0");
    std::ofstream(root + "/intel-rapl:0/name") << "package-0\n";
    std::ofstream(root + "/intel-rapl:0/constraint_0_power_limit_uw") << "65000000\n";
    ProbePaths paths;
    paths.powercap_root = root;
    paths.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    Capabilities caps = detect_capabilities("cpu", /*cuda=*/false, paths);
    EXPECT_TRUE(caps.cpu_power_limit);
    EXPECT_FALSE(caps.gpu_power_limit);
    EXPECT_TRUE(caps.power_limit_reason.empty()) << caps.power_limit_reason;
    EXPECT_EQ(caps.device, "cpu");

    // psys has limits too, but they are the platform's: not a CPU power limit.
    std::string psys = fresh_dir("psys");
    stdfs::create_directories(psys + "/intel-rapl:1");
    std::ofstream(psys + "/intel-rapl:1/name") << "psys\n";
    std::ofstream(psys + "/intel-rapl:1/constraint_0_power_limit_uw") << "65000000\n";
    paths.powercap_root = psys;
    caps = detect_capabilities("cpu", /*cuda=*/false, paths);
    EXPECT_FALSE(caps.cpu_power_limit);
    EXPECT_TRUE(has(caps.power_limit_reason, "no RAPL package zone")) << caps.power_limit_reason;
}

TEST(Capabilities, NoPowercapSaysWhy) {
    ProbePaths paths;
    paths.powercap_root = "/nonexistent/powercap";
    paths.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    Capabilities caps = detect_capabilities("cpu", /*cuda=*/false, paths);
    EXPECT_FALSE(caps.cpu_power_limit);
    EXPECT_FALSE(caps.gpu_power_limit);
    EXPECT_TRUE(has(caps.power_limit_reason, "no powercap tree at /nonexistent/powercap"))
        << caps.power_limit_reason;
    EXPECT_TRUE(has(caps.power_limit_reason, "no CUDA device")) << caps.power_limit_reason;

    std::string root = fresh_dir("empty");
    stdfs::create_directories(root + "/intel-rapl:0");  // a package without a limit constraint
    std::ofstream(root + "/intel-rapl:0/name") << "package-0\n";
    paths.powercap_root = root;
    caps = detect_capabilities("cuda", /*cuda=*/true, paths);
    EXPECT_FALSE(caps.cpu_power_limit);
    EXPECT_FALSE(caps.gpu_power_limit);
    EXPECT_TRUE(caps.cuda);
    EXPECT_TRUE(has(caps.power_limit_reason, "no RAPL power-limit constraint"))
        << caps.power_limit_reason;
    EXPECT_TRUE(has(caps.power_limit_reason, "cannot load /nonexistent/libnvidia-ml.so.1"))
        << caps.power_limit_reason;
}

TEST(Capabilities, ReadOnlyRaplLimitIsNotSupported) {
    if (::geteuid() == 0) {
        GTEST_SKIP() << "root bypasses file permissions, so a read-only fake cannot be made here";
    }
    std::string root = fresh_dir("readonly");
    stdfs::create_directories(root + "/intel-rapl:0");
    std::ofstream(root + "/intel-rapl:0/name") << "package-0\n";
    std::string limit = root + "/intel-rapl:0/constraint_0_power_limit_uw";
    std::ofstream(limit) << "65000000\n";
    stdfs::permissions(
        limit, stdfs::perms::owner_read | stdfs::perms::group_read | stdfs::perms::others_read);
    ProbePaths paths;
    paths.powercap_root = root;
    Capabilities caps = detect_capabilities("cpu", /*cuda=*/false, paths);
    EXPECT_FALSE(caps.cpu_power_limit);
    EXPECT_TRUE(has(caps.power_limit_reason, "not writable")) << caps.power_limit_reason;
}
