// Power limits: GPU through the fake NVML (set, verify, restore, errors) and CPU through a fake
// writable RAPL tree (set, restore, restore on SIGTERM); unsupported with both reasons when neither
// exists.
#include "greenknobs/energy/power_limit.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "greenknobs/energy/nvml.h"
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
        o.visible_from_env = false;  // every GPU, whatever the machine running the tests sets
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
    // The enforced limit is above ours: our write did not take.
    script("gpus 1\nlimits 0 100000 300000 250000\nenforce_offset 0 5000\n");
    PowerLimiter limiter(gpu_opts());
    EXPECT_THROW(limiter.apply(200), gk::UnsupportedError);
    EXPECT_EQ(fake_limit_mw(0), 250000u);
}

TEST_F(PowerLimit, GpuCapBelowTheRequestIsRespectedAndReported) {
    // Someone else's lower limit is in force (enforced = ours - 20 W): the run goes on at it.
    script("gpus 1\nlimits 0 100000 300000 250000\nenforce_offset 0 -20000\n");
    PowerLimiter limiter(gpu_opts());
    auto applied = limiter.apply(200);
    ASSERT_EQ(applied.size(), 1u);
    EXPECT_TRUE(applied[0].capped);
    EXPECT_DOUBLE_EQ(applied[0].enforced_w, 180.0);
    EXPECT_NE(applied[0].note.find("lower limit"), std::string::npos);
    limiter.restore();
    EXPECT_EQ(fake_limit_mw(0), 250000u);
}

TEST_F(PowerLimit, OnlyVisibleGpusAreCappedAndMigIsRefused) {
    script(
        "gpus 3\nlimits 0 100000 300000 250000\nlimits 1 100000 300000 250000\n"
        "limits 2 100000 300000 250000\nuuid 2 GPU-cccc\nmig 2 MIG-aaaa\n");
    PowerLimitOptions o = gpu_opts();
    o.cuda_visible_devices = "1";
    {
        PowerLimiter limiter(o);
        ASSERT_TRUE(limiter.supported().supported) << limiter.supported().reason;
        auto applied = limiter.apply(150);
        ASSERT_EQ(applied.size(), 1u);
        EXPECT_EQ(applied[0].device, "gpu-1");
        EXPECT_EQ(fake_limit_mw(0), 250000u);  // another user's GPU is left alone
        EXPECT_EQ(fake_limit_mw(1), 150000u);
        EXPECT_EQ(fake_limit_mw(2), 250000u);
    }
    o.cuda_visible_devices = "MIG-aaaa";
    PowerLimiter mig(o);
    EXPECT_FALSE(mig.supported().supported);
    EXPECT_NE(mig.supported().reason.find("MIG"), std::string::npos) << mig.supported().reason;
}

// The handler may interrupt a thread inside NVML (the sampler reading energy, holding the driver
// library's lock): restoring from the handler would deadlock there. It only records the signal;
// the restore thread restores, then the signal ends the process. The fake library holds a lock for
// 300 ms in every energy read, and the signal is sent to the reading thread.
TEST_F(PowerLimit, SignalDuringASamplerReadRestoresWithoutDeadlock) {
    std::string limit_file = dir_ / "limit";
    script(
        "gpus 1\nlimits 0 100000 300000 250000\nenergy 0 1000\nenergy_delay_ms 0 300\n"
        "limit_file " +
        limit_file + "\n");
    pid_t pid = ::fork();
    if (pid == 0) {
        PowerLimitOptions o = gpu_opts();
        o.restore_on_signal = true;
        PowerLimiter limiter(o);
        limiter.apply(200);
        auto gpus = discover_nvml(GK_FAKE_NVML_PATH, 0.1);
        std::atomic<bool> reading{false};
        std::thread sampler([&] {
            for (;;) {
                reading = true;
                gpus[0]->read_energy_j();
                std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the sampler's period
            }
        });
        while (!reading) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // inside a 300 ms read
        ::pthread_kill(sampler.native_handle(), SIGTERM);
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the program goes on
        }
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 200 && done == 0; ++i) {  // 20 s: a deadlock never ends
        done = ::waitpid(pid, &status, WNOHANG);
        if (done == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    if (done == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        FAIL() << "the process did not end after SIGTERM (deadlock in the restore path)";
    }
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
    EXPECT_EQ(testing::read(limit_file), "0 250000\n");  // set to 200 W, then restored
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

TEST_F(PowerLimit, CpuBothConstraintsCapsAndUnitRounding) {
    TempDir root;
    write(root / "intel-rapl:0/name", "package-0\n");
    write(root / "intel-rapl:0/constraint_0_name", "long_term\n");
    write(root / "intel-rapl:0/constraint_0_power_limit_uw", "150000000\n");
    write(root / "intel-rapl:0/constraint_0_max_power_uw", "200000000\n");
    write(root / "intel-rapl:0/constraint_1_name", "short_term\n");
    write(root / "intel-rapl:0/constraint_1_power_limit_uw", "180000000\n");
    write(root / "intel-rapl:0/constraint_1_max_power_uw", "90000000\n");
    PowerLimitOptions o;
    o.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    o.powercap_root = root.path();
    o.restore_on_signal = false;
    PowerLimiter limiter(o);
    ASSERT_TRUE(limiter.supported().supported) << limiter.supported().reason;
    auto applied = limiter.apply(100);
    ASSERT_EQ(applied.size(), 2u);
    EXPECT_EQ(applied[0].device, "package-0/long_term");
    EXPECT_FALSE(applied[0].capped);
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_0_power_limit_uw"), "100000000");
    // The short-term constraint cannot go above its max_power_uw: capped there, reported.
    EXPECT_EQ(applied[1].device, "package-0/short_term");
    EXPECT_TRUE(applied[1].capped);
    EXPECT_DOUBLE_EQ(applied[1].enforced_w, 90.0);
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_1_power_limit_uw"), "90000000");
    limiter.restore();
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_0_power_limit_uw"), "150000000");
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_1_power_limit_uw"), "180000000");
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
            // The handler only records the signal; the restore thread restores, then ends us.
            for (;;) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        },
        ::testing::KilledBySignal(SIGTERM), "");
    EXPECT_EQ(testing::read(root / "intel-rapl:0/constraint_0_power_limit_uw"), "150000000");
}

}  // namespace
}  // namespace gk::energy
