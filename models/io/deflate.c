/* Deflate encoder (RFC 1951): LZ77 with hash chains and one-step lazy
 * matching (the scheme of zlib's deflate_slow at its highest level), then
 * per block of BLOCK_SYMS symbols the cheapest of a dynamic Huffman block,
 * a fixed Huffman block and stored blocks, computed exactly in bits.
 *
 * Huffman code lengths: the optimal lengths from a two-queue Huffman
 * construction, and when they exceed the limit (15, or 7 for the code
 * length code) the count-rebalancing fix of miniz (longest codes borrow
 * from the next shorter length until the Kraft sum is exact), then the
 * lengths are dealt out to the symbols in order of frequency. */
#include "models/io/deflate.h"

#include <stdlib.h>
#include <string.h>

#include "models/io/crc.h"
#include "models/io/deflate_tables.h"

#define WSIZE 32768
#define MIN_MATCH 3
#define MAX_MATCH 258
#define MIN_LOOKAHEAD (MAX_MATCH + MIN_MATCH + 1)
#define MAX_DIST_USED (WSIZE - MIN_LOOKAHEAD) /* keeps every chain entry inside the ring */
#define HASH_BITS 15
#define MAX_CHAIN 4096
#define NICE_MATCH 258
#define GOOD_MATCH 32     /* a previous match this long: search a quarter of the chain */
#define TOO_FAR 4096      /* a 3-byte match this far back costs more than its literals */
#define FILTERED_MIN_MATCH 6
#define BLOCK_SYMS 32768  /* symbols per block (zlib's lit_bufsize at memLevel 9) */
#define STORED_MAX 65535u
#define N_LIT 286
#define N_DIST 30
#define MAX_BITS 15
#define MAX_CLEN_BITS 7
#define END_OF_BLOCK 256


/* ---- bit output ---- */

typedef struct bitout {
    uint8_t *buf;
    size_t len, cap;
    uint64_t acc;
    int cnt;
    int nomem;
} bitout;

static void out_reserve(bitout *o, size_t more)
{
    if (o->nomem || o->len + more <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more)
        cap *= 2;
    uint8_t *p = realloc(o->buf, cap);
    if (!p) {
        o->nomem = 1;
        return;
    }
    o->buf = p;
    o->cap = cap;
}

/* Append n <= 32 bits of v, LSB first. */
static void put_bits(bitout *o, uint32_t v, int n)
{
    o->acc |= (uint64_t)v << o->cnt;
    o->cnt += n;
    if (o->cnt >= 32) {
        out_reserve(o, 4);
        if (!o->nomem)
            for (int i = 0; i < 4; i++)
                o->buf[o->len++] = (uint8_t)(o->acc >> (8 * i));
        o->acc >>= 32;
        o->cnt -= 32;
    }
}

/* Flush to a byte boundary (zero bits). */
static void align_byte(bitout *o)
{
    out_reserve(o, 8);
    while (o->cnt > 0 && !o->nomem) {
        o->buf[o->len++] = (uint8_t)o->acc;
        o->acc >>= 8;
        o->cnt = o->cnt > 8 ? o->cnt - 8 : 0;
    }
    o->acc = 0;
    o->cnt = 0;
}

static void put_bytes(bitout *o, const uint8_t *p, size_t n)
{
    out_reserve(o, n);
    if (!o->nomem) {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    }
}

/* ---- Huffman code lengths ---- */

/* Frequencies sorted ascending, ties by symbol (a deterministic code). */
typedef struct leaf {
    uint32_t freq;
    uint16_t sym;
} leaf;

static int leaf_cmp(const void *a, const void *b)
{
    const leaf *x = a, *y = b;
    if (x->freq != y->freq)
        return x->freq < y->freq ? -1 : 1;
    return (int)x->sym - (int)y->sym;
}

/* Code lengths len[0..n) for freq[0..n), at most limit bits. Fewer than two
 * used symbols get a complete two-code set (one- and zero-symbol codes are
 * incomplete, which some decoders refuse). */
static void build_lengths(const uint32_t *freq, int n, int limit, uint8_t *len)
{
    leaf lv[N_LIT + 2];
    int m = 0;
    memset(len, 0, (size_t)n);
    for (int s = 0; s < n; s++)
        if (freq[s])
            lv[m++] = (leaf){freq[s], (uint16_t)s};
    if (m < 2) {
        int a = m ? lv[0].sym : 0, b = a == 0 ? 1 : 0;
        len[a] = len[b] = 1;
        return;
    }
    qsort(lv, (size_t)m, sizeof lv[0], leaf_cmp);
    /* Two-queue Huffman: leaves in order, internal nodes appended in order. */
    uint64_t w[2 * (N_LIT + 2)];
    int parent[2 * (N_LIT + 2)];
    for (int i = 0; i < m; i++)
        w[i] = lv[i].freq;
    int li = 0, ni = m, nn = m;
    for (int k = 0; k < m - 1; k++) {
        int pick[2];
        for (int j = 0; j < 2; j++) {
            if (li < m && (ni >= nn || w[li] <= w[ni]))
                pick[j] = li++;
            else
                pick[j] = ni++;
        }
        w[nn] = w[pick[0]] + w[pick[1]];
        parent[pick[0]] = parent[pick[1]] = nn;
        nn++;
    }
    int depth[2 * (N_LIT + 2)];
    depth[nn - 1] = 0;
    for (int i = nn - 2; i >= 0; i--)
        depth[i] = depth[parent[i]] + 1;
    int count[64] = {0};
    for (int i = 0; i < m; i++)
        count[depth[i] < 63 ? depth[i] : 63]++;
    /* Fold lengths beyond the limit into it, then restore the Kraft sum. */
    for (int l = limit + 1; l < 64; l++) {
        count[limit] += count[l];
        count[l] = 0;
    }
    uint64_t total = 0;
    for (int l = 1; l <= limit; l++)
        total += (uint64_t)count[l] << (limit - l);
    while (total != (1ull << limit)) {
        count[limit]--;
        for (int l = limit - 1; l > 0; l--)
            if (count[l]) {
                count[l]--;
                count[l + 1] += 2;
                break;
            }
        total--;
    }
    /* Longest codes to the rarest symbols. */
    int i = 0;
    for (int l = limit; l >= 1; l--)
        for (int c = 0; c < count[l]; c++)
            len[lv[i++].sym] = (uint8_t)l;
}

static uint16_t reverse_bits(uint32_t code, int len)
{
    uint32_t r = 0;
    for (int i = 0; i < len; i++, code >>= 1)
        r = (r << 1) | (code & 1);
    return (uint16_t)r;
}

/* Canonical codes (bit-reversed for LSB-first output) from lengths. */
static void canonical_codes(const uint8_t *len, int n, uint16_t *code)
{
    uint16_t count[MAX_BITS + 1] = {0}, next[MAX_BITS + 2];
    for (int s = 0; s < n; s++)
        count[len[s]]++;
    count[0] = 0;
    uint32_t c = 0;
    for (int l = 1; l <= MAX_BITS; l++) {
        c = (c + count[l - 1]) << 1;
        next[l] = (uint16_t)c;
    }
    for (int s = 0; s < n; s++)
        code[s] = len[s] ? reverse_bits(next[len[s]]++, len[s]) : 0;
}

/* ---- symbols of one block ---- */

typedef struct block {
    uint16_t lit[BLOCK_SYMS];  /* literal byte, or 256 + length (3..258) for a match */
    uint16_t dist[BLOCK_SYMS]; /* match distance; 0 for a literal */
    int n;
    size_t start; /* input offset of the block's first byte */
} block;

static int len_symbol(int len)
{
    int s = 0;
    while (s < 28 && LEN_BASE[s + 1] <= len)
        s++;
    return s;
}

static int dist_symbol(int dist)
{
    int s = 0;
    while (s < 29 && DIST_BASE[s + 1] <= dist)
        s++;
    return s;
}

/* Length and distance symbols, precomputed: lengths 3..258; distances by
 * value up to 256, then by (dist - 1) >> 7 (every distance symbol above 256
 * spans a multiple of 128 values, the idea of zlib's _dist_code). */
#define DIST_LO 257
typedef struct tables {
    uint8_t len_sym[MAX_MATCH + 1];
    uint8_t dist_lo[DIST_LO];
    uint8_t dist_hi[256];
} tables;

static void tables_init(tables *t)
{
    for (int l = MIN_MATCH; l <= MAX_MATCH; l++)
        t->len_sym[l] = (uint8_t)len_symbol(l);
    for (int d = 1; d < DIST_LO; d++)
        t->dist_lo[d] = (uint8_t)dist_symbol(d);
    for (int h = 0; h < 256; h++)
        t->dist_hi[h] = (uint8_t)dist_symbol((h << 7) + 1);
}

static int dsym(const tables *t, int d) { return d < DIST_LO ? t->dist_lo[d] : t->dist_hi[(d - 1) >> 7]; }

/* ---- emitting a block ---- */

typedef struct rle {
    uint8_t sym[N_LIT + N_DIST];
    uint8_t extra[N_LIT + N_DIST];
    int n;
} rle;

/* Code lengths lens[0..n) as code length code symbols (16: repeat previous,
 * 17/18: runs of zeros). */
static void rle_lengths(const uint8_t *lens, int n, rle *r)
{
    r->n = 0;
    for (int i = 0; i < n;) {
        int v = lens[i], run = 1;
        while (i + run < n && lens[i + run] == v)
            run++;
        i += run;
        if (v == 0) {
            while (run >= 11) {
                int k = run > 138 ? 138 : run;
                r->sym[r->n] = 18, r->extra[r->n++] = (uint8_t)(k - 11);
                run -= k;
            }
            if (run >= 3) {
                r->sym[r->n] = 17, r->extra[r->n++] = (uint8_t)(run - 3);
                run = 0;
            }
        } else {
            r->sym[r->n] = (uint8_t)v, r->extra[r->n++] = 0;
            run--;
            while (run >= 3) {
                int k = run > 6 ? 6 : run;
                r->sym[r->n] = 16, r->extra[r->n++] = (uint8_t)(k - 3);
                run -= k;
            }
        }
        while (run-- > 0)
            r->sym[r->n] = (uint8_t)v, r->extra[r->n++] = 0;
    }
}

static const uint8_t CLEN_EXTRA_BITS[N_CLEN] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7};

typedef struct codeset {
    uint8_t lit_len[N_LIT + 2], dist_len[N_DIST];
    uint16_t lit_code[N_LIT + 2], dist_code[N_DIST];
} codeset;

/* Bits of the block's symbols under a code set (extra bits included). */
static uint64_t data_bits(const uint32_t *lf, const uint32_t *df, const codeset *c)
{
    uint64_t b = 0;
    for (int s = 0; s < N_LIT; s++)
        b += (uint64_t)lf[s] * (c->lit_len[s] + (s > END_OF_BLOCK ? LEN_EXTRA[s - END_OF_BLOCK - 1] : 0));
    for (int s = 0; s < N_DIST; s++)
        b += (uint64_t)df[s] * (c->dist_len[s] + DIST_EXTRA[s]);
    return b;
}

static void put_symbols(bitout *o, const block *bk, const tables *t, const codeset *c)
{
    for (int i = 0; i < bk->n; i++) {
        int v = bk->lit[i];
        if (bk->dist[i] == 0) {
            put_bits(o, c->lit_code[v], c->lit_len[v]);
            continue;
        }
        int len = v - END_OF_BLOCK, ls = t->len_sym[len], d = bk->dist[i], ds = dsym(t, d);
        put_bits(o, c->lit_code[257 + ls], c->lit_len[257 + ls]);
        if (LEN_EXTRA[ls])
            put_bits(o, (uint32_t)(len - LEN_BASE[ls]), LEN_EXTRA[ls]);
        put_bits(o, c->dist_code[ds], c->dist_len[ds]);
        if (DIST_EXTRA[ds])
            put_bits(o, (uint32_t)(d - DIST_BASE[ds]), DIST_EXTRA[ds]);
    }
    put_bits(o, c->lit_code[END_OF_BLOCK], c->lit_len[END_OF_BLOCK]);
}

static void fixed_codes(codeset *c)
{
    for (int s = 0; s < N_LIT + 2; s++)
        c->lit_len[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    memset(c->dist_len, 5, N_DIST);
    canonical_codes(c->lit_len, N_LIT + 2, c->lit_code);
    canonical_codes(c->dist_len, N_DIST, c->dist_code);
}

static void write_stored(bitout *o, const uint8_t *p, size_t n, int final)
{
    do {
        size_t k = n < STORED_MAX ? n : STORED_MAX;
        put_bits(o, (uint32_t)((k == n && final) ? 1 : 0), 3); /* BFINAL, BTYPE 00 */
        align_byte(o);
        uint8_t h[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)~k, (uint8_t)(~k >> 8)};
        put_bytes(o, h, 4);
        put_bytes(o, p, k);
        p += k;
        n -= k;
    } while (n > 0);
}

static void flush_block(bitout *o, block *bk, const tables *t, const uint8_t *in, size_t end, int final)
{
    uint32_t lf[N_LIT + 2] = {0}, df[N_DIST] = {0};
    for (int i = 0; i < bk->n; i++) {
        if (bk->dist[i] == 0) {
            lf[bk->lit[i]]++;
        } else {
            lf[257 + t->len_sym[bk->lit[i] - END_OF_BLOCK]]++;
            df[dsym(t, bk->dist[i])]++;
        }
    }
    lf[END_OF_BLOCK] = 1;

    codeset dyn, fix;
    build_lengths(lf, N_LIT, MAX_BITS, dyn.lit_len);
    build_lengths(df, N_DIST, MAX_BITS, dyn.dist_len);
    canonical_codes(dyn.lit_len, N_LIT, dyn.lit_code);
    canonical_codes(dyn.dist_len, N_DIST, dyn.dist_code);
    int hlit = N_LIT, hdist = N_DIST;
    while (hlit > 257 && dyn.lit_len[hlit - 1] == 0)
        hlit--;
    while (hdist > 1 && dyn.dist_len[hdist - 1] == 0)
        hdist--;
    uint8_t all[N_LIT + N_DIST];
    memcpy(all, dyn.lit_len, (size_t)hlit);
    memcpy(all + hlit, dyn.dist_len, (size_t)hdist);
    rle r;
    rle_lengths(all, hlit + hdist, &r);
    uint32_t cf[N_CLEN] = {0};
    for (int i = 0; i < r.n; i++)
        cf[r.sym[i]]++;
    uint8_t clen_len[N_CLEN];
    uint16_t clen_code[N_CLEN];
    build_lengths(cf, N_CLEN, MAX_CLEN_BITS, clen_len);
    canonical_codes(clen_len, N_CLEN, clen_code);
    int hclen = N_CLEN;
    while (hclen > 4 && clen_len[CLEN_ORDER[hclen - 1]] == 0)
        hclen--;
    uint64_t dyn_bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)hclen + data_bits(lf, df, &dyn);
    for (int i = 0; i < r.n; i++)
        dyn_bits += clen_len[r.sym[i]] + CLEN_EXTRA_BITS[r.sym[i]];
    fixed_codes(&fix);
    uint64_t fix_bits = 3 + data_bits(lf, df, &fix);
    size_t raw = end - bk->start;
    uint64_t stored_bits = 8 * ((uint64_t)raw + 5 * ((raw + STORED_MAX - 1) / STORED_MAX + (raw == 0))) + 7;

    if (stored_bits <= dyn_bits && stored_bits <= fix_bits) {
        write_stored(o, in + bk->start, raw, final);
    } else if (fix_bits <= dyn_bits) {
        put_bits(o, (uint32_t)(final | (1 << 1)), 3);
        put_symbols(o, bk, t, &fix);
    } else {
        put_bits(o, (uint32_t)(final | (2 << 1)), 3);
        put_bits(o, (uint32_t)(hlit - 257), 5);
        put_bits(o, (uint32_t)(hdist - 1), 5);
        put_bits(o, (uint32_t)(hclen - 4), 4);
        for (int i = 0; i < hclen; i++)
            put_bits(o, clen_len[CLEN_ORDER[i]], 3);
        for (int i = 0; i < r.n; i++) {
            put_bits(o, clen_code[r.sym[i]], clen_len[r.sym[i]]);
            if (CLEN_EXTRA_BITS[r.sym[i]])
                put_bits(o, r.extra[i], CLEN_EXTRA_BITS[r.sym[i]]);
        }
        put_symbols(o, bk, t, &dyn);
    }
    bk->n = 0;
    bk->start = end;
}

/* ---- LZ77 ---- */

typedef struct matcher {
    const uint8_t *in;
    size_t n;
    uint32_t *head; /* (1 << HASH_BITS) most recent position + 1 per hash, 0: none */
    uint32_t *prev; /* (WSIZE) previous position + 1 with the same hash, by pos % WSIZE */
} matcher;

static uint32_t hash3(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* Insert pos; returns the previous head of its chain (position + 1, 0: none). */
static uint32_t insert(matcher *m, size_t pos)
{
    if (pos + MIN_MATCH > m->n)
        return 0;
    uint32_t h = hash3(m->in + pos), old = m->head[h];
    m->prev[pos & (WSIZE - 1)] = old;
    m->head[h] = (uint32_t)pos + 1;
    return old;
}

/* Longest match for pos along the chain from cand (position + 1), longer
 * than best; *dist receives its distance. */
static int longest_match(const matcher *m, size_t pos, uint32_t cand, int best, int chain, int *dist)
{
    const uint8_t *p = m->in + pos;
    size_t avail = m->n - pos;
    int maxlen = avail < MAX_MATCH ? (int)avail : MAX_MATCH;
    if (maxlen < MIN_MATCH)
        return 0;
    int found = 0;
    while (cand && chain-- > 0) {
        size_t c = cand - 1;
        if (c >= pos || pos - c > MAX_DIST_USED)
            break;
        const uint8_t *q = m->in + c;
        if (best < maxlen && q[best] == p[best] && q[0] == p[0] && q[1] == p[1]) {
            int l = 2;
            while (l < maxlen && q[l] == p[l])
                l++;
            if (l > best) {
                best = l;
                found = l;
                *dist = (int)(pos - c);
                if (l >= NICE_MATCH || l == maxlen)
                    break;
            }
        }
        uint32_t next = m->prev[c & (WSIZE - 1)];
        if (next >= cand) /* a newer position took the slot: the chain ends */
            break;
        cand = next;
    }
    return found;
}

static void emit(block *bk, int lit_or_len, int dist)
{
    bk->lit[bk->n] = (uint16_t)(dist ? END_OF_BLOCK + lit_or_len : lit_or_len);
    bk->dist[bk->n] = (uint16_t)dist;
    bk->n++;
}

elbo_status elbo_deflate(const uint8_t *in, size_t n, elbo_deflate_mode mode, uint8_t **out, size_t *out_len)
{
    const int shortest = mode == ELBO_DEFLATE_FILTERED ? FILTERED_MIN_MATCH : MIN_MATCH;
    *out = NULL;
    *out_len = 0;
    matcher m = {in, n, calloc((size_t)1 << HASH_BITS, sizeof(uint32_t)), calloc(WSIZE, sizeof(uint32_t))};
    block *bk = calloc(1, sizeof *bk);
    tables *t = malloc(sizeof *t);
    bitout o = {0};
    if (!m.head || !m.prev || !bk || !t) {
        free(m.head), free(m.prev), free(bk), free(t);
        return elbo_fail(ELBO_ERR_NOMEM, "deflate: out of memory");
    }
    tables_init(t);
    out_reserve(&o, n / 2 + 64);

    int prev_len = 0, prev_dist = 0, pending = 0; /* pending: the literal at pos - 1 awaits the lazy decision */
    for (size_t pos = 0; pos < n; pos++) {
        uint32_t cand = insert(&m, pos);
        int len = 0, dist = 0;
        if (prev_len < NICE_MATCH) {
            int chain = prev_len >= GOOD_MATCH ? MAX_CHAIN / 4 : MAX_CHAIN;
            len = longest_match(&m, pos, cand, prev_len > MIN_MATCH - 1 ? prev_len : MIN_MATCH - 1, chain, &dist);
            if ((len == MIN_MATCH && dist > TOO_FAR) || len < shortest)
                len = 0;
        }
        if (prev_len >= MIN_MATCH && len <= prev_len) {
            /* The match found at pos - 1 is at least as good: take it. */
            emit(bk, prev_len, prev_dist);
            size_t end = pos - 1 + (size_t)prev_len;
            for (size_t q = pos + 1; q < end; q++)
                insert(&m, q);
            pos = end - 1;
            prev_len = 0;
            pending = 0;
        } else {
            if (pending)
                emit(bk, in[pos - 1], 0);
            pending = 1;
            prev_len = len;
            prev_dist = dist;
        }
        if (bk->n >= BLOCK_SYMS - 2)
            flush_block(&o, bk, t, in, pos + 1 - (size_t)pending, 0);
    }
    if (pending)
        emit(bk, in[n - 1], 0);
    flush_block(&o, bk, t, in, n, 1);
    align_byte(&o);
    free(m.head), free(m.prev), free(bk), free(t);
    if (o.nomem) {
        free(o.buf);
        return elbo_fail(ELBO_ERR_NOMEM, "deflate: out of memory for %zu output bytes", o.len);
    }
    *out = o.buf;
    *out_len = o.len;
    return ELBO_OK;
}

/* zlib header: deflate, 32K window, FLEVEL 3 (maximum compression); (CMF*256 + FLG) % 31 == 0. */
#define ZLIB_CMF 0x78
#define ZLIB_FLG 0xDA

elbo_status elbo_zlib_compress(const uint8_t *in, size_t n, elbo_deflate_mode mode, uint8_t **out, size_t *out_len)
{
    uint8_t *raw;
    size_t len;
    *out = NULL;
    *out_len = 0;
    elbo_status st = elbo_deflate(in, n, mode, &raw, &len);
    if (st != ELBO_OK)
        return st;
    uint8_t *z = malloc(len + 6);
    if (!z) {
        free(raw);
        return elbo_fail(ELBO_ERR_NOMEM, "zlib: out of memory");
    }
    z[0] = ZLIB_CMF;
    z[1] = ZLIB_FLG;
    memcpy(z + 2, raw, len);
    uint32_t a = elbo_adler32_update(1, in, n);
    z[len + 2] = (uint8_t)(a >> 24), z[len + 3] = (uint8_t)(a >> 16), z[len + 4] = (uint8_t)(a >> 8),
    z[len + 5] = (uint8_t)a;
    free(raw);
    *out = z;
    *out_len = len + 6;
    return ELBO_OK;
}
