// NVML through the fake library built by the tests: energy counter, power fallback, counter reset,
// errors mid-run, missing library.
#include "greenknobs/energy/nvml.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "greenknobs/energy/sources.h"
#include "greenknobs/energy/tracker.h"

#include "test_util.h"

namespace gk::energy {
namespace {

using testing::TempDir;
using testing::write;

class Nvml : public ::testing::Test {
  protected:
    void script(const std::string& text) {
        write(dir_ / "script", text);
        ::setenv("GK_FAKE_NVML_SCRIPT", (dir_ / "script").c_str(), 1);
    }
    void SetUp() override {
        // The machine running the tests may restrict its GPUs; these tests set their own.
        ::unsetenv("CUDA_VISIBLE_DEVICES");
        ::unsetenv("NVIDIA_VISIBLE_DEVICES");
    }
    void TearDown() override {
        ::unsetenv("GK_FAKE_NVML_SCRIPT");
        ::unsetenv("CUDA_VISIBLE_DEVICES");
        ::unsetenv("NVIDIA_VISIBLE_DEVICES");
    }
    // NVML indices of the GPUs the process may use, for the given variables (nullptr = unset).
    std::string visible(const char* cuda, const char* nvidia, VisibleGpus* out = nullptr) {
        auto lib = NvmlLibrary::open(GK_FAKE_NVML_PATH);
        std::string c = cuda != nullptr ? cuda : "", n = nvidia != nullptr ? nvidia : "";
        VisibleGpus v = resolve_visible_gpus(*lib, cuda != nullptr ? &c : nullptr,
                                             nvidia != nullptr ? &n : nullptr);
        if (out != nullptr) {
            *out = v;
        }
        if (!v.error.empty()) {
            return "error";
        }
        std::string s;
        for (unsigned i : v.indices) {
            s += (s.empty() ? "" : ",") + std::to_string(i);
        }
        return s;
    }
    TempDir dir_;
};

TEST_F(Nvml, VisibleDevicesByIndexUuidAndMig) {
    script(
        "gpus 4\nuuid 0 GPU-aaaa-0000\nuuid 1 GPU-bbbb-1111\nuuid 2 GPU-cccc-2222\n"
        "uuid 3 GPU-dddd-3333\nmig 2 MIG-eeee-0001 MIG-ffff-0002\n");
    EXPECT_EQ(visible(nullptr, nullptr), "0,1,2,3");
    EXPECT_EQ(visible("2,0", nullptr), "2,0");
    EXPECT_EQ(visible("", nullptr), "");    // set but empty: no GPU, as CUDA
    EXPECT_EQ(visible("-1", nullptr), "");  // idem
    // UUIDs, and unique prefixes of them, as CUDA accepts.
    EXPECT_EQ(visible("GPU-bbbb-1111,GPU-dddd", nullptr), "1,3");
    // CUDA stops at the first entry it cannot use.
    VisibleGpus v;
    EXPECT_EQ(visible("1,7,2", nullptr, &v), "1");
    ASSERT_EQ(v.warnings.size(), 1u);
    EXPECT_NE(v.warnings[0].find("'7'"), std::string::npos);
    // A MIG instance (new and old UUID forms) is measured as its parent GPU.
    EXPECT_EQ(visible("MIG-ffff-0002", nullptr, &v), "2");
    EXPECT_TRUE(v.has_mig);
    EXPECT_EQ(visible("MIG-GPU-dddd-3333/1/0", nullptr, &v), "3");
    EXPECT_TRUE(v.has_mig);
    // NVIDIA_VISIBLE_DEVICES (container runtime): CUDA indices count within it.
    EXPECT_EQ(visible(nullptr, "GPU-cccc-2222,GPU-aaaa-0000"), "2,0");
    EXPECT_EQ(visible("1", "GPU-cccc-2222,GPU-aaaa-0000"), "0");
    EXPECT_EQ(visible(nullptr, "all"), "0,1,2,3");
    EXPECT_EQ(visible(nullptr, "none"), "");
    EXPECT_EQ(visible(nullptr, "1,3"), "1,3");  // on the host: NVML still sees all four
    EXPECT_EQ(visible(nullptr, "GPU-zzzz"), "error");
    // Inside a container the runtime already exposed only the listed GPUs: nothing to filter.
    script("gpus 2\n");
    EXPECT_EQ(visible(nullptr, "2,3"), "0,1");
}

TEST_F(Nvml, OnlyVisibleGpusAreMeasured) {
    script("gpus 3\nenergy 0 1000\nenergy 1 1000\nenergy 2 1000\nuuid 2 GPU-cccc\n");
    ::setenv("CUDA_VISIBLE_DEVICES", "GPU-cccc,0", 1);
    auto entries = select_sources(discover_nvml(GK_FAKE_NVML_PATH, 0.1));
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_TRUE(entries[0].used);
    EXPECT_FALSE(entries[1].used);
    EXPECT_NE(entries[1].why_not_used.find("not visible to this process"), std::string::npos);
    EXPECT_TRUE(entries[2].used);
    EXPECT_EQ(entries[2].source->scope(), "gpu-set");
    EXPECT_NE(entries[2].source->note().find("CUDA_VISIBLE_DEVICES=GPU-cccc,0"), std::string::npos);
}

TEST_F(Nvml, InstantaneousPowerFieldIsPreferredOverTheAveragedReading) {
    // No energy counter; the instantaneous field reads 120 W where the 1 s average reads 80 W.
    script("gpus 1\nenergy 0 ns\ninstant 0 120000\npower 0 80000\n");
    auto s = discover_nvml(GK_FAKE_NVML_PATH, 0.1);
    ASSERT_TRUE(s[0]->available());
    EXPECT_EQ(s[0]->provenance(), Provenance::kIntegrated);
    EXPECT_NE(s[0]->note().find("NVML_FI_DEV_POWER_INSTANT"), std::string::npos);
    EXPECT_DOUBLE_EQ(s[0]->read_power_w(0), 120.0);
}

TEST_F(Nvml, MissingLibraryIsUnavailableWithTheReason) {
    auto s = discover_nvml("/nonexistent/libnvidia-ml.so.1", 0.1);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_FALSE(s[0]->available());
    EXPECT_NE(s[0]->why_unavailable().find("cannot load NVML"), std::string::npos);
}

TEST_F(Nvml, InitFailureIsUnavailableWithTheReason) {
    script("gpus 1\ninit_error 9\n");
    auto s = discover_nvml(GK_FAKE_NVML_PATH, 0.1);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_FALSE(s[0]->available());
    EXPECT_NE(s[0]->why_unavailable().find("nvmlInit_v2 failed: Driver Not Loaded"),
              std::string::npos);
}

TEST_F(Nvml, EveryGpuWithCounterOrPowerFallback) {
    // GPU 0 has the energy counter; GPU 1 has none (pre-Volta) and falls back to power.
    script(
        "gpus 3\nname 0 Fake A100\nenergy 0 1000\nenergy 1 ns\npower 1 100000\n"
        "energy 2 ns\npower 2 ns\n");
    auto s = discover_nvml(GK_FAKE_NVML_PATH, 0.1);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0]->name(), "nvml:gpu-0");
    EXPECT_TRUE(s[0]->available());
    EXPECT_EQ(s[0]->provenance(), Provenance::kCounter);
    EXPECT_NE(s[0]->note().find("Fake A100"), std::string::npos);
    EXPECT_TRUE(s[1]->available());
    EXPECT_EQ(s[1]->provenance(), Provenance::kIntegrated);
    EXPECT_FALSE(s[2]->available());
    EXPECT_NE(s[2]->why_unavailable().find("no power reading"), std::string::npos);
    auto entries = select_sources(s);
    EXPECT_TRUE(entries[0].used);
    EXPECT_TRUE(entries[1].used);
    EXPECT_FALSE(entries[2].used);
}

TEST_F(Nvml, CounterResetAndErrorMidRunAreHandledAndFlagged) {
    // Readings: probe 1000, then 2000, 3500, reset to 100, an error, 400.
    script("gpus 1\nenergy 0 1000 2000 3500 100 err:999 400\n");
    auto s = discover_nvml(GK_FAKE_NVML_PATH, 0.1);
    ASSERT_TRUE(s[0]->available());
    EXPECT_DOUBLE_EQ(s[0]->read_energy_j(), 1.0);
    EXPECT_DOUBLE_EQ(s[0]->read_energy_j(), 2.5);
    EXPECT_DOUBLE_EQ(s[0]->read_energy_j(), 2.6);  // after the reset, the 100 mJ since it count
    auto w = s[0]->take_warnings();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("went backwards (3500 mJ -> 100 mJ)"), std::string::npos);
    EXPECT_DOUBLE_EQ(s[0]->read_energy_j(), 2.6);  // error: last good value
    w = s[0]->take_warnings();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("failed: Unknown Error (999)"), std::string::npos);
    EXPECT_DOUBLE_EQ(s[0]->read_energy_j(), 2.9);  // recovered: cumulative counter
}

TEST_F(Nvml, StageEnergyFromTheCounterAndWarningsInTheReport) {
    script("gpus 1\nenergy 0 0 0 10000 10000 500 500\n");
    double now = 0;
    TrackerOptions opts;
    opts.sample_period_s = 0;
    opts.clock = [&] { return now; };
    opts.sources = discover_nvml(GK_FAKE_NVML_PATH, 0.1);
    Tracker tracker(opts);
    tracker.start();
    {
        auto st = tracker.stage("train");
        now = 1;
        tracker.sample_now();
        now = 2;
    }
    tracker.stop();
    auto r = tracker.report_json();
    // Reads in order: probe 0; sampler anchor 0; total start 10000; stage start 10000; tick 500
    // (reset: +500); stage end 500; total end 500; final tick 500. Stage: 10.5 J - 10 J = 0.5 J.
    EXPECT_DOUBLE_EQ(r["stages"][0]["energy_j"]["gpu"].get<double>(), 0.5);
    EXPECT_EQ(r["stages"][0]["provenance"]["gpu"], "counter");
    bool flagged = false;
    for (const auto& w : r["stages"][0]["warnings"]) {
        flagged = flagged || w.get<std::string>().find("went backwards") != std::string::npos;
    }
    EXPECT_TRUE(flagged) << r["stages"][0]["warnings"].dump();
}

TEST_F(Nvml, PowerFallbackIsIntegratedAndSkipsFailedReads) {
    // Power readings (mW): probe, anchor at t=0, t=1 error, t=2, final.
    script("gpus 1\nenergy 0 ns\npower 0 100000 100000 err:15 300000 300000\n");
    double now = 0;
    TrackerOptions opts;
    opts.sample_period_s = 0;
    opts.clock = [&] { return now; };
    opts.sources = discover_nvml(GK_FAKE_NVML_PATH, 0.1);
    Tracker tracker(opts);
    tracker.start();
    {
        auto st = tracker.stage("eval");
        now = 1;
        tracker.sample_now();  // error: skipped
        now = 2;
        tracker.sample_now();
    }
    tracker.stop();
    auto r = tracker.report_json();
    // Linear from 100 W at t=0 to 300 W at t=2, bridging the failed read: 400 J.
    EXPECT_DOUBLE_EQ(r["stages"][0]["energy_j"]["gpu"].get<double>(), 400.0);
    EXPECT_EQ(r["stages"][0]["provenance"]["gpu"], "integrated");
}

}  // namespace
}  // namespace gk::energy
