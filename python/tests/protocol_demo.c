/* A C program instrumented with protocol_client.h (the one-header helper): two stages, one nested,
 * work and a metric. Run without greenknobs it does the same work and reports nothing. */
#include <time.h>

#include "greenknobs/energy/protocol_client.h"

static volatile double sink;

static void spin(long n) {
    long i;
    for (i = 0; i < n; ++i) {
        sink += (double)i * 0.5;
    }
}

int main(void) {
    gk_stage_begin("prepare");
    spin(2000000);
    gk_work("items", 3);
    gk_stage_end("prepare");
    gk_stage_begin("train");
    spin(4000000);
    gk_stage_begin("validate");
    spin(1000000);
    gk_stage_end("validate");
    gk_work("samples", 128);
    gk_stage_end("train");
    gk_metric("accuracy", 0.75);
    return 0;
}
