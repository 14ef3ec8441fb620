/* The runs of a sweep: state, retries, child processes, the ledger. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "sweep_runs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli.h"
#include "models/io/file.h"
#include "models/io/json.h"
#include "progress.h"

extern char **environ;

bool sweep_plan_init(sweep_plan *p, const char *prog, const char *exe, const char *out, long n, int jobs,
                     int retries)
{
    memset(p, 0, sizeof *p);
    p->prog = prog, p->exe = exe, p->out = out, p->n = n, p->jobs = jobs, p->retries = retries;
    p->ranks = 1;
    p->runs = calloc(n > 0 ? (size_t)n : 1, sizeof *p->runs);
    p->stop = sweep_stop_flag();
    p->t0 = elbo_now();
    for (long c = 0; p->runs && c < n; c++)
        p->runs[c].rank = p->runs[c].failed_on = -1;
    return p->runs != NULL;
}

void sweep_plan_free(sweep_plan *p)
{
    for (long c = 0; p->runs && c < p->n; c++) {
        for (char **a = p->runs[c].argv; a && *a; a++)
            free(*a);
        free(p->runs[c].argv);
        free(p->runs[c].dir);
    }
    free(p->runs);
    p->runs = NULL;
}

bool sweep_run_set(sweep_run *r, const char *dir, char *const *argv)
{
    int n = 0;
    while (argv[n])
        n++;
    r->dir = strdup(dir);
    r->argv = calloc((size_t)n + 1, sizeof *r->argv);
    if (!r->dir || !r->argv)
        return false;
    for (int k = 0; k < n; k++)
        if (!(r->argv[k] = strdup(argv[k])))
            return false;
    const char *slash = strrchr(r->dir, '/');
    r->name = slash ? slash + 1 : r->dir;
    return true;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void sweep_mark_finished(sweep_plan *p)
{
    for (long c = 0; c < p->n; c++) {
        char sj[PATH_MAX + 16];
        snprintf(sj, sizeof sj, "%s/summary.json", p->runs[c].dir);
        if (file_exists(sj)) {
            p->runs[c].state = SWEEP_SKIPPED;
            p->runs[c].status = 0;
            p->skipped++;
        }
    }
}

long sweep_next(const sweep_plan *p, int rank, int workers)
{
    for (long c = 0; c < p->n; c++)
        if (p->runs[c].state == SWEEP_PENDING && (p->runs[c].failed_on != rank || workers <= 1))
            return c;
    return -1;
}

void sweep_started(sweep_plan *p, long c, int rank)
{
    sweep_run *r = &p->runs[c];
    r->state = SWEEP_RUNNING;
    r->rank = rank;
    r->attempts++;
    r->started = elbo_now();
}

pid_t sweep_spawn(const sweep_plan *p, sweep_run *r, char *why, size_t cap)
{
    char log[PATH_MAX + 16];
    if (elbo_mkdir_p(r->dir) != ELBO_OK) {
        snprintf(why, cap, "%s", elbo_last_error());
        return -1;
    }
    snprintf(log, sizeof log, "%s/log.txt", r->dir);
    if (r->attempts > 1) { /* keep the failed attempt's log next to the new one */
        char old[PATH_MAX + 32];
        snprintf(old, sizeof old, "%s/log.%d.txt", r->dir, r->attempts - 1);
        rename(log, old);
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, cap, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0)
        return pid;
#ifdef __linux__
    /* A sweep (or an MPI rank) that is killed takes its runs with it, so a
     * rescheduled run never races an orphan writing the same folder. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(128 + SIGKILL);
#endif
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execve(p->exe, r->argv, p->envp ? p->envp : environ);
    fprintf(stderr, "%s: cannot run %s: %s\n", p->prog, p->exe, strerror(errno));
    _exit(SWEEP_NOEXEC);
}

int sweep_cpus(void)
{
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int sweep_exit_code(int wstatus)
{
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 1;
}

void sweep_log_tail(const char *dir, char *buf, size_t cap)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/log.txt", dir);
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    long from = len > (long)cap - 1 ? len - ((long)cap - 1) : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    if (from > 0) { /* start at a whole line */
        char *nl = strchr(buf, '\n');
        if (nl)
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
}

/* The last line of a tail, for one-line reports. */
static const char *last_line(const char *tail)
{
    const char *nl = strrchr(tail, '\n');
    return nl ? nl + 1 : tail;
}

static void describe_exit(int status, int rank, char *buf, size_t cap)
{
    if (status == SWEEP_LOST)
        snprintf(buf, cap, "rank %d died", rank);
    else if (status > 128 && status < 128 + 65)
        snprintf(buf, cap, "killed by signal %d", status - 128);
    else
        snprintf(buf, cap, "exit %d", status);
}

void sweep_finished(sweep_plan *p, long c, int rank, int status, double seconds, const char *tail)
{
    sweep_run *r = &p->runs[c];
    r->status = status;
    r->seconds = seconds;
    r->rank = rank;
    p->ran += status == 0;
    char where[32] = "";
    if (p->ranks > 1)
        snprintf(where, sizeof where, " on rank %d", rank);
    if (status == 0) {
        r->state = SWEEP_DONE;
        r->tail[0] = 0;
        printf("[%ld/%ld] %s done%s (%.1fs)\n", (long)(p->ran + p->skipped + p->failed), p->n, r->name, where,
               elbo_now() - p->t0);
    } else {
        if (tail)
            snprintf(r->tail, sizeof r->tail, "%s", tail);
        else
            sweep_log_tail(r->dir, r->tail, sizeof r->tail);
        r->failed_on = rank;
        /* A usage error (bad flag) fails the same way on every rank. */
        bool retry = status != ELBO_EXIT_USAGE && r->attempts <= p->retries;
        r->state = retry ? SWEEP_PENDING : SWEEP_FAILED;
        p->failed += !retry;
        char how[64];
        describe_exit(status, rank, how, sizeof how);
        printf("[%ld/%ld] %s FAILED%s (%s, attempt %d%s, %.1fs)\n", (long)(p->ran + p->skipped + p->failed), p->n,
               r->name, where, how, r->attempts, retry ? ", will retry" : "", elbo_now() - p->t0);
        printf("        see %s/log.txt: %s\n", r->dir, last_line(r->tail));
    }
    fflush(stdout);
    sweep_write_ledger(p);
}

bool sweep_unsettled(const sweep_plan *p)
{
    for (long c = 0; c < p->n; c++)
        if (p->runs[c].state == SWEEP_PENDING || p->runs[c].state == SWEEP_RUNNING)
            return true;
    return false;
}

static const char *state_name(sweep_state s)
{
    static const char *names[] = {"pending", "running", "done", "failed", "skipped"};
    return names[s];
}

bool sweep_write_ledger(const sweep_plan *p)
{
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_json_string(&j, "driver", p->exe);
    elbo_json_begin_array(&j, "runs");
    for (long c = 0; c < p->n; c++) {
        const sweep_run *r = &p->runs[c];
        elbo_json_begin_object(&j, NULL);
        elbo_json_string(&j, "config", r->name);
        elbo_json_string(&j, "state", state_name(r->state));
        elbo_json_int(&j, "exit", r->state == SWEEP_PENDING && r->attempts == 0 ? 0 : r->status);
        elbo_json_int(&j, "attempts", r->attempts);
        elbo_json_int(&j, "rank", r->rank);
        elbo_json_number(&j, "seconds", r->seconds);
        if (r->tail[0])
            elbo_json_string(&j, "log_tail", r->tail);
        elbo_json_end_object(&j);
    }
    elbo_json_end_array(&j);
    elbo_json_end_object(&j);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/sweep_runs.json", p->out);
    elbo_status st = elbo_json_save(&j, path);
    elbo_json_free(&j);
    if (st != ELBO_OK)
        fprintf(stderr, "%s: %s (%s)\n", p->prog, elbo_last_error(), elbo_status_name(st));
    return st == ELBO_OK;
}

void sweep_report(const sweep_plan *p)
{
    printf("%ld configurations: %d run, %d skipped (already done), %d failed\n", p->n, p->ran, p->skipped,
           p->failed);
    for (long c = 0; c < p->n; c++) {
        const sweep_run *r = &p->runs[c];
        if (r->state != SWEEP_FAILED)
            continue;
        char how[64];
        describe_exit(r->status, r->rank, how, sizeof how);
        printf("  failed: %s (%s after %d attempt%s): %s\n", r->name, how, r->attempts, r->attempts == 1 ? "" : "s",
               last_line(r->tail));
    }
    fflush(stdout);
}

/* ---- the local pool ---- */

static volatile int stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

volatile int *sweep_stop_flag(void)
{
    static bool installed;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop; /* no SA_RESTART: a blocking waitpid returns EINTR */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        installed = true;
    }
    return &stop_flag;
}

/* Start runs on this process until `jobs` are alive; returns how many are alive. */
static int fill_slots(sweep_plan *p, int alive)
{
    long c;
    while (alive < p->jobs && !*p->stop && (c = sweep_next(p, 0, 1)) >= 0) {
        char why[PATH_MAX + 64];
        sweep_started(p, c, 0);
        p->runs[c].pid = sweep_spawn(p, &p->runs[c], why, sizeof why);
        if (p->runs[c].pid < 0) {
            snprintf(p->runs[c].tail, sizeof p->runs[c].tail, "%s: %.900s", p->prog, why);
            sweep_finished(p, c, 0, SWEEP_NOEXEC, 0, p->runs[c].tail);
            continue;
        }
        alive++;
    }
    return alive;
}

void sweep_local(sweep_plan *p)
{
    int alive = 0;
    for (;;) {
        alive = fill_slots(p, alive);
        if (alive == 0)
            break;
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: waitpid: %s\n", p->prog, strerror(errno));
            break;
        }
        for (long c = 0; c < p->n; c++)
            if (p->runs[c].pid == pid && p->runs[c].state == SWEEP_RUNNING) {
                p->runs[c].pid = 0;
                alive--;
                sweep_finished(p, c, 0, sweep_exit_code(st), elbo_now() - p->runs[c].started, NULL);
                break;
            }
    }
}
