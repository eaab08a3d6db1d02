// The tracker's arithmetic on scripted sources and a fake clock: nesting, counters vs integrated vs
// modelled, idle baseline (static/dynamic), short-stage warnings, work units, carbon; golden files
// for the JSON report, emissions.csv and power.csv (GK_UPDATE_GOLDEN=1 rewrites them).
#include "greenknobs/energy/tracker.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "greenknobs/energy/carbon.h"
#include "greenknobs/util/error.h"

#include "test_util.h"

namespace gk::energy {
namespace {

// cpu: a counter at 50 W; ram: modelled 5 W; gpu: instantaneous power 100 + 10 t W, integrated.
struct Scripted {
    double now = 0;
    int syncs = 0;
    Tracker* tracker = nullptr;
    TrackerOptions options(double idle_s) {
        TrackerOptions o;
        o.sample_period_s = 0;
        o.clock = [this] { return now; };
        o.sleep = [this](double s) {
            now += s;
            tracker->sample_now();
        };
        o.idle_baseline_s = idle_s;
        o.started_at_unix_s = 1795842000;  // 2026-11-28T05:00:00Z
        o.run_id = "00000000-0000-0000-0000-000000000001";
        o.project_name = "golden";
        o.sources.push_back(ScriptedSource::counter(
            "cpu-counter", Component::kCpu, [](double t) { return 50.0 * t; }, o.clock));
        o.sources.push_back(ScriptedSource::power(
            "ram-model", Component::kRam, Provenance::kModelled, [](double) { return 5.0; }));
        auto gpu = ScriptedSource::power("gpu-power", Component::kGpu, Provenance::kIntegrated,
                                         [](double t) { return 100.0 + 10.0 * t; });
        gpu->set_interval_mean(false);
        o.sources.push_back(gpu);
        return o;
    }
    void advance_to(double t) {
        while (now + 1 <= t) {
            now += 1;
            tracker->sample_now();
        }
        now = t;
    }
};

// Baseline [0,1]; train [1,10] with train/validate [6,8.5]; a 50 ms stage "tiny" at [10,10.05];
// stop at 10.05.
nlohmann::json run_scripted(Scripted& sc) {
    Tracker tracker(sc.options(1.0));
    sc.tracker = &tracker;
    tracker.set_sync([&] { ++sc.syncs; });
    tracker.start();
    {
        auto train = tracker.stage("train");
        train.add_work("samples", 1000);
        train.add_work("tokens", 2e5);
        sc.advance_to(6);
        {
            auto validate = tracker.stage("validate");
            validate.add_work("samples", 100);
            sc.advance_to(8.5);
        }
        sc.advance_to(10);
    }
    {
        auto tiny = tracker.stage("tiny");
        sc.now = 10.05;
    }
    tracker.stop();
    return tracker.report_json();
}

double gpu_j(double a, double b) { return 100 * (b - a) + 5 * (b * b - a * a); }

TEST(Tracker, NestedStagesPerComponentEnergyAndProvenance) {
    Scripted sc;
    auto r = run_scripted(sc);
    ASSERT_EQ(r["stages"].size(), 3u);
    const auto& train = r["stages"][0];
    const auto& validate = r["stages"][1];
    EXPECT_EQ(train["path"], "train");
    EXPECT_TRUE(train["parent"].is_null());
    EXPECT_EQ(validate["path"], "train/validate");
    EXPECT_EQ(validate["parent"], "train");
    EXPECT_DOUBLE_EQ(train["start_s"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(train["duration_s"].get<double>(), 9.0);
    EXPECT_DOUBLE_EQ(validate["duration_s"].get<double>(), 2.5);
    EXPECT_DOUBLE_EQ(train["energy_j"]["cpu"].get<double>(), 450.0);
    EXPECT_DOUBLE_EQ(validate["energy_j"]["cpu"].get<double>(), 125.0);
    EXPECT_DOUBLE_EQ(train["energy_j"]["ram"].get<double>(), 45.0);
    EXPECT_DOUBLE_EQ(validate["energy_j"]["ram"].get<double>(), 12.5);
    EXPECT_NEAR(train["energy_j"]["gpu"].get<double>(), gpu_j(1, 10), 1e-9);
    EXPECT_NEAR(validate["energy_j"]["gpu"].get<double>(), gpu_j(6, 8.5), 1e-9);
    EXPECT_NEAR(train["energy_j"]["total"].get<double>(), 450 + 45 + gpu_j(1, 10), 1e-9);
    EXPECT_EQ(train["provenance"]["cpu"], "counter");
    EXPECT_EQ(train["provenance"]["ram"], "modelled");
    EXPECT_EQ(train["provenance"]["gpu"], "integrated");
    EXPECT_NEAR(train["mean_power_w"]["cpu"].get<double>(), 50.0, 1e-12);
    EXPECT_EQ(train["work"]["samples"], 1000);
    EXPECT_EQ(train["work"]["tokens"], 200000);
    EXPECT_EQ(validate["work"]["samples"], 100);
    // The total covers [1, 10.05] once: nested stages are inside their parent, never added again.
    const auto& total = r["total"];
    EXPECT_NEAR(total["duration_s"].get<double>(), 9.05, 1e-12);
    EXPECT_NEAR(total["energy_j"]["cpu"].get<double>(), 50 * 9.05, 1e-9);
    // Two boundaries per stage, one at stop.
    EXPECT_EQ(sc.syncs, 7);
}

TEST(Tracker, IdleBaselineSplitsStaticAndDynamicEnergy) {
    Scripted sc;
    auto r = run_scripted(sc);
    // Baseline [0,1]: cpu 50 W, ram 5 W, gpu mean of 100 + 10 t = 105 W.
    EXPECT_DOUBLE_EQ(r["idle_power_w"]["cpu"].get<double>(), 50.0);
    EXPECT_DOUBLE_EQ(r["idle_power_w"]["ram"].get<double>(), 5.0);
    EXPECT_NEAR(r["idle_power_w"]["gpu"].get<double>(), 105.0, 1e-12);
    const auto& train = r["stages"][0];
    EXPECT_DOUBLE_EQ(train["static_energy_j"]["cpu"].get<double>(), 450.0);
    EXPECT_DOUBLE_EQ(train["dynamic_energy_j"]["cpu"].get<double>(), 0.0);
    EXPECT_NEAR(train["static_energy_j"]["gpu"].get<double>(), 945.0, 1e-9);
    EXPECT_NEAR(train["dynamic_energy_j"]["gpu"].get<double>(), gpu_j(1, 10) - 945.0, 1e-9);
    EXPECT_NEAR(train["static_energy_j"]["total"].get<double>(), 450 + 45 + 945, 1e-9);
}

TEST(Tracker, WithoutBaselineStaticAndDynamicAreNull) {
    Scripted sc;
    Tracker tracker(sc.options(0));
    sc.tracker = &tracker;
    tracker.start();
    {
        auto s = tracker.stage("a");
        sc.advance_to(2);
    }
    tracker.stop();
    auto r = tracker.report_json();
    EXPECT_TRUE(r["idle_power_w"]["cpu"].is_null());
    EXPECT_TRUE(r["stages"][0]["static_energy_j"]["cpu"].is_null());
    EXPECT_TRUE(r["stages"][0]["dynamic_energy_j"]["total"].is_null());
    EXPECT_DOUBLE_EQ(r["stages"][0]["energy_j"]["cpu"].get<double>(), 100.0);
}

TEST(Tracker, ShortStagesAreFlaggedPerSourceUpdatePeriod) {
    Scripted sc;
    auto r = run_scripted(sc);
    const auto& tiny = r["stages"][2];
    std::vector<std::string> w = tiny["warnings"];
    // ram and gpu update every 0.1 s; the cpu counter every 1 ms.
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[0], "shorter than the ram source's update period (0.1 s)");
    EXPECT_EQ(w[1], "shorter than the gpu source's update period (0.1 s)");
    EXPECT_TRUE(r["stages"][0]["warnings"].empty());
}

TEST(Tracker, StagesLeftOpenAreClosedAtStopAndFlagged) {
    Scripted sc;
    Tracker tracker(sc.options(0));
    sc.tracker = &tracker;
    tracker.start();
    auto s = tracker.stage("never-closed");
    sc.advance_to(3);
    tracker.stop();
    auto r = tracker.report_json();
    EXPECT_DOUBLE_EQ(r["stages"][0]["duration_s"].get<double>(), 3.0);
    EXPECT_EQ(r["stages"][0]["warnings"][0], "still open when the tracker stopped; closed there");
}

TEST(Tracker, AbsentComponentsAreNullNeverZero) {
    double now = 0;
    TrackerOptions o;
    o.sample_period_s = 0;
    o.clock = [&] { return now; };
    o.sources.push_back(ScriptedSource::power("cpu-model", Component::kCpu, Provenance::kModelled,
                                              [](double) { return 7.0; }));
    Tracker tracker(o);
    tracker.start();
    {
        auto s = tracker.stage("x");
        now = 1;
    }
    tracker.stop();
    auto r = tracker.report_json();
    EXPECT_TRUE(r["stages"][0]["energy_j"]["gpu"].is_null());
    EXPECT_EQ(r["stages"][0]["provenance"]["gpu"], "n/a");
    EXPECT_TRUE(r["stages"][0]["mean_power_w"]["ram"].is_null());
    EXPECT_DOUBLE_EQ(r["stages"][0]["energy_j"]["total"].get<double>(), 7.0);
    std::string summary = format_summary(r);
    EXPECT_NE(summary.find("7.00 modelled"), std::string::npos) << summary;
    EXPECT_NE(summary.find("n/a"), std::string::npos);
}

TEST(Carbon, WorldDefaultCountriesOverrideAndPue) {
    auto world = carbon_intensity("", 0);
    EXPECT_DOUBLE_EQ(world.g_per_kwh, 475.0);
    EXPECT_EQ(world.country_iso_code, "WORLD");
    EXPECT_NE(world.source.find("IEA"), std::string::npos);
    auto fra = carbon_intensity("fra", 0);
    EXPECT_EQ(fra.country_iso_code, "FRA");
    EXPECT_DOUBLE_EQ(fra.g_per_kwh, 56.0);
    EXPECT_DOUBLE_EQ(carbon_intensity("FRA", 123).g_per_kwh, 123.0);
    EXPECT_THROW(carbon_intensity("XYZ", 0), gk::InputError);
    // 3.6 MJ = 1 kWh at 475 g/kWh and PUE 1.5.
    EXPECT_DOUBLE_EQ(emissions_g(3.6e6, 475, 1.5), 712.5);
}

TEST(Tracker, EmissionsUseCountryAndPue) {
    Scripted sc;
    TrackerOptions o = sc.options(0);
    o.country_iso_code = "SWE";
    o.pue = 1.2;
    Tracker tracker(o);
    sc.tracker = &tracker;
    tracker.start();
    {
        auto s = tracker.stage("a");
        sc.advance_to(2);
    }
    tracker.stop();
    auto r = tracker.report_json();
    double e = r["stages"][0]["energy_j"]["total"].get<double>();
    EXPECT_DOUBLE_EQ(r["stages"][0]["emissions_g"].get<double>(), e / 3.6e6 * 1.2 * 41.0);
    EXPECT_EQ(r["carbon"]["country_iso_code"], "SWE");
}

// Golden files: the writers' output for the scripted run, byte for byte.
void check_golden(const std::string& name, const std::string& actual) {
    std::string path = std::string(GK_SOURCE_DIR) + "/tests/energy/golden/" + name;
    const char* update = std::getenv("GK_UPDATE_GOLDEN");
    if (update != nullptr && std::string(update) == "1") {
        testing::write(path, actual);
    }
    EXPECT_EQ(testing::read(path), actual)
        << "golden file " << path << " differs (GK_UPDATE_GOLDEN=1 rewrites it)";
}

TEST(Writers, GoldenJsonReport) {
    Scripted sc;
    check_golden("report.json", run_scripted(sc).dump(2) + "\n");
}

TEST(Writers, GoldenEmissionsCsv) {
    Scripted sc;
    std::string csv = emissions_csv(run_scripted(sc));
    check_golden("emissions.csv", csv);
    // CodeCarbon's leading columns, in its order.
    EXPECT_EQ(csv.rfind("timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,"
                        "gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,"
                        "country_iso_code,pue,stage,",
                        0),
              0u);
}

TEST(Writers, GoldenPowerCsvAndSummary) {
    Scripted sc;
    auto r = run_scripted(sc);
    check_golden("power.csv", power_csv(r));
    check_golden("summary.txt", format_summary(r));
}

}  // namespace
}  // namespace gk::energy
