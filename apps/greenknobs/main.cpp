// greenknobs CLI entry: parse, wire, catch. Bad input → one line on stderr and exit code 2.
#include <algorithm>
#include <cstdio>
#include <map>

#include "command.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"

int main(int argc, char** argv) {
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
