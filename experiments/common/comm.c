/* Driver-side MPI: start/stop, configuration and parameter agreement, and the
 * bucketed ordered allreduce (see comm.h for the algorithm and its order). */
#include "comm.h"

#include <mpi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm_mpi.h"

#define AGREE_LINE 160 /* bytes of a differing line quoted in a mismatch */
#define AGREE_MSG 512
#define MAX_BUCKETS 4096 /* two tags per bucket stay below MPI's guaranteed 32767 */

struct elbo_comm {
    MPI_Comm comm;
    int rank, size;
};

static elbo_status mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return elbo_fail(ELBO_ERR_IO, "MPI %s: %s", what, msg);
}

#define MPI_TRY(call, what)                                                                                        \
    do {                                                                                                           \
        int rc_ = (call);                                                                                          \
        if (rc_ != MPI_SUCCESS)                                                                                    \
            return mpi_fail(rc_, what);                                                                            \
    } while (0)

elbo_status elbo_comm_init(int *argc, char ***argv, elbo_comm **out)
{
    *out = NULL;
    elbo_comm *c = calloc(1, sizeof *c);
    if (!c)
        return elbo_fail(ELBO_ERR_NOMEM, "MPI: out of memory");
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        free(c);
        return elbo_fail(ELBO_ERR_IO, "MPI_Init failed");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->comm);
    if (rc != MPI_SUCCESS) {
        free(c);
        return mpi_fail(rc, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    *out = c;
    return ELBO_OK;
}

int elbo_comm_rank(const elbo_comm *c) { return c->rank; }
int elbo_comm_size(const elbo_comm *c) { return c->size; }
MPI_Comm elbo_comm_mpi(const elbo_comm *c) { return c->comm; }

void elbo_comm_finalize(elbo_comm *c, int skip_mpi)
{
    if (!c)
        return;
    if (!skip_mpi) {
        MPI_Comm_free(&c->comm);
        MPI_Finalize();
    }
    free(c);
}

void elbo_comm_abort(elbo_comm *c, int code) { MPI_Abort(c ? c->comm : MPI_COMM_WORLD, code); }

/* ---- agreement ---- */

/* Copy line `k` of text (at most cap-1 bytes) into buf; false past the last line. */
static int nth_line(const char *text, int k, char *buf, size_t cap)
{
    const char *s = text;
    for (int i = 0; i < k; i++) {
        s = strchr(s, '\n');
        if (!s)
            return 0;
        s++;
    }
    size_t len = strcspn(s, "\n");
    if (!*s && k > 0)
        return 0;
    snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), s);
    return 1;
}

/* The first line where mine differs from root's, as the mismatch message. */
static void describe_difference(const char *mine, const char *root, int rank, const char *what, char *msg,
                                size_t cap)
{
    char a[AGREE_LINE], b[AGREE_LINE];
    for (int k = 0;; k++) {
        int ha = nth_line(mine, k, a, sizeof a), hb = nth_line(root, k, b, sizeof b);
        if (!ha)
            a[0] = 0;
        if (!hb)
            b[0] = 0;
        if (strcmp(a, b) != 0 || !ha || !hb) {
            snprintf(msg, cap, "rank %d disagrees on %s: '%s' where rank 0 has '%s'", rank, what,
                     ha ? a : "(nothing)", hb ? b : "(nothing)");
            return;
        }
    }
}

/* Every rank learns the lowest rank with bad set, and that rank's message. */
static elbo_status share_first_complaint(elbo_comm *c, int bad, char *msg)
{
    int mine = bad ? c->rank : c->size, first = c->size;
    MPI_TRY(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c->comm), "MPI_Allreduce (agreement)");
    if (first == c->size)
        return ELBO_OK;
    MPI_TRY(MPI_Bcast(msg, AGREE_MSG, MPI_CHAR, first, c->comm), "MPI_Bcast (agreement)");
    msg[AGREE_MSG - 1] = 0;
    return elbo_fail(ELBO_ERR_MISMATCH, "%s", msg);
}

elbo_status elbo_comm_agree(elbo_comm *c, const char *what, const char *text)
{
    long len = (long)strlen(text);
    MPI_TRY(MPI_Bcast(&len, 1, MPI_LONG, 0, c->comm), "MPI_Bcast (agreement)");
    char *root = malloc((size_t)len + 1);
    int nomem = root == NULL, any_nomem = 0;
    MPI_TRY(MPI_Allreduce(&nomem, &any_nomem, 1, MPI_INT, MPI_MAX, c->comm), "MPI_Allreduce (agreement)");
    if (any_nomem) {
        free(root);
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory on some rank", what);
    }
    if (c->rank == 0)
        memcpy(root, text, (size_t)len + 1);
    int rc = MPI_Bcast(root, (int)len + 1, MPI_CHAR, 0, c->comm);
    if (rc != MPI_SUCCESS) {
        free(root);
        return mpi_fail(rc, "MPI_Bcast (agreement)");
    }
    char msg[AGREE_MSG] = "";
    int bad = strcmp(root, text) != 0;
    if (bad)
        describe_difference(text, root, c->rank, what, msg, sizeof msg);
    free(root);
    return share_first_complaint(c, bad, msg);
}

uint64_t elbo_checksum_f32(const float *x, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &x[i], sizeof w);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h;
}

elbo_status elbo_comm_check_params(elbo_comm *c, const char *what, const float *x, size_t n)
{
    unsigned long long mine = elbo_checksum_f32(x, n), root = mine;
    MPI_TRY(MPI_Bcast(&root, 1, MPI_UNSIGNED_LONG_LONG, 0, c->comm), "MPI_Bcast (checksum)");
    char msg[AGREE_MSG] = "";
    int bad = mine != root;
    if (bad)
        snprintf(msg, sizeof msg, "rank %d disagrees on %s: checksum %016llx where rank 0 has %016llx", c->rank,
                 what, mine, root);
    return share_first_complaint(c, bad, msg);
}

/* ---- the ordered allreduce ---- */

void elbo_sum_ordered_f32(float *out, const float *const *x, int p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = x[0][i];
    for (int k = 1; k < p; k++)
        for (size_t i = 0; i < n; i++)
            out[i] += x[k][i];
}

enum { IDLE, REDUCING, GATHERING, SUMMED };

typedef struct bucket {
    size_t lo, hi;   /* x[lo..hi) */
    float *inbox;    /* [size][own chunk length]: every rank's copy of this rank's chunk */
    MPI_Request *req; /* 2 (size - 1): sends then receives of the current phase */
    int stage;
} bucket;

/* Shared mode: per bucket, in each rank's window segment, one cache line:
 * `ready`, the last round in which this rank's bucket was final; and, used
 * in rank 0's segment only, the pieces of the bucket `claimed` and `done`
 * over all rounds so far (round R's pieces are tickets np .. R np - 1). */
typedef struct shm_flags {
    _Atomic uint64_t ready, claimed, done;
    char pad[64 - 3 * sizeof(uint64_t)];
} shm_flags;

struct elbo_allreduce {
    MPI_Comm comm;
    int rank, size, nb;
    float *x;
    bucket *b;
    float *inboxes;
    MPI_Request *reqs;
    /* shared mode (elbo_allreduce_new_shared) */
    MPI_Win win;
    float **slab;       /* (size) every rank's slab, x = slab[rank] */
    shm_flags **flags;  /* (size) every rank's bucket flags */
    uint64_t round;     /* the round in progress, from 1 */
    double round_t0;    /* when this round's first bucket started (MPI_Wtime) */
};

/* Chunk j of bucket bk: [lo + L j / P, lo + L (j+1) / P). */
static size_t chunk_lo(const bucket *bk, int j, int p) { return bk->lo + (bk->hi - bk->lo) * (size_t)j / (size_t)p; }
static int chunk_len(const bucket *bk, int j, int p) { return (int)(chunk_lo(bk, j + 1, p) - chunk_lo(bk, j, p)); }

/* The object and its buckets, checked; inboxes and requests for the
 * message path only. */
static elbo_status allreduce_alloc(elbo_comm *c, float *x, size_t n, int nbuckets, const size_t *starts,
                                   bool messages, elbo_allreduce **out)
{
    *out = NULL;
    if (nbuckets < 1 || nbuckets > MAX_BUCKETS)
        return elbo_fail(ELBO_ERR_INVALID, "allreduce: %d buckets (expected 1..%d)", nbuckets, MAX_BUCKETS);
    if (n / (size_t)c->size > (size_t)INT32_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "allreduce: %zu floats is too many for one message", n);
    for (int k = 0; starts && k < nbuckets; k++)
        if (starts[k] > starts[k + 1] || (k == 0 && starts[0] != 0) || (k == nbuckets - 1 && starts[nbuckets] != n))
            return elbo_fail(ELBO_ERR_INVALID, "allreduce: bucket starts must rise from 0 to %zu", n);
    elbo_allreduce *a = calloc(1, sizeof *a);
    if (!a)
        return elbo_fail(ELBO_ERR_NOMEM, "allreduce: out of memory");
    a->rank = c->rank, a->size = c->size, a->nb = nbuckets, a->x = x;
    a->comm = MPI_COMM_NULL, a->win = MPI_WIN_NULL;
    a->b = calloc((size_t)nbuckets, sizeof *a->b);
    if (messages)
        a->reqs = calloc((size_t)nbuckets * 2 * (size_t)(c->size > 1 ? c->size - 1 : 1), sizeof *a->reqs);
    size_t inbox_total = 0;
    for (int k = 0; a->b && k < nbuckets; k++) {
        bucket *bk = &a->b[k];
        bk->lo = starts ? starts[k] : n * (size_t)k / (size_t)nbuckets;
        bk->hi = starts ? starts[k + 1] : n * (size_t)(k + 1) / (size_t)nbuckets;
        inbox_total += (size_t)chunk_len(bk, a->rank, a->size) * (size_t)a->size;
    }
    if (messages)
        a->inboxes = malloc((inbox_total ? inbox_total : 1) * sizeof(float));
    if (!a->b || (messages && (!a->reqs || !a->inboxes))) {
        elbo_allreduce_free(a);
        return elbo_fail(ELBO_ERR_NOMEM, "allreduce: out of memory");
    }
    float *inbox = a->inboxes;
    for (int k = 0; messages && k < nbuckets; k++) {
        a->b[k].inbox = inbox;
        a->b[k].req = a->reqs + (size_t)k * 2 * (size_t)(a->size > 1 ? a->size - 1 : 1);
        inbox += (size_t)chunk_len(&a->b[k], a->rank, a->size) * (size_t)a->size;
    }
    *out = a;
    return ELBO_OK;
}

elbo_status elbo_allreduce_new(elbo_comm *c, float *x, size_t n, int nbuckets, const size_t *starts,
                               elbo_allreduce **out)
{
    elbo_allreduce *a;
    elbo_status st = allreduce_alloc(c, x, n, nbuckets, starts, true, &a);
    *out = NULL;
    if (st != ELBO_OK)
        return st;
    int rc = MPI_Comm_dup(c->comm, &a->comm);
    if (rc != MPI_SUCCESS) {
        a->comm = MPI_COMM_NULL;
        elbo_allreduce_free(a);
        return mpi_fail(rc, "MPI_Comm_dup (allreduce)");
    }
    *out = a;
    return ELBO_OK;
}

/* ---- the shared-memory path ----
 * One window over the node: rank r's segment is its bucket flags, then its
 * slab (64-byte aligned). Bucket k of round R: each rank publishes ready = R
 * once its slab's bucket is final. Once every rank is ready, the bucket's
 * pieces are claimed one at a time by whichever rank asks (one per progress
 * call: a rank still in backward calls once per layer, a waiting rank calls
 * again and again, so the one that finished first does most of the work); a piece's claimer adds it
 * up over every slab in rank order into rank 0's slab (elbo_sum_ordered_f32,
 * the message path's adds, in place: the same bits whoever adds), copies the
 * sum into the other slabs and counts it done. A slab is written by others
 * only after its rank said ready and read by them only until the last piece
 * is done, so a rank that has seen every piece done owns its slab again. */

#define SHM_TIMEOUT 600.0 /* seconds a round may wait for another rank */
#define SHM_PIECE 16384   /* floats per piece (64 KB) */

static uint64_t shm_pieces(const bucket *bk) { return (bk->hi - bk->lo + SHM_PIECE - 1) / SHM_PIECE; }

static size_t shm_flags_bytes(int nb) { return ((size_t)nb * sizeof(shm_flags) + 63) / 64 * 64; }

elbo_status elbo_allreduce_new_shared(elbo_comm *c, size_t n, int nbuckets, const size_t *starts,
                                      elbo_allreduce **out, float **x)
{
    *out = NULL, *x = NULL;
    MPI_Comm node;
    int local = 0, rc = MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "MPI_Comm_split_type (allreduce)");
    MPI_Comm_size(node, &local);
    int all_local = local == c->size, everyone = 0; /* every rank must agree before the window */
    MPI_Allreduce(&all_local, &everyone, 1, MPI_INT, MPI_LAND, c->comm);
    if (!everyone) {
        MPI_Comm_free(&node);
        return ELBO_OK; /* the ranks span nodes: the message path */
    }
    elbo_allreduce *a;
    elbo_status st = allreduce_alloc(c, NULL, n, nbuckets, starts, false, &a);
    if (st != ELBO_OK) {
        MPI_Comm_free(&node);
        return st;
    }
    a->comm = node; /* ranked as c's: split with key = rank */
    size_t fb = shm_flags_bytes(nbuckets);
    void *base = NULL;
    a->slab = calloc((size_t)a->size, sizeof *a->slab);
    a->flags = calloc((size_t)a->size, sizeof *a->flags);
    if (!a->slab || !a->flags) {
        elbo_allreduce_free(a);
        return elbo_fail(ELBO_ERR_NOMEM, "allreduce: out of memory");
    }
    rc = MPI_Win_allocate_shared((MPI_Aint)(fb + n * sizeof(float) + 64), 1, MPI_INFO_NULL, node, &base, &a->win);
    if (rc != MPI_SUCCESS) {
        a->win = MPI_WIN_NULL;
        elbo_allreduce_free(a);
        return mpi_fail(rc, "MPI_Win_allocate_shared (allreduce)");
    }
    for (int r = 0; r < a->size; r++) {
        MPI_Aint bytes;
        int unit;
        void *seg;
        MPI_Win_shared_query(a->win, r, &bytes, &unit, &seg);
        char *p = (char *)(((uintptr_t)seg + 63) / 64 * 64);
        a->flags[r] = (shm_flags *)p;
        a->slab[r] = (float *)(p + fb);
    }
    for (int k = 0; k < nbuckets; k++) {
        atomic_init(&a->flags[a->rank][k].ready, 0);
        atomic_init(&a->flags[a->rank][k].claimed, 0);
        atomic_init(&a->flags[a->rank][k].done, 0);
    }
    a->x = a->slab[a->rank];
    memset(a->x, 0, n * sizeof(float));
    a->round = 1;
    MPI_Barrier(node); /* every segment initialised before anyone reads it */
    *out = a, *x = a->x;
    return ELBO_OK;
}

static bool shm_all_ready(const elbo_allreduce *a, int k)
{
    for (int r = 0; r < a->size; r++)
        if (atomic_load_explicit(&a->flags[r][k].ready, memory_order_acquire) < a->round)
            return false;
    return true;
}

/* Claim and sum one piece of bucket k (false: none left this round). */
static bool shm_piece(elbo_allreduce *a, int k)
{
    const bucket *bk = &a->b[k];
    shm_flags *f = &a->flags[0][k];
    uint64_t np = shm_pieces(bk), end = a->round * np,
             t = atomic_load_explicit(&f->claimed, memory_order_relaxed);
    do
        if (t >= end)
            return false;
    while (!atomic_compare_exchange_weak_explicit(&f->claimed, &t, t + 1, memory_order_acq_rel,
                                                  memory_order_relaxed));
    size_t lo = bk->lo + (size_t)(t - (end - np)) * SHM_PIECE, len = bk->hi - lo < SHM_PIECE ? bk->hi - lo : SHM_PIECE;
    int p = a->size;
    const float *parts[p];
    for (int j = 0; j < p; j++)
        parts[j] = a->slab[j] + lo;
    /* in place in rank 0's slab (its first term): one pass less to memory */
    elbo_sum_ordered_f32(a->slab[0] + lo, parts, p, len);
    for (int j = 1; j < p; j++)
        memcpy(a->slab[j] + lo, a->slab[0] + lo, len * sizeof(float));
    atomic_fetch_add_explicit(&f->done, 1, memory_order_release);
    return true;
}

static elbo_status shm_start(elbo_allreduce *a, int k)
{
    if (a->b[k].stage == IDLE && elbo_allreduce_done(a))
        a->round_t0 = MPI_Wtime();
    atomic_store_explicit(&a->flags[a->rank][k].ready, a->round, memory_order_release);
    a->b[k].stage = REDUCING;
    return elbo_allreduce_progress(a);
}

/* Bucket k one stage on: once every rank is ready, sum one piece per call
 * (a waiting rank calls again and again); summed once every piece of the
 * round is done. */
static elbo_status shm_advance(elbo_allreduce *a, int k)
{
    bucket *bk = &a->b[k];
    if (bk->stage == REDUCING && shm_all_ready(a, k))
        bk->stage = GATHERING;
    if (bk->stage == GATHERING) {
        shm_piece(a, k);
        if (atomic_load_explicit(&a->flags[0][k].done, memory_order_acquire) >= a->round * shm_pieces(bk))
            bk->stage = SUMMED;
    }
    if ((bk->stage == REDUCING || bk->stage == GATHERING) && MPI_Wtime() - a->round_t0 > SHM_TIMEOUT)
        return elbo_fail(ELBO_ERR_IO, "allreduce: bucket %d waited %.0f s for another rank (gone?)", k, SHM_TIMEOUT);
    return ELBO_OK;
}

int elbo_allreduce_buckets(const elbo_allreduce *a) { return a->nb; }

/* Phase 1: chunk j of my copy goes to rank j; every rank's copy of my chunk
 * comes into my inbox (slot = sender). */
elbo_status elbo_allreduce_start(elbo_allreduce *a, int k)
{
    if (k < 0 || k >= a->nb || a->b[k].stage != IDLE)
        return elbo_fail(ELBO_ERR_INVALID, "allreduce: bucket %d started twice or out of range", k);
    if (a->win != MPI_WIN_NULL)
        return shm_start(a, k);
    bucket *bk = &a->b[k];
    int p = a->size, me = a->rank, mine = chunk_len(bk, me, p), r = 0;
    for (int j = 0; j < p; j++) {
        if (j == me)
            continue;
        MPI_TRY(MPI_Isend(a->x + chunk_lo(bk, j, p), chunk_len(bk, j, p), MPI_FLOAT, j, 2 * k, a->comm, &bk->req[r++]),
                "MPI_Isend (allreduce)");
        MPI_TRY(MPI_Irecv(bk->inbox + (size_t)j * (size_t)mine, mine, MPI_FLOAT, j, 2 * k, a->comm, &bk->req[r++]),
                "MPI_Irecv (allreduce)");
    }
    bk->stage = REDUCING;
    return ELBO_OK;
}

/* Sum my chunk in rank order into x, then phase 2: my sum to every rank,
 * every other rank's sum into its chunk of x. */
static elbo_status reduce_and_gather(elbo_allreduce *a, int k)
{
    bucket *bk = &a->b[k];
    int p = a->size, me = a->rank, mine = chunk_len(bk, me, p), r = 0;
    float *own = a->x + chunk_lo(bk, me, p);
    memcpy(bk->inbox + (size_t)me * (size_t)mine, own, (size_t)mine * sizeof(float));
    const float *parts[p];
    for (int j = 0; j < p; j++)
        parts[j] = bk->inbox + (size_t)j * (size_t)mine;
    elbo_sum_ordered_f32(own, parts, p, (size_t)mine);
    for (int j = 0; j < p; j++) {
        if (j == me)
            continue;
        MPI_TRY(MPI_Isend(own, mine, MPI_FLOAT, j, 2 * k + 1, a->comm, &bk->req[r++]), "MPI_Isend (allreduce)");
        MPI_TRY(MPI_Irecv(a->x + chunk_lo(bk, j, p), chunk_len(bk, j, p), MPI_FLOAT, j, 2 * k + 1, a->comm,
                          &bk->req[r++]),
                "MPI_Irecv (allreduce)");
    }
    bk->stage = GATHERING;
    return ELBO_OK;
}

/* Move bucket k one stage on if its messages are complete (block: wait for them). */
static elbo_status advance(elbo_allreduce *a, int k, int block)
{
    bucket *bk = &a->b[k];
    int nreq = 2 * (a->size - 1), done = 1;
    if (bk->stage != REDUCING && bk->stage != GATHERING)
        return ELBO_OK;
    if (block)
        MPI_TRY(MPI_Waitall(nreq, bk->req, MPI_STATUSES_IGNORE), "MPI_Waitall (allreduce)");
    else
        MPI_TRY(MPI_Testall(nreq, bk->req, &done, MPI_STATUSES_IGNORE), "MPI_Testall (allreduce)");
    if (!done)
        return ELBO_OK;
    if (bk->stage == GATHERING) {
        bk->stage = SUMMED;
        return ELBO_OK;
    }
    return reduce_and_gather(a, k);
}

elbo_status elbo_allreduce_progress(elbo_allreduce *a)
{
    for (int k = 0; k < a->nb; k++) {
        elbo_status st = a->win != MPI_WIN_NULL ? shm_advance(a, k) : advance(a, k, 0);
        if (st != ELBO_OK)
            return st;
    }
    return ELBO_OK;
}

bool elbo_allreduce_done(const elbo_allreduce *a)
{
    for (int k = 0; k < a->nb; k++)
        if (a->b[k].stage == REDUCING || a->b[k].stage == GATHERING)
            return false;
    return true;
}

elbo_status elbo_allreduce_wait(elbo_allreduce *a)
{
    for (int k = 0; k < a->nb; k++)
        if (a->b[k].stage == IDLE)
            return elbo_fail(ELBO_ERR_INVALID, "allreduce: waited with bucket %d not started", k);
    while (a->win != MPI_WIN_NULL && !elbo_allreduce_done(a)) {
        elbo_status st = elbo_allreduce_progress(a);
        if (st != ELBO_OK)
            return st;
    }
    /* Every message is posted before anyone blocks, so the order is free: the
     * first pass takes each bucket through its reduce, the second through its gather. */
    for (int pass = 0; a->win == MPI_WIN_NULL && pass < 2; pass++)
        for (int k = 0; k < a->nb; k++) {
            elbo_status st = advance(a, k, 1);
            if (st != ELBO_OK)
                return st;
        }
    for (int k = 0; k < a->nb; k++)
        a->b[k].stage = IDLE;
    a->round++;
    return ELBO_OK;
}

void elbo_allreduce_free(elbo_allreduce *a)
{
    if (!a)
        return;
    if (a->win != MPI_WIN_NULL)
        MPI_Win_free(&a->win);
    if (a->comm != MPI_COMM_NULL && a->comm != 0)
        MPI_Comm_free(&a->comm);
    free(a->b), free(a->reqs), free(a->inboxes), free(a->slab), free(a->flags), free(a);
}
