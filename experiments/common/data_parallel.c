/* Data-parallel training over MPI (see data_parallel.h): the buckets over
 * the gradient slab, the trainer's hooks, and the collective agreements. */
#include "data_parallel.h"

#include <dirent.h>
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "comm.h"
#include "comm_mpi.h"
#include "ops/pool.h"
#include "progress.h"

#define MSG_MAX 512
#define CONFIG_MAX 16384

struct elbo_dp {
    elbo_comm *c;
    elbo_allreduce *ar;
    elbo_params *p;
    int nb;
    int *bucket_of; /* (count) bucket of each parameter */
    int *need;      /* (nb) parameters per bucket */
    int *left;      /* (nb) parameters not yet final this step */
    elbo_status err; /* the first failure inside a hook (hooks return nothing) */
    double hook_seconds, wait_seconds; /* in the hooks during backward; waiting after it */
    long early, late; /* buckets started by the hooks during backward, and after it */
    bool spin;        /* wait for sums by spinning only (see choose_wait) */
    float *own_g;     /* the params' gradient slab while p->g is the shared window's */
    char scratch[512]; /* elbo_dp_quiet_followers: this rank's output directory, removed at the end */
    char err_msg[MSG_MAX];
};

elbo_dp *elbo_dp_begin(int *argc, char ***argv, const char *prog)
{
    elbo_dp *d = calloc(1, sizeof *d);
    elbo_status st = d ? elbo_comm_init(argc, argv, &d->c) : elbo_fail(ELBO_ERR_NOMEM, "out of memory");
    if (st != ELBO_OK) {
        fprintf(stderr, "%s: --mpi: %s (%s)\n", prog, elbo_last_error(), elbo_status_name(st));
        exit(elbo_exit_code(st, false));
    }
    return d;
}

void elbo_dp_detach(elbo_dp *d)
{
    if (!d || !d->p)
        return;
    if (d->own_g) { /* the params get their own slab back, with the window's gradients */
        memcpy(d->own_g, d->p->g, d->p->n * sizeof(float));
        d->p->g = d->own_g;
    }
    elbo_allreduce_free(d->ar);
    free(d->bucket_of), free(d->need), free(d->left);
    d->ar = NULL, d->p = NULL, d->own_g = NULL, d->bucket_of = NULL, d->need = d->left = NULL, d->nb = 0;
}

/* rm -r: what a follower wrote into its scratch directory. */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    DIR *dir = S_ISDIR(st.st_mode) ? opendir(path) : NULL;
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[1024];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
            remove_tree(sub);
    }
    if (dir)
        closedir(dir);
    remove(path);
}

void elbo_dp_end(elbo_dp *d)
{
    if (!d)
        return;
    elbo_dp_detach(d);
    elbo_comm_finalize(d->c, 0);
    if (d->scratch[0])
        remove_tree(d->scratch);
    free(d);
}

elbo_status elbo_dp_quiet_followers(elbo_dp *d, elbo_cli *cli)
{
    if (!d || elbo_dp_root(d))
        return elbo_dp_agree_status(d, ELBO_OK, "cannot make its scratch directory");
    elbo_status st = ELBO_OK;
    const char *tmp = getenv("TMPDIR");
    snprintf(d->scratch, sizeof d->scratch, "%s/elbo-rank%d-XXXXXX", tmp && *tmp ? tmp : "/tmp", elbo_dp_rank(d));
    if (!mkdtemp(d->scratch)) {
        st = elbo_fail(ELBO_ERR_IO, "%s: %s", d->scratch, strerror(errno));
        d->scratch[0] = 0;
    } else {
        cli->out = d->scratch;
        if (!freopen("/dev/null", "w", stdout))
            st = elbo_fail(ELBO_ERR_IO, "cannot send stdout to /dev/null: %s", strerror(errno));
    }
    return elbo_dp_agree_status(d, st, "cannot make its scratch directory");
}

int elbo_dp_rank(const elbo_dp *d) { return d ? elbo_comm_rank(d->c) : 0; }
int elbo_dp_size(const elbo_dp *d) { return d ? elbo_comm_size(d->c) : 1; }
bool elbo_dp_root(const elbo_dp *d) { return elbo_dp_rank(d) == 0; }

/* ---- agreement ---- */

elbo_status elbo_dp_agree_status(elbo_dp *d, elbo_status st, const char *what)
{
    if (!d)
        return st;
    MPI_Comm comm = elbo_comm_mpi(d->c);
    int me = elbo_comm_rank(d->c), n = elbo_comm_size(d->c);
    int mine = st != ELBO_OK ? me : n, first = n;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return elbo_fail(ELBO_ERR_IO, "MPI_Allreduce failed (agreeing on %s)", what);
    if (first == n)
        return ELBO_OK;
    /* The failing rank's status and message, to everyone. */
    char msg[MSG_MAX] = "";
    int code = (int)st;
    if (me == first)
        snprintf(msg, sizeof msg, "rank %d %s: %s", me, what, elbo_last_error());
    if (MPI_Bcast(msg, MSG_MAX, MPI_CHAR, first, comm) != MPI_SUCCESS ||
        MPI_Bcast(&code, 1, MPI_INT, first, comm) != MPI_SUCCESS)
        return elbo_fail(ELBO_ERR_IO, "MPI_Bcast failed (agreeing on %s)", what);
    msg[MSG_MAX - 1] = 0;
    return elbo_fail((elbo_status)code, "%s", msg);
}

elbo_status elbo_dp_agree_config(elbo_dp *d, const elbo_cli *cli)
{
    if (!d)
        return ELBO_OK;
    char *text = malloc(CONFIG_MAX);
    if (!text)
        return elbo_dp_agree_status(d, elbo_fail(ELBO_ERR_NOMEM, "out of memory"), "cannot compare configurations");
    elbo_cli_config_text(cli, text, CONFIG_MAX);
    elbo_status st = elbo_comm_agree(d->c, "the configuration", text);
    free(text);
    return st;
}

static int nap_wait(const elbo_dp *d, MPI_Request *r);

bool elbo_dp_any(elbo_dp *d, bool mine)
{
    if (!d)
        return mine;
    int a = mine, any = 0;
    MPI_Request r;
    if (MPI_Iallreduce(&a, &any, 1, MPI_INT, MPI_MAX, elbo_comm_mpi(d->c), &r) != MPI_SUCCESS || nap_wait(d, &r) != MPI_SUCCESS)
        return true; /* cannot ask: stop */
    return any != 0;
}

/* ---- buckets and the trainer's hooks ---- */

/* Below this a bucket is not worth a message of its own (64 KB). */
#define MIN_BUCKET 16384

/* Group parameters from the last back (the order backward finishes them)
 * into buckets of about cap floats, as DDP does: a bucket closes once it
 * holds cap floats, or before a parameter that would take it past 1.5 cap
 * when it already holds MIN_BUCKET (so a large parameter that is final late
 * does not hold back the small ones before it). starts[] (ascending slab
 * offsets, nb + 1 of them) and bucket_of[] out. */
static int plan_buckets(const elbo_params *p, size_t cap, size_t *starts, int *bucket_of)
{
    int nb = 0;
    size_t cur = 0;
    int first_of[p->count + 1]; /* the first parameter of each bucket, in the order built */
    for (int i = p->count - 1; i >= 0; i--) {
        size_t len = (size_t)p->info[i].rows * (size_t)p->info[i].cols;
        if (cur >= MIN_BUCKET && cur + len > cap + cap / 2) {
            nb++;
            cur = 0;
        }
        first_of[nb] = i;
        cur += len;
        if (cur >= cap || i == 0) {
            nb++;
            cur = 0;
        }
    }
    /* Built last to first: bucket j (built order) is bucket nb-1-j in the slab. */
    starts[0] = 0;
    for (int k = 1; k < nb; k++)
        starts[k] = p->info[first_of[nb - 1 - k]].offset;
    starts[nb] = p->n;
    for (int i = 0, k = 0; i < p->count; i++) {
        while (k + 1 < nb && p->info[i].offset >= starts[k + 1])
            k++;
        bucket_of[i] = k;
    }
    return nb;
}

/* How a rank waits for sums. Spinning answers fastest, and costs nothing
 * when every rank's threads have cores of their own (a cluster node, an
 * idle machine): on two idle cores it took the dense VAE's 2-rank epoch
 * from 1.0x to 0.84x of one rank's. When the ranks of this node and their
 * threads outnumber its cores, a spinning rank takes the core another rank
 * needs, so it spins briefly and then naps (wait_step). ELBO_DP_WAIT=spin|nap
 * overrides the choice, e.g. nap on a machine shared with other work. */
static elbo_status choose_wait(elbo_dp *d)
{
    MPI_Comm node; /* collective: every rank gets here, whatever its environment says */
    int local = 1;
    if (MPI_Comm_split_type(elbo_comm_mpi(d->c), MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return elbo_fail(ELBO_ERR_IO, "MPI_Comm_split_type failed (counting this node's ranks)");
    MPI_Comm_size(node, &local);
    MPI_Comm_free(&node);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    d->spin = cores > 0 && (long)local * elbo_threads() <= cores;
    const char *w = getenv("ELBO_DP_WAIT");
    if (w && *w) {
        if (strcmp(w, "spin") && strcmp(w, "nap"))
            return elbo_fail(ELBO_ERR_INVALID, "ELBO_DP_WAIT: expected spin or nap, got '%s'", w);
        d->spin = !strcmp(w, "spin");
    }
    return ELBO_OK;
}

elbo_status elbo_dp_attach(elbo_dp *d, elbo_params *p, int nbuckets)
{
    if (!d)
        return ELBO_OK;
    if (d->p)
        return elbo_fail(ELBO_ERR_INVALID, "data parallel: a model is attached already (elbo_dp_detach it first)");
    for (int i = 1; i < p->count; i++)
        if (p->info[i].offset <= p->info[i - 1].offset)
            return elbo_fail(ELBO_ERR_INVALID, "data parallel: parameters out of slab order");
    if (nbuckets < 1 || p->count < 1)
        return elbo_fail(ELBO_ERR_INVALID, "data parallel: %d buckets over %d parameters", nbuckets, p->count);
    d->p = p; /* from here a failure leaves what elbo_dp_detach frees */
    size_t *starts = malloc(((size_t)p->count + 1) * sizeof *starts);
    d->bucket_of = malloc((size_t)p->count * sizeof *d->bucket_of);
    d->need = calloc((size_t)p->count, sizeof *d->need);
    d->left = calloc((size_t)p->count, sizeof *d->left);
    if (!starts || !d->bucket_of || !d->need || !d->left) {
        free(starts);
        return elbo_fail(ELBO_ERR_NOMEM, "data parallel: out of memory");
    }
    size_t cap = (p->n + (size_t)nbuckets - 1) / (size_t)nbuckets;
    d->nb = plan_buckets(p, cap ? cap : 1, starts, d->bucket_of);
    for (int i = 0; i < p->count; i++)
        d->need[d->bucket_of[i]]++;
    memcpy(d->left, d->need, (size_t)d->nb * sizeof *d->left);
    /* On one node the ranks sum in shared memory, in a slab that stands in
     * for the params' own until elbo_dp_detach; across nodes, by messages. */
    float *shared = NULL;
    elbo_status st = elbo_allreduce_new_shared(d->c, p->n, d->nb, starts, &d->ar, &shared);
    if (st == ELBO_OK && shared) {
        memcpy(shared, p->g, p->n * sizeof(float));
        d->own_g = p->g;
        p->g = shared;
    } else if (st == ELBO_OK) {
        st = elbo_allreduce_new(d->c, p->g, p->n, d->nb, starts, &d->ar);
    }
    free(starts);
    elbo_status wst = choose_wait(d);
    return st != ELBO_OK ? st : wst;
}

int elbo_dp_buckets(const elbo_dp *d) { return d ? d->nb : 0; }

void elbo_dp_comm_stats(const elbo_dp *d, elbo_dp_stats *s)
{
    *s = d ? (elbo_dp_stats){d->hook_seconds, d->wait_seconds, d->early, d->early + d->late} : (elbo_dp_stats){0};
}

static void hook_fail(elbo_dp *d, elbo_status st)
{
    if (d->err == ELBO_OK && st != ELBO_OK) {
        d->err = st;
        snprintf(d->err_msg, sizeof d->err_msg, "%s", elbo_last_error());
    }
}

void elbo_dp_grad_ready(void *ctx, elbo_params *p, int id)
{
    elbo_dp *d = ctx;
    if (p != d->p || id < 0 || id >= p->count)
        return;
    double t0 = elbo_now();
    int k = d->bucket_of[id];
    if (--d->left[k] == 0) {
        hook_fail(d, elbo_allreduce_start(d->ar, k));
        d->early++;
    }
    /* Between layers: let MPI move what has arrived (large messages move
     * only inside MPI calls) and sum the chunks whose parts are in. */
    hook_fail(d, elbo_allreduce_progress(d->ar));
    d->hook_seconds += elbo_now() - t0;
}

/* A napping rank (choose_wait) spins this long for the sums, then polls with
 * naps: a rank that spins while another is descheduled burns CPU its own job
 * needs (with the kernel's per-session fair share both ranks draw on one
 * budget), so on a crowded machine napping finishes sooner. */
#define SPIN_SECONDS 3e-4
#define NAP_MIN_NS 20000L  /* naps start at 20 us and double up to 0.5 ms: few */
#define NAP_MAX_NS 500000L /* wake-ups while a descheduled rank is away */

/* One step of a wait: spinning ranks return at once; the others, after
 * SPIN_SECONDS since t0, nap (*ns, then doubled). */
static void wait_step(const elbo_dp *d, double t0, long *ns)
{
    if (d->spin || elbo_now() - t0 <= SPIN_SECONDS)
        return;
    struct timespec nap = {0, *ns};
    nanosleep(&nap, NULL);
    *ns = *ns * 2 < NAP_MAX_NS ? *ns * 2 : NAP_MAX_NS;
}

/* Wait for a request: spin, then test with naps. */
static int nap_wait(const elbo_dp *d, MPI_Request *r)
{
    double t0 = elbo_now();
    long ns = NAP_MIN_NS;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        wait_step(d, t0, &ns);
    }
}

static elbo_status wait_sums(elbo_dp *d)
{
    double t0 = elbo_now();
    long ns = NAP_MIN_NS;
    for (;;) {
        elbo_status st = elbo_allreduce_progress(d->ar);
        if (st != ELBO_OK)
            return st;
        if (elbo_allreduce_done(d->ar))
            break;
        wait_step(d, t0, &ns);
    }
    return elbo_allreduce_wait(d->ar); /* ends the round; returns at once */
}

elbo_status elbo_dp_after_backward(void *ctx, elbo_params *p)
{
    elbo_dp *d = ctx;
    (void)p;
    double t0 = elbo_now();
    /* A parameter the tape never reported (none on this graph) is final now. */
    for (int k = 0; k < d->nb; k++)
        if (d->left[k] > 0) {
            d->left[k] = 0;
            hook_fail(d, elbo_allreduce_start(d->ar, k));
            d->late++;
        }
    hook_fail(d, wait_sums(d));
    memcpy(d->left, d->need, (size_t)d->nb * sizeof *d->left);
    d->wait_seconds += elbo_now() - t0;
    elbo_status st = d->err;
    d->err = ELBO_OK;
    if (st != ELBO_OK)
        return elbo_fail(st, "rank %d: gradient allreduce: %s", elbo_comm_rank(d->c), d->err_msg);
    return ELBO_OK;
}

elbo_status elbo_dp_check_params(elbo_dp *d, const elbo_params *p, uint64_t epoch)
{
    if (!d)
        return ELBO_OK;
    const char *bad = getenv("ELBO_DP_TEST_CORRUPT_RANK");
    if (bad && *bad && atoi(bad) == elbo_comm_rank(d->c) && p->n > 0) {
        uint32_t w;
        memcpy(&w, &p->w[0], sizeof w);
        w ^= 1u;
        memcpy(&p->w[0], &w, sizeof w);
    }
    char what[64];
    snprintf(what, sizeof what, "the parameters after epoch %llu", (unsigned long long)epoch);
    return elbo_comm_check_params(d->c, what, p->w, p->n);
}

/* ---- sums ---- */

elbo_status elbo_dp_sum(elbo_dp *d, double *x, int n)
{
    if (!d || n <= 0)
        return ELBO_OK;
    int P = elbo_comm_size(d->c);
    double *all = malloc((size_t)P * (size_t)n * sizeof *all);
    if (!all)
        return elbo_fail(ELBO_ERR_NOMEM, "data parallel: out of memory");
    if (MPI_Allgather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, elbo_comm_mpi(d->c)) != MPI_SUCCESS) {
        free(all);
        return elbo_fail(ELBO_ERR_IO, "MPI_Allgather failed");
    }
    for (int i = 0; i < n; i++) { /* ((x_0 + x_1) + x_2) + ... */
        double s = all[i];
        for (int r = 1; r < P; r++)
            s += all[(size_t)r * (size_t)n + (size_t)i];
        x[i] = s;
    }
    free(all);
    return ELBO_OK;
}

double elbo_dp_max(elbo_dp *d, double x)
{
    if (!d)
        return x;
    double m = x;
    MPI_Allreduce(&x, &m, 1, MPI_DOUBLE, MPI_MAX, elbo_comm_mpi(d->c));
    return m;
}

elbo_status elbo_dp_chunked_sum(elbo_dp *d, size_t nchunks, int k, elbo_dp_chunk_fn fn, void *ctx, double *sums)
{
    int P = elbo_dp_size(d), me = elbo_dp_rank(d);
    double *per = calloc((nchunks ? nchunks : 1) * (size_t)k, sizeof *per); /* (nchunks, k) */
    int *counts = malloc((size_t)P * sizeof *counts), *displs = malloc((size_t)P * sizeof *displs);
    elbo_status st = per && counts && displs ? ELBO_OK : elbo_fail(ELBO_ERR_NOMEM, "data parallel: out of memory");
    size_t lo = nchunks * (size_t)me / (size_t)P, hi = nchunks * (size_t)(me + 1) / (size_t)P;
    for (size_t c = lo; c < hi && st == ELBO_OK; c++)
        st = fn(ctx, c, per + c * (size_t)k);
    if (d) {
        st = elbo_dp_agree_status(d, st, "failed");
        for (int r = 0; r < P && st == ELBO_OK; r++) {
            size_t a = nchunks * (size_t)r / (size_t)P, b = nchunks * (size_t)(r + 1) / (size_t)P;
            counts[r] = (int)((b - a) * (size_t)k);
            displs[r] = (int)(a * (size_t)k);
        }
        if (st == ELBO_OK && MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, per, counts, displs, MPI_DOUBLE,
                                            elbo_comm_mpi(d->c)) != MPI_SUCCESS)
            st = elbo_fail(ELBO_ERR_IO, "MPI_Allgatherv failed");
    }
    for (int j = 0; j < k && st == ELBO_OK; j++) {
        double s = 0.0;
        for (size_t c = 0; c < nchunks; c++)
            s += per[c * (size_t)k + (size_t)j];
        sums[j] = s;
    }
    free(per), free(counts), free(displs);
    return st;
}

void elbo_dp_check(elbo_dp *d, const elbo_cli *cli, elbo_status st, const char *what, bool input)
{
    if (st == ELBO_OK)
        return;
    if (elbo_dp_root(d))
        fprintf(stderr, "%s: %s: %s (%s)\n", cli->prog, what, elbo_last_error(), elbo_status_name(st));
    elbo_dp_end(d);
    exit(elbo_exit_code(st, input));
}
