// RAPL over a fake powercap tree: discovery and de-duplication, wraparound inside a stage,
// unreadable counters reported as unavailable with the reason.
#include "greenknobs/energy/rapl.h"

#include <map>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greenknobs/energy/cpu_model.h"
#include "greenknobs/energy/sources.h"
#include "greenknobs/energy/tracker.h"

#include "test_util.h"

namespace gk::energy {
namespace {

using testing::TempDir;
using testing::write;

void zone(const TempDir& root, const std::string& id, const std::string& name, uint64_t energy_uj,
          uint64_t max_uj = 262143328850ULL) {
    write(root / (id + "/name"), name + "\n");
    write(root / (id + "/energy_uj"), std::to_string(energy_uj) + "\n");
    write(root / (id + "/max_energy_range_uj"), std::to_string(max_uj) + "\n");
}

// Two packages with dram, core/uncore, a psys and an MMIO copy of package-0.
void server_tree(const TempDir& root) {
    zone(root, "intel-rapl:0", "package-0", 1000000);
    zone(root, "intel-rapl:0:0", "core", 500000);
    zone(root, "intel-rapl:0:1", "uncore", 100000);
    zone(root, "intel-rapl:0:2", "dram", 200000);
    zone(root, "intel-rapl:1", "package-1", 2000000);
    zone(root, "intel-rapl:1:0", "dram", 300000);
    zone(root, "intel-rapl:2", "psys", 9000000);
    zone(root, "intel-rapl-mmio:0", "package-0", 1000000);
    write(root / "intel-rapl/enabled", "1\n");  // the control-type directory is not a zone
}

std::map<std::string, SourceEntry> by_name(const std::vector<SourceEntry>& entries) {
    std::map<std::string, SourceEntry> m;
    for (const auto& e : entries) {
        m[e.source->name()] = e;
    }
    return m;
}

TEST(Rapl, DiscoversPackagesAndDramAndCountsEachEnergyOnce) {
    TempDir root;
    server_tree(root);
    auto m = by_name(select_sources(discover_rapl(root.path())));
    ASSERT_EQ(m.size(), 8u);
    for (const char* used : {"rapl:package-0", "rapl:package-1", "rapl:dram-0", "rapl:dram-1"}) {
        ASSERT_TRUE(m.count(used)) << used;
        EXPECT_TRUE(m[used].used) << used << ": " << m[used].why_not_used;
        EXPECT_EQ(m[used].source->provenance(), Provenance::kCounter);
    }
    EXPECT_EQ(m["rapl:dram-0"].source->component(), Component::kRam);
    EXPECT_EQ(m["rapl:package-1"].source->component(), Component::kCpu);
    EXPECT_FALSE(m["rapl:core-0"].used);
    EXPECT_NE(m["rapl:core-0"].why_not_used.find("contained in package-0"), std::string::npos);
    EXPECT_FALSE(m["rapl:uncore-0"].used);
    EXPECT_FALSE(m["rapl:psys"].used);
    EXPECT_NE(m["rapl:psys"].why_not_used.find("psys covers"), std::string::npos);
    EXPECT_FALSE(m["rapl-mmio:package-0"].used);
    EXPECT_NE(m["rapl-mmio:package-0"].why_not_used.find("duplicate of intel-rapl:0"),
              std::string::npos);
}

TEST(Rapl, MmioCopyIsUsedWhenTheMsrZoneIsUnreadable) {
    TempDir root;
    zone(root, "intel-rapl-mmio:0", "package-0", 10);
    write(root / "intel-rapl:0/name", "package-0\n");  // no energy_uj
    write(root / "intel-rapl:0/max_energy_range_uj", "1000\n");
    auto m = by_name(select_sources(discover_rapl(root.path())));
    EXPECT_TRUE(m["rapl-mmio:package-0"].used);
    EXPECT_FALSE(m["rapl:package-0"].source->available());
}

TEST(Rapl, MultiDieZonesKeepCoresInsideTheirDieAndMergeIdenticalCopies) {
    TempDir root;
    // A two-die package: each die zone holds its own counter, with core and dram subzones.
    zone(root, "intel-rapl:0", "package-0-die-0", 1000);
    zone(root, "intel-rapl:0:0", "core", 400);
    zone(root, "intel-rapl:0:1", "dram", 300);
    zone(root, "intel-rapl:1", "package-0-die-1", 2000);
    zone(root, "intel-rapl:1:0", "core", 500);
    auto m = by_name(select_sources(discover_rapl(root.path())));
    EXPECT_TRUE(m["rapl:package-0-die-0"].used);
    EXPECT_TRUE(m["rapl:package-0-die-1"].used);
    EXPECT_TRUE(m["rapl:dram-0-die-0"].used);
    // Each die's core zone is inside that die (not summed on top of it).
    EXPECT_FALSE(m["rapl:core-0-die-0"].used);
    EXPECT_NE(m["rapl:core-0-die-0"].why_not_used.find("contained in package-0-die-0"),
              std::string::npos);
    EXPECT_FALSE(m["rapl:core-0-die-1"].used);

    // Parts whose die zones both report the one package counter: counted once.
    TempDir copies;
    zone(copies, "intel-rapl:0", "package-0-die-0", 123456789);
    zone(copies, "intel-rapl:1", "package-0-die-1", 123456789);
    zone(copies, "intel-rapl:2", "package-1-die-0", 123456789);  // another package: not a copy
    auto c = by_name(select_sources(discover_rapl(copies.path())));
    EXPECT_TRUE(c["rapl:package-0-die-0"].used);
    EXPECT_FALSE(c["rapl:package-0-die-1"].used);
    EXPECT_NE(c["rapl:package-0-die-1"].why_not_used.find("same counter as intel-rapl:0"),
              std::string::npos);
    EXPECT_TRUE(c["rapl:package-1-die-0"].used);
}

TEST(Rapl, AnImplausibleDecreaseIsAResetNotAWrap) {
    TempDir root;
    const uint64_t range = 262143328850ULL;  // the common 2^38-ish range: a wrap needs hours
    zone(root, "intel-rapl:0", "package-0", 5000000000ULL, range);
    double now = 0;
    auto sources = discover_rapl(root.path(), [&] { return now; });
    auto& src = *sources[0];
    now = 1;
    write(root / "intel-rapl:0/energy_uj", "5050000000\n");  // +50 J
    EXPECT_DOUBLE_EQ(src.read_energy_j(), 50.0);
    now = 2;
    write(root / "intel-rapl:0/energy_uj", "20000000\n");  // back to 20 J: a reset, not 257 kJ
    EXPECT_DOUBLE_EQ(src.read_energy_j(), 70.0);
    auto w = src.take_warnings();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("taken as a reset"), std::string::npos) << w[0];
}

TEST(Rapl, AmdHwmonEnergyCountersAreRead) {
    TempDir hw;
    write(hw / "hwmon0/name", "k10temp\n");
    write(hw / "hwmon1/name", "amd_energy\n");
    write(hw / "hwmon1/energy1_input", "1000\n");
    write(hw / "hwmon1/energy1_label", "Ecore000\n");
    write(hw / "hwmon1/energy2_input", "5000\n");
    write(hw / "hwmon1/energy2_label", "Esocket0\n");
    auto m = by_name(select_sources(discover_hwmon_energy(hw.path())));
    ASSERT_TRUE(m.count("hwmon:amd_energy:socket-0"));
    EXPECT_TRUE(m["hwmon:amd_energy:socket-0"].used);
    EXPECT_EQ(m["hwmon:amd_energy:socket-0"].source->provenance(), Provenance::kCounter);
    EXPECT_FALSE(m["hwmon:amd_energy:core-000"].used);
    write(hw / "hwmon1/energy2_input", "2005000\n");
    EXPECT_DOUBLE_EQ(m["hwmon:amd_energy:socket-0"].source->read_energy_j(), 2.0);
    EXPECT_TRUE(discover_hwmon_energy("/nonexistent/hwmon").empty());
    // With RAPL packages readable the hwmon sockets are the same energy: not summed twice.
    TempDir rapl;
    zone(rapl, "intel-rapl:0", "package-0", 10);
    SourceOptions so;
    so.powercap_root = rapl.path();
    so.hwmon_root = hw.path();
    so.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    auto all = by_name(select_sources(discover_sources(so)));
    EXPECT_TRUE(all["rapl:package-0"].used);
    EXPECT_FALSE(all["hwmon:amd_energy:socket-0"].used);
}

TEST(Rapl, ModelsAreNotUsedWhereCountersExist) {
    TempDir root;
    server_tree(root);
    auto sources = discover_rapl(root.path());
    sources.push_back(std::make_shared<CpuModelSource>(CpuModelOptions{}));
    sources.push_back(std::make_shared<RamModelSource>(RamModelOptions{}));
    auto m = by_name(select_sources(sources));
    EXPECT_FALSE(m["cpu-model"].used);
    EXPECT_NE(m["cpu-model"].why_not_used.find("measured source covers cpu"), std::string::npos);
    EXPECT_FALSE(m["ram-model"].used);
}

TEST(Rapl, CounterDeltaAndWraparoundInTheMiddleOfAStage) {
    TempDir root;
    const uint64_t range = 1000000;
    zone(root, "intel-rapl:0", "package-0", 990000, range);
    double now = 0;
    TrackerOptions opts;
    opts.sample_period_s = 0;  // manual sampling
    opts.clock = [&] { return now; };
    opts.sources = discover_rapl(root.path(), opts.clock);
    Tracker tracker(opts);
    tracker.start();
    {
        auto s = tracker.stage("work");
        now = 1;
        write(root / "intel-rapl:0/energy_uj", "999000\n");
        tracker.sample_now();
        now = 2;
        write(root / "intel-rapl:0/energy_uj", "5000\n");  // wrapped
        tracker.sample_now();
        now = 3;
        write(root / "intel-rapl:0/energy_uj", "6000\n");
    }
    tracker.stop();
    auto r = tracker.report_json();
    // 990000 → 1000000 (wrap) → 6000: 10000 + 6000 µJ.
    EXPECT_DOUBLE_EQ(r["stages"][0]["energy_j"]["cpu"].get<double>(), 0.016);
    EXPECT_EQ(r["stages"][0]["provenance"]["cpu"], "counter");
    EXPECT_EQ(r["stages"][0]["provenance"]["ram"], "n/a");
    EXPECT_TRUE(r["stages"][0]["energy_j"]["ram"].is_null());
    // The power series: 9 mJ over 1 s, then 6 mJ (across the wrap), then 1 mJ.
    const auto& p = r["timeseries"][0]["power_w"];
    ASSERT_EQ(p.size(), 4u);
    EXPECT_NEAR(p[1].get<double>(), 0.009, 1e-12);
    EXPECT_NEAR(p[2].get<double>(), 0.006, 1e-12);
    EXPECT_NEAR(p[3].get<double>(), 0.001, 1e-12);
}

TEST(Rapl, MissingTreeIsUnavailableWithTheReason) {
    auto s = discover_rapl("/nonexistent/powercap");
    ASSERT_EQ(s.size(), 1u);
    EXPECT_FALSE(s[0]->available());
    EXPECT_NE(s[0]->why_unavailable().find("no powercap tree at /nonexistent/powercap"),
              std::string::npos);
}

TEST(Rapl, UnreadableCounterFileIsUnavailableWithTheReason) {
    TempDir root;
    zone(root, "intel-rapl:0", "package-0", 1);
    ::unlink((root / "intel-rapl:0/energy_uj").c_str());
    ::mkdir((root / "intel-rapl:0/energy_uj").c_str(), 0755);  // reading a directory fails
    auto m = by_name(select_sources(discover_rapl(root.path())));
    EXPECT_FALSE(m["rapl:package-0"].source->available());
    EXPECT_NE(m["rapl:package-0"].source->why_unavailable().find("energy_uj"), std::string::npos);
    EXPECT_FALSE(m["rapl:package-0"].used);
}

// The real case: energy_uj is mode 0400 root since Linux 5.10. Run as an unprivileged user (in a
// forked child when the tests run as root, since root reads anything).
TEST(Rapl, PermissionDeniedIsUnavailableWithTheReason) {
    TempDir root;
    zone(root, "intel-rapl:0", "package-0", 1);
    ::chmod((root / "intel-rapl:0/energy_uj").c_str(), 0400);
    auto check = [&] {
        auto s = discover_rapl(root.path());
        bool ok = s.size() == 1 && !s[0]->available() &&
                  s[0]->why_unavailable().find("Permission denied") != std::string::npos &&
                  s[0]->why_unavailable().find("CVE-2020-8694") != std::string::npos;
        return ok;
    };
    if (::geteuid() != 0) {
        EXPECT_TRUE(check());
        return;
    }
    EXPECT_EXIT(
        {
            if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
                std::exit(3);
            }
            std::exit(check() ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace gk::energy
