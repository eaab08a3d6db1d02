// A stand-in for a user's training command in the command-tune tests: it does `--work` CPU-seconds
// of work (times `--fidelity`, as a script would train on fewer samples), in a "train" stage over
// the stage protocol, and reports the metrics `val_score` (`--val`), `test_score` (`--test`),
// `fidelity` and `seed`. CPU time rather than wall time, so a loaded machine makes it slower, not
// lighter. Later arguments win, as with argparse.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <time.h>

#include "greenknobs/energy/protocol_client.h"

namespace {

double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
    double work = 0.4, val = 0.80, test = 0.79, fidelity = 1.0, seed = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const double v = std::atof(argv[i + 1]);
        if (std::strcmp(argv[i], "--work") == 0) {
            work = v;
        } else if (std::strcmp(argv[i], "--val") == 0) {
            val = v;
        } else if (std::strcmp(argv[i], "--test") == 0) {
            test = v;
        } else if (std::strcmp(argv[i], "--fidelity") == 0) {
            fidelity = v;
        } else if (std::strcmp(argv[i], "--seed") == 0) {
            seed = v;
        } else {
            std::fprintf(stderr, "fake_command: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    gk_stage_begin("train");
    const double until = cpu_seconds() + work * fidelity;
    volatile unsigned long x = 0;
    while (cpu_seconds() < until) {
        for (int i = 0; i < 100000; ++i) {
            x = x + static_cast<unsigned long>(i);
        }
    }
    gk_stage_end("train");
    gk_metric("val_score", val);
    gk_metric("test_score", test);
    gk_metric("fidelity", fidelity);
    gk_metric("seed", seed);
    return 0;
}
