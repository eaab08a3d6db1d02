// Source base-class plumbing, enum names, the missing and scripted sources.
#include "greenknobs/energy/source.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "greenknobs/util/error.h"

namespace gk::energy {

const char* to_string(Component c) {
    switch (c) {
        case Component::kCpu:
            return "cpu";
        case Component::kRam:
            return "ram";
        case Component::kGpu:
            return "gpu";
    }
    return "?";
}

const char* to_string(Provenance p) {
    switch (p) {
        case Provenance::kCounter:
            return "counter";
        case Provenance::kIntegrated:
            return "integrated";
        case Provenance::kModelled:
            return "modelled";
    }
    return "?";
}

Clock steady_clock_s() {
    return [] {
        auto d = std::chrono::steady_clock::now().time_since_epoch();
        return std::chrono::duration<double>(d).count();
    };
}

double Source::read_energy_j() {
    GK_CHECK(false, "read_energy_j() on a source without an energy counter: " + name_);
    return 0;
}

double Source::read_power_w(double t_s) {
    (void)t_s;
    GK_CHECK(false, "read_power_w() on a counter source: " + name_);
    return 0;
}

double Source::cpu_time_s() const { return std::numeric_limits<double>::quiet_NaN(); }

std::vector<std::string> Source::take_warnings() {
    std::lock_guard<std::mutex> lock(warn_mu_);
    std::vector<std::string> out;
    out.swap(warnings_);
    return out;
}

void Source::add_warning(const std::string& w) {
    std::lock_guard<std::mutex> lock(warn_mu_);
    warnings_.push_back(name_ + ": " + w);
}

MissingSource::MissingSource(std::string name, Component component, Provenance provenance,
                             std::string why) {
    name_ = std::move(name);
    component_ = component;
    provenance_ = provenance;
    available_ = false;
    why_unavailable_ = std::move(why);
}

std::shared_ptr<ScriptedSource> ScriptedSource::counter(std::string name, Component c,
                                                        std::function<double(double)> energy_j_at,
                                                        Clock clock, double update_period_s) {
    auto s = std::make_shared<ScriptedSource>();
    s->name_ = std::move(name);
    s->component_ = c;
    s->provenance_ = Provenance::kCounter;
    s->available_ = true;
    s->update_period_s_ = update_period_s;
    s->fn_ = std::move(energy_j_at);
    s->clock_ = std::move(clock);
    return s;
}

std::shared_ptr<ScriptedSource> ScriptedSource::power(std::string name, Component c, Provenance p,
                                                      std::function<double(double)> power_w_at,
                                                      double update_period_s) {
    auto s = std::make_shared<ScriptedSource>();
    s->name_ = std::move(name);
    s->component_ = c;
    s->provenance_ = p;
    s->available_ = true;
    s->update_period_s_ = update_period_s;
    s->fn_ = std::move(power_w_at);
    return s;
}

double ScriptedSource::read_energy_j() { return fn_(clock_()); }

double ScriptedSource::read_power_w(double t_s) { return fn_(t_s); }

}  // namespace gk::energy
