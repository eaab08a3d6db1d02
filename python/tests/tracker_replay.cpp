// The C++ half of the Python parity test: replays a stage script through gk::energy::Tracker (the
// tracker `greenknobs train` and `measure` use) on a scripted clock and a fake powercap tree, and
// writes report.json, emissions.csv and power.csv. test_tracker.py replays the same script through
// the Python module and requires equal outputs.
//   gk_tracker_replay SCRIPT.json OUT_DIR
// Script: {"options": {...}, "events": [["advance", dt], ["write", "rel/path", "text"],
//          ["begin", "name"], ["work", "unit", n], ["end"]]}
#include <cstdio>
#include <fstream>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/energy/tracker.h"
#include "greenknobs/util/fs.h"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: gk_tracker_replay SCRIPT.json OUT_DIR\n");
        return 2;
    }
    const nlohmann::json script = nlohmann::json::parse(gk::fs::read_file(argv[1]));
    const auto& o = script.at("options");
    double now = 0;
    gk::energy::TrackerOptions opts;
    opts.sample_period_s = 0;
    opts.clock = [&now] { return now; };
    opts.powercap_root = o.at("powercap_root").get<std::string>();
    opts.nvml_library = o.at("nvml_library").get<std::string>();
    opts.proc_root = o.at("proc_root").get<std::string>();
    opts.run_id = o.at("run_id").get<std::string>();
    opts.started_at_unix_s = o.at("started_at_unix_s").get<double>();
    opts.project_name = o.at("project_name").get<std::string>();
    opts.country_iso_code = o.value("country", "");
    opts.pue = o.value("pue", 1.0);
    opts.idle_baseline_s = o.value("idle_s", 0.0);
    gk::energy::Tracker* t = nullptr;
    opts.sleep = [&](double s) {  // the idle baseline's wait advances the scripted clock
        now += s;
        t->sample_now();
    };
    gk::energy::Tracker tracker(opts);
    t = &tracker;
    t->start();
    std::vector<gk::energy::Stage> open;
    for (const auto& ev : script.at("events")) {
        const std::string op = ev.at(0).get<std::string>();
        if (op == "advance") {
            now += ev.at(1).get<double>();
            t->sample_now();
        } else if (op == "write") {
            std::ofstream(opts.powercap_root + "/" + ev.at(1).get<std::string>())
                << ev.at(2).get<std::string>();
        } else if (op == "begin") {
            open.push_back(t->stage(ev.at(1).get<std::string>()));
        } else if (op == "work") {
            open.back().add_work(ev.at(1).get<std::string>(), ev.at(2).get<double>());
        } else if (op == "end") {
            open.back().end();
            open.pop_back();
        } else if (op != "metric") {  // metrics live in run.json, not in the energy report
            std::fprintf(stderr, "unknown op %s\n", op.c_str());
            return 2;
        }
    }
    t->stop();
    const std::string out = argv[2];
    gk::fs::make_dirs(out);
    t->write_json(out + "/report.json");
    t->write_emissions_csv(out + "/emissions.csv");
    t->write_power_csv(out + "/power.csv");
    return 0;
}
