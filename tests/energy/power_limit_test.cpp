// Power limits: GPU through the fake NVML (set, verify, restore, errors) and CPU through a fake
// writable RAPL tree (set, restore, restore on SIGTERM); unsupported with both reasons when neither
// exists.
#include "greenknobs/energy/power_limit.h"

#include <csignal>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "greenknobs/util/error.h"

#include "test_util.h"

namespace gk::energy {
namespace {

using testing::TempDir;
using testing::write;

unsigned fake_limit_mw(unsigned gpu) {
    void* h = ::dlopen(GK_FAKE_NVML_PATH, RTLD_NOW | RTLD_NOLOAD);
    auto fn = reinterpret_cast<unsigned (*)(unsigned)>(::dlsym(h, "fake_nvml_limit_mw"));
    return fn(gpu);
}

class PowerLimit : public ::testing::Test {
  protected:
    void script(const std::string& text) {
        write(dir_ / "script", text);
        ::setenv("GK_FAKE_NVML_SCRIPT", (dir_ / "script").c_str(), 1);
    }
    void TearDown() override { ::unsetenv("GK_FAKE_NVML_SCRIPT"); }
    PowerLimitOptions gpu_opts() {
        PowerLimitOptions o;
        o.nvml_library = GK_FAKE_NVML_PATH;
        o.powercap_root = "/nonexistent/powercap";
        o.restore_on_signal = false;
        return o;
    }
    TempDir dir_;
};

TEST_F(PowerLimit, UnsupportedSaysWhyForGpuAndCpu) {
    PowerLimitOptions o;
    o.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    o.powercap_root = "/nonexistent/powercap";
    PowerLimiter limiter(o);
    auto s = limiter.supported();
    EXPECT_FALSE(s.supported);
    EXPECT_NE(s.reason.find("GPU: cannot load NVML"), std::string::npos) << s.reason;
    EXPECT_NE(s.reason.find("CPU: no powercap tree at /nonexistent/powercap"), std::string::npos);
    EXPECT_THROW(limiter.apply(100), gk::UnsupportedError);
}

TEST_F(PowerLimit, GpuSetVerifyAndRestore) {
    script("gpus 2\nlimits 0 100000 300000 250000\nlimits 1 100000 300000 280000\n");
    {
        PowerLimiter limiter(gpu_opts());
        ASSERT_TRUE(limiter.supported().supported) << limiter.supported().reason;
        EXPECT_EQ(limiter.supported().mechanism, "nvml");
        auto applied = limiter.apply(200);
        ASSERT_EQ(applied.size(), 2u);
        EXPECT_DOUBLE_EQ(applied[0].previous_w, 250.0);
        EXPECT_DOUBLE_EQ(applied[1].previous_w, 280.0);
        EXPECT_DOUBLE_EQ(applied[1].enforced_w, 200.0);
        EXPECT_EQ(fake_limit_mw(0), 200000u);
        EXPECT_EQ(fake_limit_mw(1), 200000u);
        limiter.restore();
        EXPECT_EQ(fake_limit_mw(0), 250000u);
        EXPECT_EQ(fake_limit_mw(1), 280000u);
        limiter.apply(150);
        EXPECT_EQ(fake_limit_mw(0), 150000u);
    }  // the destructor restores
    EXPECT_EQ(fake_limit_mw(0), 250000u);
}

TEST_F(PowerLimit, GpuOutOfRangeIsBadInput) {
    script("gpus 1\nlimits 0 100000 300000 250000\n");
    PowerLimiter limiter(gpu_opts());
    EXPECT_THROW(limiter.apply(50), gk::InputError);
    EXPECT_EQ(fake_limit_mw(0), 250000u);
}

TEST_F(PowerLimit, GpuPermissionErrorAndFailedVerifyLeaveTheLimitAsItWas) {
    script("gpus 1\nlimits 0 100000 300000 250000\nset_error 0 4\n");
    {
        PowerLimiter limiter(gpu_opts());
        try {
            limiter.apply(200);
            FAIL() << "expected UnsupportedError";
        } catch (const gk::UnsupportedError& e) {
            EXPECT_NE(std::string(e.what()).find("Insufficient Permissions"), std::string::npos);
        }
        EXPECT_EQ(fake_limit_mw(0), 250000u);
    }
    script("gpus 1\nlimits 0 100000 300000 250000\nenforce_offset 0 -5000\n");
    PowerLimiter limiter(gpu_opts());
    EXPECT_THROW(limiter.apply(200), gk::UnsupportedError);
    EXPECT_EQ(fake_limit_mw(0), 250000u);
}

void rapl_tree(const TempDir& root) {
    write(root / "intel-rapl:0/name", "package-0\n");
    write(root / "intel-rapl:0/constraint_0_power_limit_uw", "150000000\n");
    write(root / "intel-rapl:1/name", "package-1\n");
    write(root / "intel-rapl:1/constraint_0_power_limit_uw", "160000000\n");
    write(root / "intel-rapl:0:0/name", "core\n");
    write(root / "intel-rapl:0:0/constraint_0_power_limit_uw", "0\n");
}

TEST_F(PowerLimit, CpuThroughWritableRaplAndRestore) {
    TempDir root;
    rapl_tree(root);
    PowerLimitOptions o;
    o.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    o.powercap_root = root.path();
    o.restore_on_signal = false;
    PowerLimiter limiter(o);
    ASSERT_TRUE(limiter.supported().supported) << limiter.supported().reason;
    EXPECT_EQ(limiter.supported().mechanism, "rapl");
    auto applied = limiter.apply(100);
    ASSERT_EQ(applied.size(), 2u);
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_0_power_limit_uw"), "100000000");
    EXPECT_EQ(testing::read(root / "intel-rapl:1/constraint_0_power_limit_uw"), "100000000");
    EXPECT_EQ(testing::read(root / "intel-rapl:0:0/constraint_0_power_limit_uw"), "0\n");
    limiter.restore();
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_0_power_limit_uw"), "150000000");
    EXPECT_EQ(testing::read(root / "intel-rapl:1/constraint_0_power_limit_uw"), "160000000");
}

TEST_F(PowerLimit, CpuLimitIsRestoredOnSigterm) {
    TempDir root;
    rapl_tree(root);
    EXPECT_EXIT(
        {
            PowerLimitOptions o;
            o.nvml_library = "/nonexistent/libnvidia-ml.so.1";
            o.powercap_root = root.path();
            PowerLimiter limiter(o);
            limiter.apply(90);
            std::raise(SIGTERM);
            std::exit(0);  // not reached
        },
        ::testing::KilledBySignal(SIGTERM), "");
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_0_power_limit_uw"), "150000000");
}

}  // namespace
}  // namespace gk::energy
