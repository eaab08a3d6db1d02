// Test helper: spins until it has used the given CPU seconds (default 1), then exits 0. CPU time
// rather than wall time, so a loaded machine makes it slower, not lighter.
#include <cstdlib>

#include <time.h>

int main(int argc, char** argv) {
    double cpu_s = argc > 1 ? std::atof(argv[1]) : 1.0;
    volatile unsigned long x = 0;
    for (;;) {
        for (int i = 0; i < 100000; ++i) {
            x = x + static_cast<unsigned long>(i);
        }
        timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        if (static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9 >= cpu_s) {
            return 0;
        }
    }
}
