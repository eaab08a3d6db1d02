// `greenknobs train`: resolve a RunConfig (defaults → catalog variant → --config file → --set), run
// the metered pipeline into a run directory. Exit 0 complete, 2 bad input, 3 skipped (knob
// unsupported here), 128 + signal when SIGINT/SIGTERM stopped it (run.json "interrupted").
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>

#include "greenknobs/config/run_config.h"
#include "greenknobs/knobs/catalog.h"
#include "greenknobs/pipeline/pipeline.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/utc_time.h"

#include "command.h"

namespace {

struct TrainArgs {
    std::string config_path;
    std::string variant;
    std::string catalog = "variants/paper.toml";
    std::vector<std::string> sets;
    std::string out;
    std::string device;
    std::string init_from;
    bool print_config = false;
    bool overwrite = false;
};

gk::app::Registrar reg("train", 30, [](CLI::App& app) -> gk::app::RunFn {
    auto args = std::make_shared<TrainArgs>();
    auto* sub = app.add_subcommand("train",
                                   "fine-tune ModernBERT with every stage metered → run directory");
    sub->add_option("--config", args->config_path, "run configuration (TOML)")
        ->check(CLI::ExistingFile);
    sub->add_option("--variant", args->variant, "apply a catalog variant's knobs, e.g. V7");
    sub->add_option("--catalog", args->catalog, "variant catalog (TOML)")->capture_default_str();
    sub->add_option("--set", args->sets, "override one key: section.key=value (repeatable)");
    sub->add_option("--out", args->out, "run directory (default runs/<name>-<UTC time>)");
    sub->add_option("--device", args->device, "cpu | cuda (same as --set system.device=...)");
    sub->add_option("--init-from", args->init_from,
                    "start from a HuggingFace checkpoint directory");
    sub->add_flag("--print-config", args->print_config,
                  "print the resolved config and its hash, run nothing");
    sub->add_flag("--overwrite", args->overwrite, "replace results in an existing run directory");
    return [args]() -> int {
        // The order of every command (knobs::resolve_sources): the catalog's base (with --variant)
        // or the defaults → --config → --device/--init-from/--set → the variant's knobs.
        gk::knobs::ConfigSources sources;
        std::unique_ptr<gk::knobs::Catalog> cat;
        if (!args->variant.empty()) {
            cat = std::make_unique<gk::knobs::Catalog>(gk::knobs::load_catalog(args->catalog));
            cat->find(args->variant);  // unknown id → InputError naming the catalog
            sources.catalog = cat.get();
            sources.variant = args->variant;
        }
        sources.config_path = args->config_path;
        if (!args->device.empty()) {
            sources.sets.push_back("system.device=" + args->device);
        }
        if (!args->init_from.empty()) {
            sources.sets.push_back("model.init_from=" + args->init_from);
        }
        sources.sets.insert(sources.sets.end(), args->sets.begin(), args->sets.end());
        const gk::config::RunConfig cfg = gk::knobs::resolve_sources(sources);
        if (args->print_config) {
            std::cout << gk::config::to_toml(cfg)
                      << "\n# config_hash = " << gk::config::config_hash(cfg) << "\n";
            return 0;
        }
        gk::pipeline::PipelineOptions opt;
        opt.out_dir = args->out.empty() ? "runs/" + cfg.name + "-" + gk::utc_now("%Y%m%dT%H%M%SZ")
                                        : args->out;
        opt.overwrite = args->overwrite;
        try {
            gk::pipeline::run_pipeline(cfg, opt);
        } catch (const gk::pipeline::Interrupted& e) {
            // Not a failure: the run record says "interrupted"; the shell convention's exit code.
            std::fprintf(stderr, "greenknobs: %s; %s/run.json says \"interrupted\"\n", e.what(),
                         opt.out_dir.c_str());
            return 128 + e.signal();
        }
        return 0;
    };
});

}  // namespace
