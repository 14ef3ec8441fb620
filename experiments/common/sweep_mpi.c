/* A sweep over MPI ranks: rank 0's scheduler, the other ranks' loop (see sweep_mpi.h). */
#include "sweep_mpi.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "comm_mpi.h"
#include "progress.h"

#define TAG 7001
#define POLL_SECONDS 0.003 /* nap between polls: reaction time, and ~0 CPU */

enum { MSG_WORK = 1, MSG_RESULT, MSG_BEAT, MSG_STOP };

typedef struct msg {
    int kind;
    int skip_finalize; /* MSG_STOP: some rank died, so MPI_Finalize would hang */
    long config;
    int attempt; /* MSG_WORK: 1 for the first attempt */
    int status;
    double seconds;
    char tail[SWEEP_TAIL]; /* MSG_RESULT of a failed run */
} msg;

extern char **environ;

elbo_comm *sweep_mpi_begin(int *argc, char ***argv, const char *prog, const char *spec)
{
    elbo_comm *c;
    elbo_status st = elbo_comm_init(argc, argv, &c);
    if (st != ELBO_OK) {
        fprintf(stderr, "%s: %s\n", prog, elbo_last_error());
        exit(ELBO_EXIT_RUNTIME);
    }
    st = elbo_comm_agree(c, "the sweep configuration", spec);
    if (st != ELBO_OK) {
        if (elbo_comm_rank(c) == 0)
            fprintf(stderr, "%s: %s; every rank stops\n", prog, elbo_last_error());
        int code = st == ELBO_ERR_MISMATCH ? ELBO_EXIT_USAGE : ELBO_EXIT_RUNTIME;
        elbo_comm_finalize(c, 0);
        exit(code);
    }
    return c;
}

bool sweep_mpi_is_root(const elbo_comm *c) { return !c || elbo_comm_rank(c) == 0; }

void sweep_mpi_end(elbo_comm *c) { elbo_comm_finalize(c, 0); }

static void nap(void)
{
    struct timespec ts = {0, (long)(POLL_SECONDS * 1e9)};
    nanosleep(&ts, NULL);
}

static void send_msg(MPI_Comm comm, int to, msg *m)
{
    size_t len = m->kind == MSG_RESULT ? offsetof(msg, tail) + strlen(m->tail) + 1 : offsetof(msg, tail);
    MPI_Send(m, (int)len, MPI_BYTE, to, TAG, comm); /* small: eager, even to a dead rank */
}

/* A waiting message from anyone (src >= 0) or none (-1). */
static int poll_msg(MPI_Comm comm, int from, msg *m)
{
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(from, TAG, comm, &flag, &st) != MPI_SUCCESS || !flag)
        return -1;
    memset(m, 0, sizeof *m);
    MPI_Recv(m, (int)sizeof *m, MPI_BYTE, st.MPI_SOURCE, TAG, comm, MPI_STATUS_IGNORE);
    m->tail[SWEEP_TAIL - 1] = 0;
    return st.MPI_SOURCE;
}

/* The drivers' environment: this one without the MPI launcher's variables,
 * so a driver that is itself built with MPI starts as a plain process. */
static char **driver_environment(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        bool launcher = !strncmp(e, "OMPI_", 5) || !strncmp(e, "PMIX_", 5) || !strncmp(e, "OPAL_", 5) ||
                        !strncmp(e, "ORTE_", 5);
        if (!launcher || !strncmp(e, "OMPI_ALLOW_RUN_AS_ROOT", 22))
            env[k++] = environ[i];
    }
    return env;
}

/* Start run c here; false if it could not start (then already recorded). */
static bool start_here(sweep_plan *p, long c, int rank)
{
    char why[PATH_MAX + 64];
    sweep_started(p, c, rank);
    p->runs[c].pid = sweep_spawn(p, &p->runs[c], why, sizeof why);
    if (p->runs[c].pid > 0)
        return true;
    snprintf(p->runs[c].tail, sizeof p->runs[c].tail, "%s: %.900s", p->prog, why);
    return false;
}

/* Reap one finished child of this process: its run, exit code and seconds. */
static long reap_child(sweep_plan *p, int *status, double *seconds)
{
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0)
        return -1;
    for (long c = 0; c < p->n; c++)
        if (p->runs[c].pid == pid) {
            p->runs[c].pid = 0;
            *status = sweep_exit_code(st);
            *seconds = elbo_now() - p->runs[c].started;
            return c;
        }
    return -1;
}

/* ---- rank 0 ---- */

typedef struct sched {
    sweep_plan *p;
    MPI_Comm comm;
    int size, root_jobs, nlive;
    int *busy;        /* runs in flight per rank */
    bool *live;
    double *heard;    /* last message from each rank */
    double timeout, beat, last_beat;
} sched;

static int slots_of(const sched *s, int r) { return r == 0 ? s->root_jobs : s->p->jobs; }

static void hand_out(sched *s)
{
    int workers = 0; /* live ranks that run drivers: a retry avoids its last rank only if there is another */
    for (int r = 0; r < s->size; r++)
        workers += s->live[r] && slots_of(s, r) > 0;
    for (int r = 0; r < s->size && !*s->p->stop; r++) {
        long c;
        while (s->live[r] && s->busy[r] < slots_of(s, r) && (c = sweep_next(s->p, r, workers)) >= 0) {
            if (r == 0) {
                if (!start_here(s->p, c, 0)) {
                    sweep_finished(s->p, c, 0, SWEEP_NOEXEC, 0, s->p->runs[c].tail);
                    continue;
                }
            } else {
                sweep_started(s->p, c, r);
                msg m = {.kind = MSG_WORK, .config = c, .attempt = s->p->runs[c].attempts};
                send_msg(s->comm, r, &m);
            }
            s->busy[r]++;
        }
    }
}

/* A rank that stopped answering: its runs go back to the queue (or fail). */
static void bury(sched *s, int r)
{
    s->live[r] = false;
    s->nlive--;
    fprintf(stderr, "%s: rank %d sent nothing for %.1f s: presumed dead; its runs go to other ranks\n", s->p->prog,
            r, s->timeout);
    for (long c = 0; c < s->p->n; c++)
        if (s->p->runs[c].state == SWEEP_RUNNING && s->p->runs[c].rank == r) {
            char why[128];
            snprintf(why, sizeof why, "%s: rank %d died while running this configuration", s->p->prog, r);
            s->busy[r]--;
            sweep_finished(s->p, c, r, SWEEP_LOST, elbo_now() - s->p->runs[c].started, why);
        }
}

/* One round of messages, local children, heartbeats and timeouts; true if anything happened. */
static bool serve(sched *s)
{
    bool any = false;
    msg m;
    int src;
    while ((src = poll_msg(s->comm, MPI_ANY_SOURCE, &m)) >= 0) {
        any = true;
        if (!s->live[src])
            continue; /* a rank presumed dead came back: its runs are already elsewhere */
        s->heard[src] = elbo_now();
        if (m.kind == MSG_RESULT && m.config >= 0 && m.config < s->p->n &&
            s->p->runs[m.config].state == SWEEP_RUNNING && s->p->runs[m.config].rank == src) {
            s->busy[src]--;
            sweep_finished(s->p, m.config, src, m.status, m.seconds, m.tail);
        }
    }
    int status;
    double seconds;
    long c;
    while ((c = reap_child(s->p, &status, &seconds)) >= 0) {
        any = true;
        s->busy[0]--;
        sweep_finished(s->p, c, 0, status, seconds, NULL);
    }
    double now = elbo_now();
    if (now - s->last_beat >= s->beat) {
        s->last_beat = now;
        for (int r = 1; r < s->size; r++)
            if (s->live[r]) {
                msg b = {.kind = MSG_BEAT};
                send_msg(s->comm, r, &b);
            }
    }
    for (int r = 1; r < s->size; r++)
        if (s->live[r] && now - s->heard[r] > s->timeout) {
            bury(s, r);
            any = true;
        }
    return any;
}

/* SIGINT/SIGTERM (plain mpirun sends SIGTERM to every rank when one dies,
 * and SIGKILL a second later): unfinished runs go back to pending in the
 * ledger first, then the local drivers are stopped. */
static void wind_down(sched *s)
{
    for (long c = 0; c < s->p->n; c++)
        if (s->p->runs[c].state == SWEEP_RUNNING)
            s->p->runs[c].state = SWEEP_PENDING;
    sweep_write_ledger(s->p);
    fprintf(stderr, "%s: stopped by a signal; run the same command again to resume\n", s->p->prog);
    for (long c = 0; c < s->p->n; c++)
        if (s->p->runs[c].pid > 0)
            kill(s->p->runs[c].pid, SIGTERM);
}

static void schedule(sweep_plan *p, elbo_comm *c, int root_jobs, double timeout)
{
    sched s = {.p = p, .comm = elbo_comm_mpi(c), .size = elbo_comm_size(c), .timeout = timeout};
    s.root_jobs = s.size == 1 && root_jobs == 0 ? p->jobs : root_jobs;
    s.nlive = s.size;
    s.beat = timeout / 4 < 1.0 ? timeout / 4 : 1.0;
    s.busy = calloc((size_t)s.size, sizeof *s.busy);
    s.live = calloc((size_t)s.size, sizeof *s.live);
    s.heard = calloc((size_t)s.size, sizeof *s.heard);
    if (!s.busy || !s.live || !s.heard) {
        fprintf(stderr, "%s: out of memory\n", p->prog);
        elbo_comm_abort(c, ELBO_EXIT_RUNTIME);
    }
    for (int r = 0; r < s.size; r++)
        s.live[r] = true, s.heard[r] = elbo_now();
    s.last_beat = elbo_now();
    sweep_write_ledger(p);
    while (sweep_unsettled(p) && !*p->stop) {
        hand_out(&s);
        if (!serve(&s))
            nap();
    }
    if (*p->stop)
        wind_down(&s);
    msg stop = {.kind = MSG_STOP, .skip_finalize = s.nlive < s.size || *p->stop};
    for (int r = 1; r < s.size; r++)
        if (s.live[r])
            send_msg(s.comm, r, &stop);
    if (s.nlive < s.size)
        printf("%d of %d ranks died; Open MPI's finalize would wait for them, so this one is skipped\n",
               s.size - s.nlive, s.size);
    elbo_comm_finalize(c, stop.skip_finalize);
    free(s.busy), free(s.live), free(s.heard);
}

/* ---- every other rank ---- */

static void serve_rank0(sweep_plan *p, elbo_comm *c, double timeout)
{
    MPI_Comm comm = elbo_comm_mpi(c);
    int rank = elbo_comm_rank(c);
    double heard = elbo_now(), last_beat = 0, beat = timeout / 4 < 1.0 ? timeout / 4 : 1.0;
    int running = 0;
    for (;;) {
        bool any = false;
        msg m;
        while (poll_msg(comm, 0, &m) == 0) {
            any = true;
            heard = elbo_now();
            if (m.kind == MSG_STOP) {
                fflush(stdout);
                if (running > 0) /* rank 0 was interrupted: the drivers die with this process */
                    _exit(ELBO_EXIT_RUNTIME);
                elbo_comm_finalize(c, m.skip_finalize);
                exit(0);
            }
            if (m.kind == MSG_WORK && m.config >= 0 && m.config < p->n) {
                p->runs[m.config].attempts = m.attempt - 1; /* rank 0 counts; the log of attempt k is kept */
                if (start_here(p, m.config, rank)) {
                    running++;
                } else {
                    msg r = {.kind = MSG_RESULT, .config = m.config, .status = SWEEP_NOEXEC};
                    snprintf(r.tail, sizeof r.tail, "%s", p->runs[m.config].tail);
                    send_msg(comm, 0, &r);
                }
            }
        }
        long done;
        msg r = {.kind = MSG_RESULT};
        while ((done = reap_child(p, &r.status, &r.seconds)) >= 0) {
            any = true;
            running--;
            r.config = done;
            r.tail[0] = 0;
            if (r.status != 0)
                sweep_log_tail(p->runs[done].dir, r.tail, sizeof r.tail);
            send_msg(comm, 0, &r);
        }
        double now = elbo_now();
        if (now - last_beat >= beat) {
            msg b = {.kind = MSG_BEAT};
            send_msg(comm, 0, &b);
            last_beat = now;
        }
        if (now - heard > timeout || *p->stop) {
            if (!*p->stop)
                fprintf(stderr, "%s: rank %d: rank 0 sent nothing for %.1f s: presumed dead; stopping\n", p->prog,
                        rank, timeout);
            fflush(stdout);
            _exit(ELBO_EXIT_RUNTIME); /* the drivers die with this process (PR_SET_PDEATHSIG) */
        }
        if (!any)
            nap();
    }
}

void sweep_mpi(sweep_plan *p, elbo_comm *c, int root_jobs, double rank_timeout)
{
    p->envp = driver_environment();
    p->ranks = elbo_comm_size(c);
    if (!p->envp) {
        fprintf(stderr, "%s: out of memory\n", p->prog);
        elbo_comm_abort(c, ELBO_EXIT_RUNTIME);
    }
    if (elbo_comm_rank(c) == 0) {
        schedule(p, c, root_jobs, rank_timeout);
        free(p->envp);
        p->envp = NULL;
        return;
    }
    serve_rank0(p, c, rank_timeout);
}
