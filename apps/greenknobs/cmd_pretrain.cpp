// `greenknobs pretrain --config pretrain.toml --out DIR`: masked-LM pretraining of a ModernBERT
// encoder on a code corpus, metered, checkpointed and resumable (the same command continues a run).
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>

#include "greenknobs/pretrain/config.h"
#include "greenknobs/pretrain/pretrain.h"

#include "command.h"

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_pretrain_pause_signal(int sig) { g_stop_signal = sig; }

// SIGINT/SIGTERM ask the run to pause at the next step boundary (checkpoint, energy, run.json); a
// second one acts at once (SA_RESETHAND restores the default action). The previous handlers come
// back when the run returns.
class PauseOnSignal {
  public:
    PauseOnSignal() {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_pretrain_pause_signal;
        sa.sa_flags = SA_RESETHAND | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGINT, &sa, &old_int_);
        ::sigaction(SIGTERM, &sa, &old_term_);
    }
    ~PauseOnSignal() {
        ::sigaction(SIGINT, &old_int_, nullptr);
        ::sigaction(SIGTERM, &old_term_, nullptr);
    }
    PauseOnSignal(const PauseOnSignal&) = delete;
    PauseOnSignal& operator=(const PauseOnSignal&) = delete;

  private:
    struct sigaction old_int_, old_term_;
};

struct PretrainArgs {
    std::string config_path;
    std::vector<std::string> sets;
    std::string out;
    int64_t stop_after_steps = 0;
    double time_limit_s = 0;
    bool print_config = false;
    bool overwrite = false;
};

gk::app::Registrar reg("pretrain", 35, [](CLI::App& app) -> gk::app::RunFn {
    auto args = std::make_shared<PretrainArgs>();
    auto* sub = app.add_subcommand(
        "pretrain",
        "masked-LM pretraining on a code corpus, metered and resumable → run directory");
    sub->add_option("--config", args->config_path, "pretraining configuration (TOML)")
        ->check(CLI::ExistingFile);
    sub->add_option("--set", args->sets, "override one key: section.key=value (repeatable)");
    sub->add_option("--out", args->out, "run directory; an existing one is resumed")->required();
    sub->add_option("--stop-after-steps", args->stop_after_steps,
                    "stop this invocation after N steps (checkpointed; run again to continue)");
    sub->add_option("--time-limit", args->time_limit_s,
                    "stop this invocation after this many seconds (checkpointed)");
    sub->add_flag("--print-config", args->print_config, "print the resolved config and its hash");
    sub->add_flag("--overwrite", args->overwrite,
                  "discard the directory's checkpoints, start over");
    return [args]() -> int {
        gk::pretrain::PretrainConfig cfg;
        if (!args->config_path.empty()) {
            cfg = gk::pretrain::load_toml(args->config_path);
        }
        for (const auto& s : args->sets) {
            gk::pretrain::apply_set(cfg, s);
        }
        gk::pretrain::validate(cfg, args->config_path.empty() ? "--set" : args->config_path);
        if (args->print_config) {
            std::cout << gk::pretrain::to_toml(cfg)
                      << "\n# config_hash = " << gk::pretrain::config_hash(cfg) << "\n";
            return 0;
        }
        gk::pretrain::PretrainOptions opt;
        opt.out_dir = args->out;
        opt.overwrite = args->overwrite;
        opt.stop_after_steps = args->stop_after_steps;
        opt.time_limit_s = args->time_limit_s;
        opt.stop_signal = &g_stop_signal;
        {
            PauseOnSignal guard;
            gk::pretrain::run_pretrain(cfg, opt);
        }
        // Paused by a signal: checkpointed and recorded, but the shell should still see it
        // (130/143).
        return g_stop_signal != 0 ? 128 + g_stop_signal : 0;
    };
});

}  // namespace
