// greenknobs._greenknobs: the C++ energy tracker (gk_energy) for Python. Thin on purpose: the
// Python package (greenknobs/) owns the API (context managers, decorators, run.json); this module
// only holds a Tracker and its open stages by handle and returns the report as JSON text.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "greenknobs/energy/protocol.h"
#include "greenknobs/energy/tracker.h"
#include "greenknobs/util/error.h"

namespace py = pybind11;

namespace {

class PyTracker {
  public:
    explicit PyTracker(gk::energy::TrackerOptions opts) : tracker_(std::move(opts)) {}

    void start() { tracker_.start(); }
    void stop() {
        stages_.clear();  // Stage destructors end what is still open (the tracker flags them)
        tracker_.stop();
    }
    int64_t begin(const std::string& name) {
        if (name.empty() || name.find('/') != std::string::npos) {
            throw py::value_error("a stage name must be non-empty and contain no '/': '" + name +
                                  "'");
        }
        stages_.emplace(next_, tracker_.stage(name));
        return next_++;
    }
    void end(int64_t handle) {
        auto it = stages_.find(handle);
        if (it == stages_.end()) {
            throw py::value_error("stage handle " + std::to_string(handle) + " is not open");
        }
        it->second.end();
        stages_.erase(it);
    }
    void add_work(int64_t handle, const std::string& unit, double amount) {
        auto it = stages_.find(handle);
        if (it == stages_.end()) {
            throw py::value_error("stage handle " + std::to_string(handle) + " is not open");
        }
        it->second.add_work(unit, amount);
    }
    void sample_now() { tracker_.sample_now(); }
    std::string report_json() const { return tracker_.report_json().dump(); }
    std::string describe_sources() const {
        return gk::energy::describe_sources(tracker_.sources());
    }
    bool started() const { return tracker_.started(); }
    bool stopped() const { return tracker_.stopped(); }

  private:
    gk::energy::Tracker tracker_;
    std::map<int64_t, gk::energy::Stage> stages_;
    int64_t next_ = 0;
};

nlohmann::json parse(const std::string& text) { return nlohmann::json::parse(text); }

}  // namespace

PYBIND11_MODULE(_greenknobs, m) {
    m.doc() = "greenknobs' C++ energy tracker (use the greenknobs package, not this module)";
    py::register_exception<gk::InputError>(m, "InputError", PyExc_ValueError);

    py::class_<gk::energy::TrackerOptions>(m, "TrackerOptions")
        .def(py::init<>())
        .def_readwrite("sample_period_s", &gk::energy::TrackerOptions::sample_period_s)
        .def_readwrite("powercap_root", &gk::energy::TrackerOptions::powercap_root)
        .def_readwrite("nvml_library", &gk::energy::TrackerOptions::nvml_library)
        .def_readwrite("proc_root", &gk::energy::TrackerOptions::proc_root)
        .def_readwrite("cpu_tdp_w", &gk::energy::TrackerOptions::cpu_tdp_w)
        .def_readwrite("idle_baseline_s", &gk::energy::TrackerOptions::idle_baseline_s)
        .def_readwrite("country_iso_code", &gk::energy::TrackerOptions::country_iso_code)
        .def_readwrite("carbon_g_per_kwh", &gk::energy::TrackerOptions::carbon_g_per_kwh)
        .def_readwrite("pue", &gk::energy::TrackerOptions::pue)
        .def_readwrite("pid", &gk::energy::TrackerOptions::pid)
        .def_readwrite("started_at_unix_s", &gk::energy::TrackerOptions::started_at_unix_s)
        .def_readwrite("project_name", &gk::energy::TrackerOptions::project_name)
        .def_readwrite("run_id", &gk::energy::TrackerOptions::run_id)
        // A scripted clock (tests, with sample_period_s <= 0 only: the sampler thread must never
        // call into Python).
        .def_readwrite("clock", &gk::energy::TrackerOptions::clock)
        .def_readwrite("sleep", &gk::energy::TrackerOptions::sleep);

    py::class_<PyTracker>(m, "Tracker")
        .def(py::init([](const gk::energy::TrackerOptions& o) {
            if (o.clock && o.sample_period_s > 0) {
                throw py::value_error(
                    "a Python clock needs sample_period_s <= 0 (no sampler thread)");
            }
            return std::make_unique<PyTracker>(o);
        }))
        // start() may sleep through the idle baseline and stop() joins the sampler thread: both
        // let other Python threads run meanwhile.
        .def("start", &PyTracker::start, py::call_guard<py::gil_scoped_release>())
        .def("stop", &PyTracker::stop, py::call_guard<py::gil_scoped_release>())
        .def("begin", &PyTracker::begin)
        .def("end", &PyTracker::end)
        .def("add_work", &PyTracker::add_work)
        .def("sample_now", &PyTracker::sample_now)
        .def("report_json", &PyTracker::report_json)
        .def("describe_sources", &PyTracker::describe_sources)
        .def_property_readonly("started", &PyTracker::started)
        .def_property_readonly("stopped", &PyTracker::stopped);

    m.def("emissions_csv",
          [](const std::string& r) { return gk::energy::emissions_csv(parse(r)); });
    m.def("power_csv", [](const std::string& r) { return gk::energy::power_csv(parse(r)); });
    m.def("format_summary",
          [](const std::string& r) { return gk::energy::format_summary(parse(r)); });
    m.def("parse_protocol_line", [](const std::string& line) -> py::object {
        gk::energy::ProtocolEvent ev;
        std::string error;
        if (!gk::energy::parse_protocol_line(line, &ev, &error)) {
            throw py::value_error(error);
        }
        const char* kinds[] = {"begin", "end", "metric", "work"};
        return py::make_tuple(kinds[static_cast<int>(ev.kind)], ev.name, ev.value);
    });
    m.attr("STAGE_FD_ENV") = gk::energy::kStageFdEnv;
    m.attr("STAGE_ACK_FD_ENV") = gk::energy::kStageAckFdEnv;
}
