#include "models/io/crc.h"

/* Reflected polynomial of CRC-32/ISO-HDLC (PNG, zlib, gzip). */
#define CRC32_POLY 0xEDB88320u
/* Adler-32 modulus and the largest run before the sums can overflow 32 bits. */
#define ADLER_MOD 65521u
#define ADLER_NMAX 5552u

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? CRC32_POLY ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t elbo_crc32_update(uint32_t crc, const void *data, size_t n)
{
    /* Racing initialisations write identical values, so a benign double init is harmless. */
    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
        crc_init();
    const uint8_t *p = data;
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    return ~c;
}

uint32_t elbo_crc32(const void *data, size_t n) { return elbo_crc32_update(0, data, n); }

uint32_t elbo_adler32_update(uint32_t adler, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t a = adler & 0xFFFFu, b = adler >> 16;
    while (n > 0) {
        size_t run = n < ADLER_NMAX ? n : ADLER_NMAX;
        n -= run;
        while (run--) {
            a += *p++;
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    return (b << 16) | a;
}
