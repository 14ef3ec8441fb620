/* The runs of a sweep: one driver process per configuration, on a local pool
 * (sweep_local) or handed out to MPI ranks (sweep_mpi.h). Both paths share
 * this bookkeeping, so a run's life is the same everywhere:
 *
 *   pending -> running (on rank r) -> done
 *                                  -> failed: exit code (128+signal when
 *                                     killed, SWEEP_LOST when its rank died)
 *                                     and the tail of its log; back to pending
 *                                     on another rank while attempts <= retries
 *   skipped: its summary.json was there before the sweep started (resume).
 *
 * Every finished attempt rewrites OUT/sweep_runs.json atomically (state, exit
 * code, attempts, rank, seconds and log tail of every configuration), so a
 * sweep that dies still says what ran. */
#ifndef ELBO_EXPERIMENTS_SWEEP_RUNS_H
#define ELBO_EXPERIMENTS_SWEEP_RUNS_H

#include <stdbool.h>
#include <sys/types.h>

#define SWEEP_TAIL 1024   /* bytes of a failed run's log kept (its last lines) */
#define SWEEP_LOST (-1)   /* exit code of a run whose rank died */
#define SWEEP_NOEXEC 127  /* the driver could not be started */

typedef enum sweep_state {
    SWEEP_PENDING,
    SWEEP_RUNNING,
    SWEEP_DONE,
    SWEEP_FAILED,
    SWEEP_SKIPPED,
} sweep_state;

typedef struct sweep_run {
    char *dir;        /* OUT/runs/<config>; owns the allocation */
    const char *name; /* <config>, inside dir */
    char **argv;      /* the driver's argv, NULL-terminated; owned */
    sweep_state state;
    int status;       /* exit code of the last attempt (0 for done and skipped) */
    int attempts;
    int rank;         /* rank of the last attempt (-1: never ran) */
    int failed_on;    /* rank of the last failed attempt (-1: none) */
    pid_t pid;        /* this process's child while it runs here */
    double started, seconds;
    char tail[SWEEP_TAIL]; /* last lines of the last failed attempt's log */
} sweep_run;

typedef struct sweep_plan {
    const char *prog;  /* for messages: "sweep" */
    const char *exe;   /* the driver binary */
    const char *out;   /* OUT */
    sweep_run *runs;
    long n;
    int jobs;          /* runs at once per rank */
    int ranks;         /* ranks running drivers (1: the local pool) */
    int retries;       /* extra attempts of a failed run */
    char **envp;       /* the drivers' environment (NULL: this process's) */
    int ran, skipped, failed;
    volatile int *stop; /* set by SIGINT/SIGTERM: start nothing new */
    double t0;
} sweep_plan;

/* A plan over n runs whose dir and argv the caller fills (sweep_run_set). */
bool sweep_plan_init(sweep_plan *p, const char *prog, const char *exe, const char *out, long n, int jobs,
                     int retries);
void sweep_plan_free(sweep_plan *p);
/* Take copies of dir and the NULL-terminated argv. */
bool sweep_run_set(sweep_run *r, const char *dir, char *const *argv);
/* Mark runs whose summary.json exists as skipped (resume). */
void sweep_mark_finished(sweep_plan *p);

/* The pending run to start next on `rank`: not one that last failed there
 * unless `rank` is the only live rank that runs drivers (workers <= 1); -1 if none. */
long sweep_next(const sweep_plan *p, int rank, int workers);
/* The run is running on rank (its attempt counted). */
void sweep_started(sweep_plan *p, long c, int rank);
/* fork + exec the driver with stdout/stderr in DIR/log.txt (an earlier
 * attempt's log is kept as log.N.txt); the child dies with this process.
 * Returns the pid, or -1 with the reason in why. */
pid_t sweep_spawn(const sweep_plan *p, sweep_run *r, char *why, size_t cap);
/* CPUs this process may run on (its affinity mask: what mpirun or Slurm
 * bound the rank to), the share to divide among its runs. */
int sweep_cpus(void);
/* Exit code of a waitpid status: the exit status, or 128 + signal. */
int sweep_exit_code(int wstatus);
/* Last lines of DIR/log.txt into buf (at most cap - 1 bytes, whole lines). */
void sweep_log_tail(const char *dir, char *buf, size_t cap);
/* An attempt of run c on rank ended with exit code status (tail: its log's
 * end, NULL to read it here): print one line, retry or settle it, rewrite
 * OUT/sweep_runs.json. */
void sweep_finished(sweep_plan *p, long c, int rank, int status, double seconds, const char *tail);
/* True while a run is pending or running. */
bool sweep_unsettled(const sweep_plan *p);
/* Rewrite OUT/sweep_runs.json atomically; false (with a line on stderr) on failure. */
bool sweep_write_ledger(const sweep_plan *p);
/* The closing lines: counts, then one line per failed run. */
void sweep_report(const sweep_plan *p);

/* Run the plan on this machine, at most p->jobs at once (blocking waitpid,
 * no polling). Returns when every run is settled or *p->stop is set. */
void sweep_local(sweep_plan *p);

/* Process-wide SIGINT/SIGTERM flag for p->stop (handlers installed here). */
volatile int *sweep_stop_flag(void);

#endif
