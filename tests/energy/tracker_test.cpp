// The tracker's arithmetic on scripted sources and a fake clock: nesting, counters vs integrated vs
// modelled, idle baseline (static/dynamic), short-stage warnings, work units, carbon; golden files
// for the JSON report, emissions.csv and power.csv (GK_UPDATE_GOLDEN=1 rewrites them).
#include "greenknobs/energy/tracker.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

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
        o.experiment_id = "golden-experiment";
        o.machine_given = true;
        o.machine.os = "Linux-6.1.0-golden-x86_64";
        o.machine.cpu_model = "Golden CPU";
        o.machine.cpu_count = 4;
        o.machine.cpu_capacity = 4;
        o.machine.gpu_count = 1;
        o.machine.gpu_model = "1 x Golden GPU";
        o.machine.ram_total_size_gb = 16;
        o.sources.push_back(ScriptedSource::counter(
            "cpu-counter", Component::kCpu, [](double t) { return 50.0 * t; }, o.clock));
        auto ram = ScriptedSource::power("ram-model", Component::kRam, Provenance::kModelled,
                                         [](double) { return 5.0; });
        ram->set_uncertainty(0.5, 1.0);
        o.sources.push_back(ram);
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
    EXPECT_DOUBLE_EQ(world.g_per_kwh, kWorldGPerKwh);
    EXPECT_EQ(world.country_iso_code, "WORLD");
    EXPECT_EQ(world.year, 2023);
    EXPECT_NE(world.source.find("Our World in Data"), std::string::npos);
    EXPECT_TRUE(world.warning.empty());
    auto fra = carbon_intensity("fra", 0);
    EXPECT_EQ(fra.country_iso_code, "FRA");
    EXPECT_EQ(fra.country_name, "France");
    EXPECT_NEAR(fra.g_per_kwh, 56.0, 0.1);
    EXPECT_DOUBLE_EQ(carbon_intensity("FRA", 123).g_per_kwh, 123.0);
    // 3.6 MJ = 1 kWh at 475 g/kWh and PUE 1.5.
    EXPECT_DOUBLE_EQ(emissions_g(3.6e6, 475, 1.5), 712.5);
}

TEST(Carbon, UnknownCodeFallsBackToTheWorldWithAWarning) {
    auto x = carbon_intensity("XYZ", 0);
    EXPECT_DOUBLE_EQ(x.g_per_kwh, kWorldGPerKwh);
    EXPECT_EQ(x.country_iso_code, "WORLD");
    EXPECT_NE(x.warning.find("'XYZ'"), std::string::npos);
    EXPECT_NE(carbon_intensity("us", 0).warning, "");  // alpha-2 is not alpha-3
}

TEST(Carbon, TableCoversEveryCountryOnceWithDatedValues) {
    const auto& t = country_intensity_table();
    EXPECT_GE(t.size(), 200u);  // OWID's energy dataset has about 210 countries with a value
    std::set<std::string> seen;
    for (const auto& e : t) {
        std::string iso = e.iso3;
        EXPECT_EQ(iso.size(), 3u) << iso;
        EXPECT_TRUE(seen.insert(iso).second) << "duplicate " << iso;
        EXPECT_GE(e.g_per_kwh, 0.0) << iso;
        EXPECT_LE(e.g_per_kwh, 1500.0) << iso;  // a units check (the highest, TKM, is 1306)
        EXPECT_GE(e.year, 2009) << iso;
        EXPECT_NE(std::string(e.country), "") << iso;
    }
    for (const char* iso : {"USA", "CHN", "IND", "DEU", "BRA", "NGA", "IDN", "KEN", "NZL", "ISL"}) {
        EXPECT_EQ(seen.count(iso), 1u) << iso;
    }
}

TEST(Tracker, UnknownCountryIsAWarningInTheReportNotAnError) {
    Scripted sc;
    TrackerOptions o = sc.options(0);
    o.country_iso_code = "QQQ";
    Tracker tracker(o);
    sc.tracker = &tracker;
    tracker.start();
    tracker.stop();
    auto r = tracker.report_json();
    EXPECT_DOUBLE_EQ(r["carbon"]["intensity_g_per_kwh"].get<double>(), kWorldGPerKwh);
    EXPECT_TRUE(r["carbon"]["warning"].is_string());
    bool found = false;
    for (const auto& w : r["total"]["warnings"]) {
        found = found || w.get<std::string>().find("'QQQ'") != std::string::npos;
    }
    EXPECT_TRUE(found);
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
    EXPECT_DOUBLE_EQ(r["stages"][0]["emissions_g"].get<double>(),
                     e / 3.6e6 * 1.2 * carbon_intensity("SWE", 0).g_per_kwh);
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
}

// A reader of CodeCarbon's emissions.csv: a plain CSV parser (quoted fields) keyed by the header.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows(1);
    std::string field;
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            rows.back().push_back(field);
            field.clear();
        } else if (c == '\n') {
            rows.back().push_back(field);
            field.clear();
            rows.emplace_back();
        } else {
            field += c;
        }
    }
    rows.pop_back();  // after the last newline
    return rows;
}

TEST(Writers, EmissionsCsvReadsWithCodeCarbonsColumnsAndMeanings) {
    // CodeCarbon 3.3.0's EmissionsData fields, in order (codecarbon/output_methods/
    // emissions_data.py), written out here independently of the writer's own list.
    const std::vector<std::string> codecarbon = {"timestamp",
                                                 "project_name",
                                                 "run_id",
                                                 "experiment_id",
                                                 "duration",
                                                 "emissions",
                                                 "emissions_rate",
                                                 "cpu_power",
                                                 "gpu_power",
                                                 "ram_power",
                                                 "cpu_energy",
                                                 "gpu_energy",
                                                 "ram_energy",
                                                 "energy_consumed",
                                                 "water_consumed",
                                                 "country_name",
                                                 "country_iso_code",
                                                 "region",
                                                 "cloud_provider",
                                                 "cloud_region",
                                                 "os",
                                                 "python_version",
                                                 "codecarbon_version",
                                                 "cpu_count",
                                                 "cpu_model",
                                                 "gpu_count",
                                                 "gpu_model",
                                                 "longitude",
                                                 "latitude",
                                                 "ram_total_size",
                                                 "tracking_mode",
                                                 "cpu_utilization_percent",
                                                 "gpu_utilization_percent",
                                                 "ram_utilization_percent",
                                                 "ram_used_gb",
                                                 "on_cloud",
                                                 "pue",
                                                 "wue"};
    Scripted sc;
    TrackerOptions o = sc.options(1.0);
    o.pue = 1.5;
    o.wue_l_per_kwh = 2.0;
    o.country_iso_code = "FRA";
    Tracker tracker(o);
    sc.tracker = &tracker;
    tracker.start();
    {
        auto a = tracker.stage("a");
        sc.advance_to(3);
        {
            auto b = tracker.stage("b");
            sc.advance_to(4);
        }
    }
    {
        auto c = tracker.stage("c");
        sc.advance_to(6);
    }
    tracker.stop();
    auto report = tracker.report_json();
    auto rows = parse_csv(emissions_csv(report));
    ASSERT_GE(rows.size(), 2u);
    const auto& header = rows[0];
    ASSERT_GE(header.size(), codecarbon.size());
    for (size_t i = 0; i < codecarbon.size(); ++i) {
        EXPECT_EQ(header[i], codecarbon[i]) << "column " << i;  // theirs first, in their order
    }
    std::map<std::string, size_t> col;
    for (size_t i = 0; i < header.size(); ++i) {
        col[header[i]] = i;
    }
    auto num = [&](const std::vector<std::string>& r, const std::string& name) {
        return std::stod(r.at(col.at(name)));
    };
    double g_per_kwh = carbon_intensity("FRA", 0).g_per_kwh;
    int roots = 0;
    double top_level_kwh = 0, total_kwh = 0;
    for (size_t i = 1; i < rows.size(); ++i) {
        const auto& r = rows[i];
        ASSERT_EQ(r.size(), header.size());
        // CodeCarbon's meaning: energies in kWh with the PUE applied; their sum is energy_consumed;
        // emissions (kg) = energy_consumed × intensity; water = energy_consumed × wue.
        // Written with 10 significant digits: compare relatively.
        auto near = [](double a, double b) {
            return std::fabs(a - b) <= 1e-9 * std::fabs(b) + 1e-15;
        };
        double sum = num(r, "cpu_energy") + num(r, "gpu_energy") + num(r, "ram_energy");
        EXPECT_TRUE(near(num(r, "energy_consumed"), sum));
        EXPECT_TRUE(near(num(r, "energy_consumed"), 1.5 * num(r, "it_energy_consumed")));
        EXPECT_TRUE(near(num(r, "emissions"), num(r, "energy_consumed") * g_per_kwh / 1000));
        EXPECT_TRUE(near(num(r, "water_consumed"), 2.0 * num(r, "energy_consumed")));
        EXPECT_TRUE(near(num(r, "emissions_rate"), num(r, "emissions") / num(r, "duration")));
        EXPECT_EQ(r[col["pue"]], "1.5");
        EXPECT_EQ(r[col["country_name"]], "France");
        EXPECT_EQ(r[col["experiment_id"]], "golden-experiment");
        EXPECT_EQ(r[col["tracking_mode"]], "machine");
        EXPECT_EQ(r[col["cpu_count"]], "4");
        EXPECT_EQ(r[col["gpu_model"]], "1 x Golden GPU");
        EXPECT_LE(num(r, "energy_consumed_low"), num(r, "energy_consumed"));
        EXPECT_GE(num(r, "energy_consumed_high"), num(r, "energy_consumed"));
        const std::string& parent = r[col["parent"]];
        if (parent.empty()) {
            ++roots;
            EXPECT_EQ(r[col["stage"]], "total");
            total_kwh = num(r, "energy_consumed");
        } else if (parent == "total") {
            top_level_kwh += num(r, "energy_consumed");
        }
    }
    // Exactly one row without a parent (the whole run): summing "rows without a parent" is the
    // total, never total + stages; top-level stages sum to at most the total.
    EXPECT_EQ(roots, 1);
    EXPECT_LE(top_level_kwh, total_kwh * (1 + 1e-12));
    EXPECT_GT(top_level_kwh, 0.0);
}

TEST(Tracker, ModelledComponentsCarryARangeAndScopes) {
    Scripted sc;
    Tracker tracker(sc.options(0));
    sc.tracker = &tracker;
    tracker.start();
    {
        auto a = tracker.stage("a");
        sc.advance_to(2);
    }
    tracker.stop();
    auto r = tracker.report_json();
    const auto& s = r["stages"][0];
    // Measured components: the range is the value. The modelled RAM (5 W × 2 s, -50 %/+100 %):
    // 5 J to 20 J; the total's range adds the parts.
    double cpu = s["energy_j"]["cpu"].get<double>(), gpu = s["energy_j"]["gpu"].get<double>();
    EXPECT_DOUBLE_EQ(s["energy_range_j"]["cpu"]["low"].get<double>(), cpu);
    EXPECT_DOUBLE_EQ(s["energy_range_j"]["cpu"]["high"].get<double>(), cpu);
    EXPECT_DOUBLE_EQ(s["energy_range_j"]["ram"]["low"].get<double>(), 5.0);
    EXPECT_DOUBLE_EQ(s["energy_range_j"]["ram"]["high"].get<double>(), 20.0);
    EXPECT_DOUBLE_EQ(s["energy_range_j"]["total"]["low"].get<double>(), cpu + gpu + 5.0);
    EXPECT_DOUBLE_EQ(s["energy_range_j"]["total"]["high"].get<double>(), cpu + gpu + 20.0);
    EXPECT_DOUBLE_EQ(s["emissions_range_g"]["high"].get<double>(),
                     emissions_g(cpu + gpu + 20.0, kWorldGPerKwh, 1.0));
    EXPECT_EQ(s["scope"]["cpu"], "machine");
    EXPECT_EQ(r["sources"][1]["uncertainty"]["high"], 1.0);
    EXPECT_NE(format_summary(r).find(std::to_string(static_cast<int>(cpu + gpu + 5.0))),
              std::string::npos);
}

TEST(Writers, GoldenPowerCsvAndSummary) {
    Scripted sc;
    auto r = run_scripted(sc);
    check_golden("power.csv", power_csv(r));
    check_golden("summary.txt", format_summary(r));
}

}  // namespace
}  // namespace gk::energy
