// greenknobs CLI entry: parse, wire, catch. Bad input → one line on stderr and exit code 2.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <cstdio>
#include <map>

#include "command.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"

namespace {

// libgomp reads OMP_WAIT_POLICY once, before main(): with its default, idle OpenMP threads spin between the
// thousands of small parallel regions of a training step, which on a shared or oversubscribed machine made
// steps 9-40x slower and burned CPU that a study would book on the knob (docs/perf/model.md). So the
// process re-executes itself once with the passive policy unless the user chose one.
// Only the commands that run LibTorch do this: `measure` must hand its command an untouched environment.
void ensure_passive_omp_wait(int argc, char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") != nullptr) {
        return;
    }
    std::string command;
    for (int i = 1; i < argc; ++i) {
        if (argv[i][0] != '-') {
            command = argv[i];
            break;
        }
    }
    if (command != "train" && command != "predict" && command != "study") {
        return;
    }
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::execv("/proc/self/exe", argv);
    // exec failed (no /proc): carry on with the default policy.
}

}  // namespace

int main(int argc, char** argv) {
    ensure_passive_omp_wait(argc, argv);
    CLI::App app{"greenknobs: energy as a first-class metric of AI pipelines"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "greenknobs 0.1.0");
    bool verbose = false;
    bool quiet = false;
    app.add_flag("-v,--verbose", verbose, "debug logging");
    app.add_flag("-q,--quiet", quiet, "warnings and errors only");

    auto specs = gk::app::registry();
    std::sort(specs.begin(), specs.end(),
              [](const auto& a, const auto& b) { return a.order < b.order; });
    std::map<std::string, gk::app::RunFn> runners;
    for (const auto& spec : specs) {
        runners[spec.name] = spec.setup(app);
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    gk::log::set_level(verbose ? gk::log::Level::kDebug
                               : (quiet ? gk::log::Level::kWarn : gk::log::Level::kInfo));
    try {
        for (auto* sub : app.get_subcommands()) {
            auto it = runners.find(sub->get_name());
            if (it != runners.end()) {
                return it->second();
            }
        }
        std::fprintf(stderr, "greenknobs: no command given (see --help)\n");
        return 2;
    } catch (const gk::InputError& e) {
        std::fprintf(stderr, "greenknobs: error: %s\n", e.what());
        return 2;
    } catch (const gk::UnsupportedError& e) {
        // Not bad input: this machine or build cannot do it (e.g. a power limit without NVML or RAPL).
        std::fprintf(stderr, "greenknobs: unsupported here: %s\n", e.what());
        return 3;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "greenknobs: internal error: %s\n", e.what());
        return 1;
    }
}
