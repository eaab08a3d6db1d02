// Tracker: boundaries record a timestamp and the counters; all arithmetic happens in report_json().
#include "greenknobs/energy/tracker.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <random>
#include <thread>

#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "greenknobs/energy/carbon.h"
#include "greenknobs/energy/cpu_model.h"
#include "greenknobs/energy/proc.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/utc_time.h"

namespace gk::energy {

namespace {

// A random version-4-style id. getrandom(2) rather than std::random_device, whose libstdc++ needs
// glibc 2.36.
std::string random_run_id() {
    unsigned char bytes[16] = {0};
    ssize_t got = ::getrandom(bytes, sizeof bytes, 0);
    if (got != static_cast<ssize_t>(sizeof bytes)) {
        uint64_t seed = static_cast<uint64_t>(
            std::chrono::steady_clock::now().time_since_epoch().count() ^ ::getpid());
        std::mt19937_64 rng(seed);
        for (auto& b : bytes) {
            b = static_cast<unsigned char>(rng());
        }
    }
    const char* hex = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            id += '-';
        }
        id += hex[bytes[i] >> 4];
        id += hex[bytes[i] & 15];
    }
    return id;
}

nlohmann::json num_or_null(bool present, double v) {
    return present ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

MachineInfo detect_machine(const std::string& proc_root, const std::string& cgroup_root,
                           const std::vector<std::shared_ptr<Source>>& used) {
    MachineInfo m;
    struct utsname u;
    if (::uname(&u) == 0) {
        m.os = std::string(u.sysname) + "-" + u.release + "-" + u.machine;
    }
    CpuInfo cpu = read_cpuinfo(proc_root);
    m.cpu_model = cpu.model_name;
    m.cpu_count = cpu.logical_cpus;
    m.cpu_capacity = read_cpu_capacity(proc_root, read_cgroup(proc_root, cgroup_root, 0), 0).cpus;
    m.ram_total_size_gb = read_mem_total_bytes(proc_root) / (1024.0 * 1024.0 * 1024.0);
    std::map<std::string, int> names;
    std::vector<std::string> order;
    for (const auto& s : used) {
        if (s->component() == Component::kGpu) {
            ++m.gpu_count;
            std::string n = s->device_name();
            if (names[n]++ == 0) {
                order.push_back(n);
            }
        }
    }
    for (const auto& n : order) {
        m.gpu_model += (m.gpu_model.empty() ? "" : ", ") + std::to_string(names[n]) + " x " + n;
    }
    return m;
}

nlohmann::json machine_json(const MachineInfo& m) {
    return {{"os", m.os},
            {"cpu_model", m.cpu_model},
            {"cpu_count", m.cpu_count},
            {"cpu_capacity", m.cpu_capacity},
            {"gpu_count", m.gpu_count},
            {"gpu_model", m.gpu_model},
            {"ram_total_size_gb", m.ram_total_size_gb}};
}

Stage::Stage(Stage&& other) noexcept : tracker_(other.tracker_), index_(other.index_) {
    other.tracker_ = nullptr;
}

Stage::~Stage() {
    try {
        end();
    } catch (...) {
        // A sync callback that throws must not escape a destructor.
    }
}

void Stage::add_work(const std::string& unit, double amount) {
    if (tracker_ != nullptr) {
        tracker_->stages_[index_].work[unit] += amount;
    }
}

void Stage::end() {
    if (tracker_ != nullptr) {
        Tracker* t = tracker_;
        tracker_ = nullptr;
        t->end_stage(index_);
    }
}

Tracker::Tracker(TrackerOptions opts) : opts_(std::move(opts)) {
    clock_ = opts_.clock ? opts_.clock : steady_clock_s();
    GK_CHECK(opts_.pue >= 1.0, "pue must be >= 1");
    GK_CHECK(opts_.wue_l_per_kwh >= 0, "wue must be >= 0");
}

Tracker::~Tracker() {
    try {
        stop();
    } catch (...) {
    }
}

void Tracker::start() {
    GK_CHECK(!started_, "Tracker::start() called twice");
    std::vector<std::shared_ptr<Source>> all = opts_.sources;
    if (all.empty()) {
        SourceOptions so;
        so.powercap_root = opts_.powercap_root;
        so.hwmon_root = opts_.hwmon_root;
        so.nvml_library = opts_.nvml_library;
        so.proc_root = opts_.proc_root;
        so.cgroup_root = opts_.cgroup_root;
        so.cpu_calibration_path = opts_.cpu_calibration_path;
        so.cpu_tdp_w = opts_.cpu_tdp_w;
        so.pid = opts_.pid;
        so.sample_period_s = opts_.sample_period_s > 0 ? opts_.sample_period_s : 0.1;
        all = discover_sources(so);
    }
    entries_ = select_sources(all);
    for (const auto& e : entries_) {
        if (e.used) {
            if (e.source->is_counter()) {
                counter_idx_.push_back(used_.size());
            }
            used_.push_back(e.source);
        }
    }
    sampled_ = used_;
    for (size_t k = 0; k < used_.size() && cpu_time_idx_ < 0; ++k) {
        if (!std::isnan(used_[k]->cpu_time_s())) {
            cpu_time_idx_ = static_cast<long>(k);
        }
    }
    for (const auto& e : entries_) {
        if (cpu_time_idx_ < 0 && !e.used && e.source->available() &&
            !std::isnan(e.source->cpu_time_s())) {
            cpu_time_idx_ = static_cast<long>(sampled_.size());
            sampled_.push_back(e.source);  // for cpu_time_s only; its energy is not counted
        }
    }
    machine_ = opts_.machine_given ? opts_.machine
                                   : detect_machine(opts_.proc_root, opts_.cgroup_root, used_);
    run_id_ = opts_.run_id.empty() ? random_run_id() : opts_.run_id;
    started_at_unix_s_ =
        opts_.started_at_unix_s >= 0
            ? opts_.started_at_unix_s
            : std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
    sampler_ = std::make_unique<Sampler>(sampled_, opts_.sample_period_s, clock_);
    origin_s_ = clock_();
    sampler_->start();
    started_ = true;
    if (opts_.idle_baseline_s > 0) {
        baseline_.name = baseline_.path = "idle-baseline";
        baseline_.t0 = clock_();
        read_counters(&baseline_.e0);
        if (opts_.sleep) {
            opts_.sleep(opts_.idle_baseline_s);
        } else {
            std::this_thread::sleep_for(std::chrono::duration<double>(opts_.idle_baseline_s));
        }
        baseline_.t1 = clock_();
        read_counters(&baseline_.e1);
        baseline_.open = false;
        has_baseline_ = true;
    }
    total_.name = total_.path = "total";
    total_.t0 = clock_();
    read_counters(&total_.e0);
}

void Tracker::read_counters(std::vector<double>* out) {
    out->resize(counter_idx_.size());
    for (size_t i = 0; i < counter_idx_.size(); ++i) {
        (*out)[i] = used_[counter_idx_[i]]->read_energy_j();
    }
}

Stage Tracker::stage(const std::string& name) {
    GK_CHECK(started_ && !stopped_, "Tracker::stage(\"" + name + "\") outside start()..stop()");
    std::string parent = open_.empty() ? "" : stages_[open_.back()].path;
    std::string path = parent.empty() ? name : parent + "/" + name;
    size_t index = begin_record(name, path, parent);
    return Stage(this, index);
}

size_t Tracker::begin_record(const std::string& name, const std::string& path,
                             const std::string& parent) {
    if (sync_) {
        sync_();
    }
    Record r;
    r.name = name;
    r.path = path;
    r.parent = parent;
    r.t0 = clock_();
    read_counters(&r.e0);
    stages_.push_back(std::move(r));
    open_.push_back(stages_.size() - 1);
    return stages_.size() - 1;
}

void Tracker::end_stage(size_t index) {
    if (stopped_ || index >= stages_.size() || !stages_[index].open) {
        return;
    }
    if (sync_) {
        sync_();
    }
    end_record(index);
}

void Tracker::end_record(size_t index) {
    Record& r = stages_[index];
    last_ended_ = index;
    r.t1 = clock_();
    read_counters(&r.e1);
    r.open = false;
    for (size_t i = open_.size(); i-- > 0;) {
        if (open_[i] == index) {
            open_.erase(open_.begin() + static_cast<long>(i));
            break;
        }
    }
}

void Tracker::sample_now() {
    if (sampler_) {
        sampler_->tick();
    }
}

void Tracker::reconcile_cpu_time(double rusage_cpu_s) {
    GK_CHECK(stopped_, "Tracker::reconcile_cpu_time() before stop()");
    rusage_cpu_s_ = rusage_cpu_s;
    added_cpu_s_ = 0;
    if (cpu_time_idx_ < 0) {
        return;
    }
    auto series = sampler_->series();
    const Series& s = series[static_cast<size_t>(cpu_time_idx_)];
    double sampled = s.cpu_time_s.empty() ? 0 : s.cpu_time_s.back();
    // Below one clock tick per process is rounding, not a miss.
    double tick_s = 1.0 / static_cast<double>(clock_ticks_per_s());
    if (rusage_cpu_s - sampled > 2 * tick_s) {
        added_cpu_s_ = rusage_cpu_s - sampled;
    }
}

void Tracker::stop() {
    if (!started_ || stopped_) {
        return;
    }
    if (sync_) {
        sync_();
    }
    while (!open_.empty()) {
        stages_[open_.back()].closed_by_stop = true;
        end_record(open_.back());
    }
    total_.t1 = clock_();
    read_counters(&total_.e1);
    total_.open = false;
    stopped_ = true;
    sampler_->stop();  // final sample at or after every boundary; rethrows the thread's error
}

nlohmann::json Tracker::record_json(const Record& r, const std::vector<Series>& series,
                                    const std::vector<TimedWarning>& warnings, const double* idle_w,
                                    bool is_total) const {
    double energy[kNumComponents] = {0, 0, 0};
    bool present[kNumComponents] = {false, false, false};
    int prov[kNumComponents] = {-1, -1, -1};
    double period[kNumComponents] = {0, 0, 0};
    double low[kNumComponents] = {0, 0, 0}, high[kNumComponents] = {0, 0, 0};
    std::string scope[kNumComponents];
    std::vector<std::string> warn;
    size_t ci = 0;
    for (size_t k = 0; k < used_.size(); ++k) {
        const Source& s = *used_[k];
        int c = static_cast<int>(s.component());
        double e = 0;
        if (s.is_counter()) {
            e = r.e1[ci] - r.e0[ci];
            if (e == 0 && r.t1 > r.t0) {
                warn.push_back(s.name() + " did not advance during this stage (0 J read)");
            }
            ++ci;
        } else {
            e = integrate_j(series[k], r.t0, r.t1);
        }
        energy[c] += e;
        low[c] += e * (1 - s.uncertainty_low());
        high[c] += e * (1 + s.uncertainty_high());
        if (scope[c].find(s.scope()) == std::string::npos) {
            scope[c] += (scope[c].empty() ? "" : "+") + s.scope();
        }
        present[c] = true;
        prov[c] = std::max(prov[c], static_cast<int>(s.provenance()));
        period[c] = std::max(period[c], s.update_period_s());
    }
    double duration_s = r.t1 - r.t0;
    // CPU seconds of what the CPU model covers, and the CPU time sampling missed (reconcile).
    nlohmann::json cpu_time = nullptr;
    if (cpu_time_idx_ >= 0) {
        const Series& cs = series[static_cast<size_t>(cpu_time_idx_)];
        if (!cs.cpu_time_s.empty()) {
            double c =
                interpolate_at(cs, cs.cpu_time_s, r.t1) - interpolate_at(cs, cs.cpu_time_s, r.t0);
            bool gets_added = false;
            if (added_cpu_s_ > 0 && last_ended_ < stages_.size()) {
                const std::string& last = stages_[last_ended_].path;
                gets_added = is_total || (!r.path.empty() && r.name != "idle-baseline" &&
                                          (last == r.path || last.rfind(r.path + "/", 0) == 0));
            } else if (added_cpu_s_ > 0) {
                gets_added = is_total;
            }
            if (gets_added) {
                const auto* model = dynamic_cast<const CpuModelSource*>(
                    sampled_[static_cast<size_t>(cpu_time_idx_)].get());
                if (static_cast<size_t>(cpu_time_idx_) < used_.size() && model != nullptr) {
                    double util = duration_s > 0 ? c / (duration_s * model->capacity_cpus()) : 0;
                    double extra = added_cpu_s_ * model->marginal_w_per_cpu_s(util);
                    int cpu = static_cast<int>(Component::kCpu);
                    energy[cpu] += extra;
                    low[cpu] += extra * (1 - model->uncertainty_low());
                    high[cpu] += extra * (1 + model->uncertainty_high());
                }
                char buf[200];
                std::snprintf(buf, sizeof buf,
                              "%.3f CPU-s that sampling missed (from wait4 rusage) added to "
                              "cpu_time_s%s",
                              added_cpu_s_,
                              static_cast<size_t>(cpu_time_idx_) < used_.size()
                                  ? " and to the modelled CPU energy"
                                  : "");
                warn.push_back(buf);
                c += added_cpu_s_;
            }
            cpu_time = c;
        }
    }
    nlohmann::json j;
    j["name"] = r.name;
    j["path"] = r.path;
    j["parent"] = r.parent.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.parent);
    j["start_s"] = r.t0 - origin_s_;
    j["duration_s"] = duration_s;
    j["cpu_time_s"] = cpu_time;
    nlohmann::json ej, pj, mj, sj, dj, rj, scj;
    double total = 0, total_static = 0, total_low = 0, total_high = 0;
    bool any = false;
    for (int c = 0; c < kNumComponents; ++c) {
        const char* cname = to_string(static_cast<Component>(c));
        ej[cname] = num_or_null(present[c], energy[c]);
        rj[cname] = present[c] ? nlohmann::json{{"low", low[c]}, {"high", high[c]}}
                               : nlohmann::json(nullptr);
        scj[cname] = present[c] ? nlohmann::json(scope[c]) : nlohmann::json(nullptr);
        if (present[c]) {
            total_low += low[c];
            total_high += high[c];
        }
        pj[cname] = present[c] ? to_string(static_cast<Provenance>(prov[c])) : "n/a";
        mj[cname] =
            num_or_null(present[c] && duration_s > 0, duration_s > 0 ? energy[c] / duration_s : 0);
        bool has_static = present[c] && idle_w != nullptr;
        double st = has_static ? idle_w[c] * duration_s : 0;
        sj[cname] = num_or_null(has_static, st);
        dj[cname] = num_or_null(has_static, energy[c] - st);
        if (present[c]) {
            total += energy[c];
            total_static += st;
            any = true;
        }
        if (present[c] && duration_s < period[c]) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "shorter than the %s source's update period (%g s)",
                          cname, period[c]);
            warn.push_back(buf);
        }
    }
    ej["total"] = num_or_null(any, total);
    mj["total"] = num_or_null(any && duration_s > 0, duration_s > 0 ? total / duration_s : 0);
    sj["total"] = num_or_null(any && idle_w != nullptr, total_static);
    dj["total"] = num_or_null(any && idle_w != nullptr, total - total_static);
    rj["total"] =
        any ? nlohmann::json{{"low", total_low}, {"high", total_high}} : nlohmann::json(nullptr);
    j["energy_j"] = ej;
    j["provenance"] = pj;
    j["scope"] = scj;
    j["energy_range_j"] = rj;
    j["mean_power_w"] = mj;
    j["static_energy_j"] = sj;
    j["dynamic_energy_j"] = dj;
    nlohmann::json work = nlohmann::json::object();
    for (const auto& kv : r.work) {
        double v = kv.second;
        if (std::floor(v) == v && std::fabs(v) < 9e15) {
            work[kv.first] = static_cast<int64_t>(v);
        } else {
            work[kv.first] = v;
        }
    }
    j["work"] = work;
    CarbonIntensity ci_now = carbon_intensity(opts_.country_iso_code, opts_.carbon_g_per_kwh);
    j["emissions_g"] = num_or_null(any, emissions_g(total, ci_now.g_per_kwh, opts_.pue));
    j["emissions_range_g"] =
        any ? nlohmann::json{{"low", emissions_g(total_low, ci_now.g_per_kwh, opts_.pue)},
                             {"high", emissions_g(total_high, ci_now.g_per_kwh, opts_.pue)}}
            : nlohmann::json(nullptr);
    if (is_total && !ci_now.warning.empty()) {
        warn.push_back(ci_now.warning);
    }
    if (r.closed_by_stop) {
        warn.push_back("still open when the tracker stopped; closed there");
    }
    for (const auto& w : warnings) {
        if (is_total || (w.t_s >= r.t0 && w.t_s <= r.t1)) {
            warn.push_back(w.text);
        }
    }
    j["warnings"] = warn;
    return j;
}

nlohmann::json Tracker::report_json() const {
    GK_CHECK(stopped_, "Tracker::report_json() before stop()");
    auto series = sampler_->series();
    auto warnings = sampler_->warnings();
    CarbonIntensity ci = carbon_intensity(opts_.country_iso_code, opts_.carbon_g_per_kwh);
    nlohmann::json j;
    j["schema"] = "greenknobs.energy/1";
    j["project_name"] = opts_.project_name;
    j["run_id"] = run_id_;
    j["experiment_id"] = opts_.experiment_id;
    j["started_at"] = utc_iso8601(started_at_unix_s_);
    j["started_at_unix_s"] = started_at_unix_s_;
    j["sample_period_s"] = opts_.sample_period_s;
    j["sources"] = sources_json(entries_);

    double idle_w[kNumComponents] = {0, 0, 0};
    nlohmann::json idle = nlohmann::json::object();
    if (has_baseline_) {
        nlohmann::json b = record_json(baseline_, series, {}, nullptr, false);
        double d = baseline_.t1 - baseline_.t0;
        for (int c = 0; c < kNumComponents; ++c) {
            const char* cname = to_string(static_cast<Component>(c));
            const auto& e = b["energy_j"][cname];
            idle_w[c] = e.is_null() || d <= 0 ? 0 : e.get<double>() / d;
            idle[cname] = e.is_null() ? nlohmann::json(nullptr) : nlohmann::json(idle_w[c]);
        }
        j["idle_baseline_s"] = d;
    } else {
        for (int c = 0; c < kNumComponents; ++c) {
            idle[to_string(static_cast<Component>(c))] = nullptr;
        }
        j["idle_baseline_s"] = nullptr;
    }
    j["idle_power_w"] = idle;
    const double* idle_ptr = has_baseline_ ? idle_w : nullptr;
    j["carbon"] = {
        {"intensity_g_per_kwh", ci.g_per_kwh},
        {"source", ci.source},
        {"country_iso_code", ci.country_iso_code},
        {"country_name", ci.country_name},
        {"year", ci.year > 0 ? nlohmann::json(ci.year) : nlohmann::json(nullptr)},
        {"warning", ci.warning.empty() ? nlohmann::json(nullptr) : nlohmann::json(ci.warning)},
        {"pue", opts_.pue},
        {"wue_l_per_kwh", opts_.wue_l_per_kwh}};
    j["machine"] = machine_json(machine_);
    nlohmann::json stages = nlohmann::json::array();
    for (const auto& r : stages_) {
        stages.push_back(record_json(r, series, warnings, idle_ptr, false));
    }
    j["stages"] = stages;
    j["total"] = record_json(total_, series, warnings, idle_ptr, true);
    nlohmann::json ts = nlohmann::json::array();
    for (const auto& s : series) {
        std::vector<double> t;
        t.reserve(s.t_s.size());
        for (double x : s.t_s) {
            t.push_back(x - origin_s_);
        }
        ts.push_back({{"source", s.source},
                      {"component", to_string(s.component)},
                      {"provenance", to_string(s.provenance)},
                      {"t_s", t},
                      {"power_w", s.power_w}});
    }
    j["timeseries"] = ts;
    if (opts_.pid != 0) {
        double sampled = 0;
        if (cpu_time_idx_ >= 0 && !series[static_cast<size_t>(cpu_time_idx_)].cpu_time_s.empty()) {
            sampled = series[static_cast<size_t>(cpu_time_idx_)].cpu_time_s.back();
        }
        j["process"] = {{"pid", opts_.pid},
                        {"cpu_time_sampled_s", sampled},
                        {"cpu_time_rusage_s", num_or_null(rusage_cpu_s_ >= 0, rusage_cpu_s_)},
                        {"cpu_time_added_s", added_cpu_s_}};
    } else {
        j["process"] = nullptr;
    }
    return j;
}

void Tracker::write_json(const std::string& path) const {
    fs::write_file_atomic(path, report_json().dump(2) + "\n");
}

void Tracker::write_emissions_csv(const std::string& path) const {
    fs::write_file_atomic(path, emissions_csv(report_json()));
}

void Tracker::write_power_csv(const std::string& path) const {
    fs::write_file_atomic(path, power_csv(report_json()));
}

}  // namespace gk::energy
