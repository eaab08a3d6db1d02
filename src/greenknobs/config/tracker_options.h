// The meter's options from a run's [energy] section: one mapping for `train` and `pretrain`, so
// both meter alike. Header-only (knobs stays free of a link dependency on energy).
#pragma once

#include <unistd.h>

#include "greenknobs/config/run_config.h"
#include "greenknobs/energy/tracker.h"

namespace gk::config {

inline energy::TrackerOptions tracker_options(const EnergyConfig& e) {
    energy::TrackerOptions t;
    t.sample_period_s = e.sample_period_s;
    t.idle_baseline_s = e.idle_baseline_s;
    t.cpu_tdp_w = e.cpu_tdp_w;
    t.country_iso_code = e.country;
    t.carbon_g_per_kwh = e.carbon_g_per_kwh;
    t.pue = e.pue;
    if (e.scope == EnergyScope::kProcess) {
        t.pid = ::getpid();  // the CPU and RAM models follow this process and its children
    }
    return t;
}

}  // namespace gk::config
