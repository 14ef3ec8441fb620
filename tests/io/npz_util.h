/* Test helpers: .npy bytes and zip (.npz) archives built in memory, stored
 * or deflated, optionally with the zip64 records numpy's savez writes. */
#ifndef ELBO_TEST_NPZ_UTIL_H
#define ELBO_TEST_NPZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/crc.h"
#include "models/io/deflate.h"

typedef struct nz_buf {
    uint8_t *p;
    size_t n, cap;
} nz_buf;

static inline void nz_put(nz_buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static inline void nz_u16(nz_buf *b, unsigned v) { uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; nz_put(b, x, 2); }
static inline void nz_u32(nz_buf *b, uint32_t v) { nz_u16(b, v & 0xFFFF); nz_u16(b, v >> 16); }
static inline void nz_u64(nz_buf *b, uint64_t v) { nz_u32(b, (uint32_t)v); nz_u32(b, (uint32_t)(v >> 32)); }

/* A .npy of descr and shape text (e.g. "(3, 2)") holding n data bytes. */
static inline nz_buf nz_npy(const char *descr, const char *shape, const void *data, size_t n)
{
    nz_buf b = {0};
    char dict[256];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t hlen = (size_t)k + 1;
    hlen += (64 - (10 + hlen) % 64) % 64;
    nz_put(&b, "\x93NUMPY\x01\x00", 8);
    nz_u16(&b, (unsigned)hlen);
    nz_put(&b, dict, (size_t)k);
    while (b.n < 10 + hlen - 1)
        nz_put(&b, " ", 1);
    nz_put(&b, "\n", 1);
    nz_put(&b, data, n);
    return b;
}

typedef struct nz_member {
    const char *name;
    const uint8_t *data;
    size_t n;
    int deflate;
} nz_member;

/* A zip of the members; zip64: the local and central zip64 extra fields
 * and the zip64 end records (as numpy's savez writes them). */
static inline nz_buf nz_zip(const nz_member *m, size_t count, int zip64)
{
    nz_buf z = {0}, cd = {0};
    for (size_t i = 0; i < count; i++) {
        uint8_t *comp = (uint8_t *)m[i].data;
        size_t cn = m[i].n;
        if (m[i].deflate)
            elbo_deflate(m[i].data, m[i].n, ELBO_DEFLATE_DEFAULT, &comp, &cn);
        uint32_t crc = elbo_crc32(m[i].data, m[i].n);
        uint64_t off = z.n;
        size_t nl = strlen(m[i].name);
        nz_u32(&z, 0x04034b50);
        nz_u16(&z, zip64 ? 45 : 20);
        nz_u16(&z, 0);
        nz_u16(&z, m[i].deflate ? 8 : 0);
        nz_u16(&z, 0), nz_u16(&z, 0x21);
        nz_u32(&z, crc);
        nz_u32(&z, zip64 ? 0xFFFFFFFFu : (uint32_t)cn);
        nz_u32(&z, zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].n);
        nz_u16(&z, (unsigned)nl);
        nz_u16(&z, zip64 ? 20 : 0);
        nz_put(&z, m[i].name, nl);
        if (zip64) {
            nz_u16(&z, 1), nz_u16(&z, 16), nz_u64(&z, m[i].n), nz_u64(&z, cn);
        }
        nz_put(&z, comp, cn);
        nz_u32(&cd, 0x02014b50);
        nz_u16(&cd, zip64 ? 45 : 20), nz_u16(&cd, zip64 ? 45 : 20), nz_u16(&cd, 0);
        nz_u16(&cd, m[i].deflate ? 8 : 0);
        nz_u16(&cd, 0), nz_u16(&cd, 0x21);
        nz_u32(&cd, crc);
        nz_u32(&cd, zip64 ? 0xFFFFFFFFu : (uint32_t)cn);
        nz_u32(&cd, zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].n);
        nz_u16(&cd, (unsigned)nl);
        nz_u16(&cd, zip64 ? 28 : 0);
        nz_u16(&cd, 0), nz_u16(&cd, 0), nz_u16(&cd, 0), nz_u32(&cd, 0);
        nz_u32(&cd, zip64 ? 0xFFFFFFFFu : (uint32_t)off);
        nz_put(&cd, m[i].name, nl);
        if (zip64) {
            nz_u16(&cd, 1), nz_u16(&cd, 24), nz_u64(&cd, m[i].n), nz_u64(&cd, cn), nz_u64(&cd, off);
        }
        if (m[i].deflate)
            free(comp);
    }
    uint64_t cd_off = z.n;
    nz_put(&z, cd.p, cd.n);
    if (zip64) {
        uint64_t rec = z.n;
        nz_u32(&z, 0x06064b50), nz_u64(&z, 44), nz_u16(&z, 45), nz_u16(&z, 45), nz_u32(&z, 0), nz_u32(&z, 0);
        nz_u64(&z, count), nz_u64(&z, count), nz_u64(&z, cd.n), nz_u64(&z, cd_off);
        nz_u32(&z, 0x07064b50), nz_u32(&z, 0), nz_u64(&z, rec), nz_u32(&z, 1);
    }
    nz_u32(&z, 0x06054b50);
    nz_u16(&z, 0), nz_u16(&z, 0);
    nz_u16(&z, zip64 ? 0xFFFF : (unsigned)count), nz_u16(&z, zip64 ? 0xFFFF : (unsigned)count);
    nz_u32(&z, zip64 ? 0xFFFFFFFFu : (uint32_t)cd.n), nz_u32(&z, zip64 ? 0xFFFFFFFFu : (uint32_t)cd_off);
    nz_u16(&z, 0);
    free(cd.p);
    return z;
}

#endif
