/* A one-line progress display on stderr ("label 1200/5000  85.3 it/s
 * loss 123.4  ETA 0:45"), shown only when stderr is a terminal and redrawn
 * at most ELBO_PROGRESS_HZ times a second; silent otherwise (logs stay clean). */
#ifndef ELBO_PROGRESS_H
#define ELBO_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define ELBO_PROGRESS_HZ 10

typedef struct elbo_progress {
    const char *label;
    uint64_t total;
    bool enabled;
    bool drawn;        /* something is on the line (cleared by done) */
    double t_start;    /* seconds, monotonic */
    double t_last;     /* last redraw */
} elbo_progress;

/* enabled iff isatty(stderr) (ELBO_PROGRESS=0 forces it off). */
void elbo_progress_begin(elbo_progress *p, const char *label, uint64_t total);
/* step done of total; loss shown unless NaN. Cheap when not redrawing. */
void elbo_progress_update(elbo_progress *p, uint64_t step, double loss);
/* Clear the line. */
void elbo_progress_end(elbo_progress *p);

/* Monotonic seconds (shared by drivers for timings). */
double elbo_now(void);

#endif
