#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECONDS_PER_MINUTE 60
#define SECONDS_PER_HOUR 3600
/* Width cleared when the line is erased. */
#define LINE_WIDTH 100

double elbo_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void elbo_progress_begin(elbo_progress *p, const char *label, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->label = label ? label : "";
    p->total = total;
    const char *env = getenv("ELBO_PROGRESS");
    p->enabled = isatty(STDERR_FILENO) && !(env && strcmp(env, "0") == 0);
    p->t_start = elbo_now();
    p->t_last = -1.0;
}

static void fmt_duration(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = lrint(s);
    if (t >= SECONDS_PER_HOUR)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / SECONDS_PER_HOUR, (t % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE,
                 t % SECONDS_PER_MINUTE);
    else
        snprintf(buf, cap, "%ld:%02ld", t / SECONDS_PER_MINUTE, t % SECONDS_PER_MINUTE);
}

void elbo_progress_update(elbo_progress *p, uint64_t step, double loss)
{
    if (!p->enabled)
        return;
    double now = elbo_now();
    bool last = p->total && step >= p->total;
    if (!last && p->t_last >= 0 && now - p->t_last < 1.0 / ELBO_PROGRESS_HZ)
        return;
    p->t_last = now;
    double el = now - p->t_start, rate = el > 0 ? (double)step / el : 0;
    char eta[32], line[160];
    fmt_duration(eta, sizeof eta, rate > 0 && p->total >= step ? (double)(p->total - step) / rate : NAN);
    int n = p->total ? snprintf(line, sizeof line, "%s %llu/%llu  %.1f it/s", p->label, (unsigned long long)step,
                                (unsigned long long)p->total, rate)
                     : snprintf(line, sizeof line, "%s %llu  %.1f it/s", p->label, (unsigned long long)step, rate);
    if (!isnan(loss) && n > 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "  loss %.4g", loss);
    if (p->total && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, "  ETA %s", eta);
    fprintf(stderr, "\r%-*.*s", LINE_WIDTH - 1, LINE_WIDTH - 1, line);
    fflush(stderr);
    p->drawn = true;
}

void elbo_progress_end(elbo_progress *p)
{
    if (p->enabled && p->drawn) {
        fprintf(stderr, "\r%*s\r", LINE_WIDTH - 1, "");
        fflush(stderr);
    }
    p->drawn = false;
}
