// greenknobs CLI entry: parse, wire, catch. Bad input → one line on stderr and exit code 2.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <unistd.h>

#include "greenknobs/model/omp_env.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"

#include "command.h"

namespace {

// libgomp reads its environment once, before main(). Its default spins idle OpenMP threads for
// milliseconds (2-150x slower steps on a busy machine, and the waiting burnt as CPU energy);
// `passive` makes each of the thousands of small parallel regions per step pay a futex wake-up
// (25-36 % slower on a quiet one). So the commands that run LibTorch re-execute themselves once
// with a bounded spin (GOMP_SPINCOUNT, model/omp_env.h, measured in docs/perf/threads.md) unless
// the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT; run.json records which (machine.runtime).
// `measure` must hand its command an untouched environment, so it is left out.
void ensure_bounded_omp_wait(int argc, char** argv) {
    std::string command;
    for (int i = 1; i < argc; ++i) {
        if (argv[i][0] != '-') {
            command = argv[i];
            break;
        }
    }
    if (command != "train" && command != "predict" && command != "pretrain" && command != "study") {
        return;
    }
    gk::model::reexec_with_default_omp_env(argc, argv);
}

}  // namespace

int main(int argc, char** argv) {
    ensure_bounded_omp_wait(argc, argv);
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
        std::fprintf(stderr, "greenknobs: error: %s\n", gk::printable(e.what()).c_str());
        return 2;
    } catch (const gk::UnsupportedError& e) {
        // Not bad input: this machine or build cannot do it (e.g. a power limit without NVML or
        // RAPL).
        std::fprintf(stderr, "greenknobs: unsupported here: %s\n", gk::printable(e.what()).c_str());
        return 3;
    } catch (const std::exception& e) {
        // One printable line: LibTorch's messages carry a multi-line C++ stack trace after the
        // first line, which is for developers (GK_VERBOSE / -v shows it whole).
        std::string msg = e.what();
        if (!verbose) {
            msg = msg.substr(0, msg.find('\n'));
        }
        std::fprintf(stderr, "greenknobs: internal error: %s\n", gk::printable(msg).c_str());
        return 1;
    } catch (...) {
        std::fprintf(stderr, "greenknobs: internal error: unknown exception\n");
        return 1;
    }
}
