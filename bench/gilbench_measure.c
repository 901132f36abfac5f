/* Layer: measurement: gb_measure_step, the one entry point the scenarios
 * call; it hands the step to the file that measures its kind.  Calls only
 * the measurement files below it (work, workers, ext) and the base layer. */
#include "gilbench_measure.h"

#include <stdio.h>

int gb_measure_step(const gb_rig_t *rig, gb_step_t *st, const gb_trace_req_t *trace)
{
    if (st->io_tcp && rig->echo_tcp_fd < 0 && st->kind != GB_K_CPU_ALONE) {
        static int said;
        if (!said++)
            fprintf(stderr, "gilbench: no TCP loopback connection to an echo process: the "
                            "steps over TCP are not measured\n");
        return -1;
    }
    if (st->runtime != GB_RT_LIBGIL) {
        if (gb_measure_external(rig, st) != 0)
            return -1;
    } else {
        switch (st->kind) {
        case GB_K_IO_ALONE:
        case GB_K_CPU_ALONE:
        case GB_K_CONVOY: gb_measure_threads(rig, st, trace); break;
        case GB_K_COUNTDOWN: gb_measure_countdown(rig, st); break;
        default: gb_measure_workers(rig, st); break;
        }
    }
    st->measured = 1;
    return 0;
}
