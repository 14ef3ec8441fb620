/* Inflate (RFC 1951): stored, fixed and dynamic Huffman blocks.
 *
 * Bits are read LSB first from a 64-bit buffer. Huffman codes are decoded
 * with a FAST_BITS lookup table (one probe for every code that short) and,
 * for longer codes, the canonical walk over the per-length counts (the
 * method of zlib's puff.c). Past the end of the input the buffer is fed
 * zero bytes, counted in `pad`; consuming any of them is a truncated
 * stream. Output goes into the caller's buffer, whose size is the bomb cap. */
#include "models/io/deflate.h"

#include <string.h>

#include "models/io/crc.h"
#include "models/io/deflate_tables.h"

#define MAX_BITS 15      /* longest code (RFC 1951 3.2.2) */
#define MAX_LIT 288      /* literal/length symbols, 286 and 287 unused */
#define MAX_DIST 32      /* distance symbols, 30 and 31 unused */
#define N_LEN_SYMS 286   /* highest valid literal/length count (HLIT + 257) */
#define N_DIST_SYMS 30   /* highest valid distance count (HDIST + 1) */
#define END_OF_BLOCK 256
#define FAST_BITS 10
#define FAST_SYM_MASK 0x1FF
#define FAST_LEN_SHIFT 9


typedef struct bitin {
    const uint8_t *p, *end;
    uint64_t buf;
    int cnt;    /* valid bits in buf */
    size_t pad; /* zero bytes fed after the end of the input */
} bitin;

typedef struct huff {
    uint16_t fast[1 << FAST_BITS]; /* (len << 9) | symbol; 0: longer code or invalid */
    uint16_t count[MAX_BITS + 1];  /* codes of each length */
    uint16_t symbol[MAX_LIT];      /* symbols in canonical order */
} huff;

typedef struct inflater {
    const char *name;
    bitin in;
    uint8_t *out;
    size_t cap, len;
    huff lit, dist;
} inflater;

static void refill(bitin *b)
{
    if (b->end - b->p >= 8) {
        uint64_t v;
        memcpy(&v, b->p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        b->buf |= v << b->cnt;
        b->p += (63 - b->cnt) >> 3;
        b->cnt |= 56;
        return;
    }
    while (b->cnt <= 56) {
        uint64_t byte = 0;
        if (b->p < b->end)
            byte = *b->p++;
        else
            b->pad++;
        b->buf |= byte << b->cnt;
        b->cnt += 8;
    }
}

/* True once a bit of the zero padding has been consumed. */
static int overrun(const bitin *b) { return b->pad && (size_t)b->cnt < b->pad * 8; }

/* n <= 32 bits; the caller has refilled (cnt >= 32 after a refill). */
static uint32_t bits(bitin *b, int n)
{
    if (b->cnt < n)
        refill(b);
    uint32_t v = (uint32_t)(b->buf & ((1ull << n) - 1));
    b->buf >>= n;
    b->cnt -= n;
    return v;
}

static uint32_t reverse_bits(uint32_t code, int len)
{
    uint32_t r = 0;
    for (int i = 0; i < len; i++, code >>= 1)
        r = (r << 1) | (code & 1);
    return r;
}

/* Build a decoding table from code lengths len[0..n). An over-subscribed
 * set is an error; an incomplete one only when it is a single code of one
 * bit (what zlib allows). An empty set builds a table that decodes nothing. */
static int huff_build(huff *h, const uint8_t *len, int n, const char **why)
{
    memset(h->count, 0, sizeof h->count);
    memset(h->fast, 0, sizeof h->fast);
    for (int s = 0; s < n; s++)
        h->count[len[s]]++;
    if (h->count[0] == n)
        return 1;
    int left = 1, max = 0;
    for (int l = 1; l <= MAX_BITS; l++) {
        left = (left << 1) - h->count[l];
        if (left < 0) {
            *why = "over-subscribed code";
            return 0;
        }
        if (h->count[l])
            max = l;
    }
    if (left > 0 && max != 1) {
        *why = "incomplete code";
        return 0;
    }
    uint16_t offs[MAX_BITS + 2];
    offs[1] = 0;
    for (int l = 1; l <= MAX_BITS; l++)
        offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
    for (int s = 0; s < n; s++)
        if (len[s])
            h->symbol[offs[len[s]]++] = (uint16_t)s;
    /* Canonical codes in symbol order per length: fill the fast table. */
    uint32_t code = 0;
    int k = 0;
    for (int l = 1; l <= MAX_BITS; l++) {
        for (int i = 0; i < h->count[l]; i++, k++, code++) {
            if (l > FAST_BITS)
                continue;
            uint32_t r = reverse_bits(code, l);
            uint16_t e = (uint16_t)((l << FAST_LEN_SHIFT) | h->symbol[k]);
            for (uint32_t j = r; j < (1u << FAST_BITS); j += 1u << l)
                h->fast[j] = e;
        }
        code <<= 1;
    }
    return 1;
}

/* Next symbol, or -1 for a bit pattern that is no code. */
static int decode(bitin *b, const huff *h)
{
    if (b->cnt < MAX_BITS)
        refill(b);
    uint16_t e = h->fast[b->buf & ((1u << FAST_BITS) - 1)];
    if (e) {
        int l = e >> FAST_LEN_SHIFT;
        b->buf >>= l;
        b->cnt -= l;
        return e & FAST_SYM_MASK;
    }
    int code = 0, first = 0, index = 0;
    for (int l = 1; l <= MAX_BITS; l++) {
        code |= (int)((b->buf >> (l - 1)) & 1);
        int c = h->count[l];
        if (code - c < first) {
            b->buf >>= l;
            b->cnt -= l;
            return h->symbol[index + (code - first)];
        }
        index += c;
        first = (first + c) << 1;
        code <<= 1;
    }
    return -1;
}

static elbo_status bad(const inflater *z, const char *what)
{
    return elbo_fail(ELBO_ERR_FORMAT, "%s: deflate: %s (at output byte %zu)", z->name, what, z->len);
}

static elbo_status truncated(const inflater *z)
{
    return elbo_fail(ELBO_ERR_FORMAT, "%s: deflate: truncated stream (after %zu output bytes)", z->name, z->len);
}

static elbo_status bomb(const inflater *z)
{
    return elbo_fail(ELBO_ERR_FORMAT, "%s: deflate: expands beyond the expected %zu bytes (a decompression bomb or "
                     "a lying header)", z->name, z->cap);
}

static elbo_status stored_block(inflater *z)
{
    bitin *b = &z->in;
    int drop = b->cnt & 7;
    b->buf >>= drop;
    b->cnt -= drop;
    /* Return the whole bytes still buffered to the input. */
    size_t buffered = (size_t)b->cnt / 8;
    if (buffered < b->pad)
        return truncated(z);
    b->p -= buffered - b->pad;
    b->buf = 0;
    b->cnt = 0;
    b->pad = 0;
    if (b->end - b->p < 4)
        return truncated(z);
    unsigned len = b->p[0] | (unsigned)b->p[1] << 8, nlen = b->p[2] | (unsigned)b->p[3] << 8;
    b->p += 4;
    if ((len ^ 0xFFFFu) != nlen)
        return bad(z, "stored block length does not match its complement");
    if ((size_t)(b->end - b->p) < len)
        return truncated(z);
    if (z->cap - z->len < len)
        return bomb(z);
    memcpy(z->out + z->len, b->p, len);
    z->len += len;
    b->p += len;
    return ELBO_OK;
}

static elbo_status codes(inflater *z)
{
    bitin *b = &z->in;
    for (;;) {
        int sym = decode(b, &z->lit);
        if (overrun(b))
            return truncated(z);
        if (sym < 0)
            return bad(z, "invalid literal/length code");
        if (sym < END_OF_BLOCK) {
            if (z->len == z->cap)
                return bomb(z);
            z->out[z->len++] = (uint8_t)sym;
            continue;
        }
        if (sym == END_OF_BLOCK)
            return ELBO_OK;
        sym -= END_OF_BLOCK + 1;
        if (sym >= 29)
            return bad(z, "invalid length symbol");
        size_t len = LEN_BASE[sym] + bits(b, LEN_EXTRA[sym]);
        int ds = decode(b, &z->dist);
        if (overrun(b))
            return truncated(z);
        if (ds < 0 || ds >= N_DIST_SYMS)
            return bad(z, "invalid distance code");
        size_t dist = DIST_BASE[ds] + bits(b, DIST_EXTRA[ds]);
        if (overrun(b))
            return truncated(z);
        if (dist > z->len)
            return bad(z, "distance too far back");
        if (z->cap - z->len < len)
            return bomb(z);
        uint8_t *o = z->out + z->len;
        const uint8_t *from = o - dist;
        if (dist >= len)
            memcpy(o, from, len);
        else
            for (size_t i = 0; i < len; i++) /* overlapping: a run */
                o[i] = from[i];
        z->len += len;
    }
}

/* The fixed code of RFC 1951 3.2.6 (rebuilt per block: cheap next to any
 * real block, and no shared state between threads). */
static elbo_status fixed_block(inflater *z)
{
    uint8_t l[MAX_LIT];
    const char *why;
    int s = 0;
    for (; s < 144; s++)
        l[s] = 8;
    for (; s < 256; s++)
        l[s] = 9;
    for (; s < 280; s++)
        l[s] = 7;
    for (; s < MAX_LIT; s++)
        l[s] = 8;
    huff_build(&z->lit, l, MAX_LIT, &why);
    memset(l, 5, MAX_DIST);
    huff_build(&z->dist, l, MAX_DIST, &why);
    return codes(z);
}

static elbo_status dynamic_block(inflater *z)
{
    bitin *b = &z->in;
    refill(b);
    int nlen = (int)bits(b, 5) + 257, ndist = (int)bits(b, 5) + 1, ncode = (int)bits(b, 4) + 4;
    if (nlen > N_LEN_SYMS || ndist > N_DIST_SYMS)
        return bad(z, "too many length or distance symbols");
    uint8_t lens[N_LEN_SYMS + N_DIST_SYMS] = {0};
    refill(b);
    for (int i = 0; i < ncode; i++)
        lens[CLEN_ORDER[i]] = (uint8_t)bits(b, 3);
    if (overrun(b))
        return truncated(z);
    /* The code length code must be complete (zlib's rule). */
    const char *why = "incomplete code";
    huff clen;
    int left = 1;
    if (huff_build(&clen, lens, N_CLEN, &why))
        for (int l = 1; l <= MAX_BITS; l++)
            left = (left << 1) - clen.count[l];
    if (left != 0)
        return bad(z, why[0] == 'o' ? "code length code over-subscribed" : "code length code incomplete");
    memset(lens, 0, sizeof lens);
    for (int i = 0; i < nlen + ndist;) {
        int sym = decode(b, &clen);
        if (overrun(b))
            return truncated(z);
        if (sym < 0)
            return bad(z, "invalid code length code");
        if (sym < 16) {
            lens[i++] = (uint8_t)sym;
            continue;
        }
        int rep, val = 0;
        if (sym == 16) {
            if (i == 0)
                return bad(z, "repeat of a code length with none before it");
            val = lens[i - 1];
            rep = 3 + (int)bits(b, 2);
        } else if (sym == 17) {
            rep = 3 + (int)bits(b, 3);
        } else {
            rep = 11 + (int)bits(b, 7);
        }
        if (i + rep > nlen + ndist)
            return bad(z, "code length repeat runs past the last symbol");
        while (rep--)
            lens[i++] = (uint8_t)val;
    }
    if (overrun(b))
        return truncated(z);
    if (lens[END_OF_BLOCK] == 0)
        return bad(z, "no end-of-block code");
    if (!huff_build(&z->lit, lens, nlen, &why))
        return bad(z, why[0] == 'o' ? "literal/length code over-subscribed" : "literal/length code incomplete");
    if (!huff_build(&z->dist, lens + nlen, ndist, &why))
        return bad(z, why[0] == 'o' ? "distance code over-subscribed" : "distance code incomplete");
    return codes(z);
}

elbo_status elbo_inflate(const char *name, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len, size_t *in_used)
{
    inflater z;
    memset(&z.in, 0, sizeof z.in);
    z.name = name;
    z.in.p = in;
    z.in.end = in + in_len;
    z.out = out;
    z.cap = cap;
    z.len = 0;
    *out_len = 0;
    if (in_used)
        *in_used = 0;
    elbo_status st = ELBO_OK;
    for (int final = 0; !final && st == ELBO_OK;) {
        refill(&z.in);
        final = (int)bits(&z.in, 1);
        int type = (int)bits(&z.in, 2);
        if (overrun(&z.in))
            return truncated(&z);
        switch (type) {
        case 0:
            st = stored_block(&z);
            break;
        case 1:
            st = fixed_block(&z);
            break;
        case 2:
            st = dynamic_block(&z);
            break;
        default:
            st = bad(&z, "invalid block type 3");
        }
    }
    if (st != ELBO_OK)
        return st;
    *out_len = z.len;
    if (in_used) {
        size_t buffered = (size_t)z.in.cnt / 8; /* whole unused bytes still in the buffer */
        *in_used = (size_t)(z.in.p - in) - (buffered > z.in.pad ? buffered - z.in.pad : 0);
    }
    return ELBO_OK;
}

/* zlib header fields (RFC 1950 2.2). */
#define ZLIB_CM_DEFLATE 8
#define ZLIB_MAX_CINFO 7
#define ZLIB_FDICT 0x20
#define ZLIB_CHECK_MOD 31

elbo_status elbo_zlib_decompress(const char *name, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    *out_len = 0;
    if (in_len < 2 + 4)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zlib: expected at least 6 bytes, got %zu", name, in_len);
    if ((in[0] & 0x0F) != ZLIB_CM_DEFLATE || (in[0] >> 4) > ZLIB_MAX_CINFO ||
        ((unsigned)in[0] * 256 + in[1]) % ZLIB_CHECK_MOD != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zlib: bad header 0x%02x%02x: expected deflate with a window <= 32K",
                         name, in[0], in[1]);
    if (in[1] & ZLIB_FDICT)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zlib: a preset dictionary is not supported", name);
    size_t used, len;
    elbo_status st = elbo_inflate(name, in + 2, in_len - 2, out, cap, &len, &used);
    if (st != ELBO_OK)
        return st;
    if (in_len - 2 - used < 4)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zlib: truncated: no Adler-32 after the deflate stream", name);
    const uint8_t *a = in + 2 + used;
    uint32_t want = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    uint32_t got = elbo_adler32_update(1, out, len);
    if (want != got)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zlib: Adler-32: expected 0x%08x, got 0x%08x", name, want, got);
    *out_len = len;
    return ELBO_OK;
}
