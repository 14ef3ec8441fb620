/* Deflate and inflate: streams from zlib decoded, our streams round-tripped
 * over many shapes of data, and every malformed or hostile stream refused
 * with one line (bombs, truncation, bad codes, distances too far back). */
#include <stdint.h>

#include "io_util.h"
#include "models/io/crc.h"
#include "models/io/deflate.h"

/* zlib 1.2 streams (Python zlib, level 9): a fixed-Huffman block, a
 * dynamic-Huffman block, a stored block. */
static const uint8_t Z_FIXED[] = "\x78\xda\xcb\x48\xcd\xc9\xc9\xd7\x51\xc8\x40\xa2\x14\xca\xf3\x8b\x72\x52\x00\x74\x87\x09\x1d";
static const char FIXED_TEXT[] = "hello, hello, hello world";
static const uint8_t Z_STORED[] = "\x78\x01\x01\x07\x00\xf8\xff\x73\x74\x6f\x72\x65\x64\x21\x0b\xef\x02\xb3";
static const uint8_t Z_DYNAMIC[] = "\x78\xda\xed\xc4\x31\x0d\x00\x00\x08\xc0\x30\xad\x0b\xfe\x3d\x10\x5c\x70\xb4\x47\xab"
                                   "\xe9\xd8\xb6\x6d\xdb\x7e\xfb\x02\x25\x65\x74\xdd";

/* The text of Z_DYNAMIC: "aaaaabbbbccd"[(i * i) % 12] for i < 3000. */
static size_t dynamic_text(uint8_t *out)
{
    for (unsigned i = 0; i < 3000; i++)
        out[i] = (uint8_t)"aaaaabbbbccd"[(i * i) % 12];
    return 3000;
}

Test(deflate, zlib_streams_decode)
{
    uint8_t out[4096];
    size_t n;
    cr_assert_eq(elbo_zlib_decompress("fixed", Z_FIXED, sizeof Z_FIXED - 1, out, sizeof out, &n), ELBO_OK, "%s",
                 elbo_last_error());
    cr_assert_eq(n, strlen(FIXED_TEXT));
    cr_assert_eq(memcmp(out, FIXED_TEXT, n), 0);
    cr_assert_eq(elbo_zlib_decompress("stored", Z_STORED, sizeof Z_STORED - 1, out, sizeof out, &n), ELBO_OK);
    cr_assert_eq(n, 7);
    cr_assert_eq(memcmp(out, "stored!", 7), 0);
    uint8_t want[4096];
    size_t wn = dynamic_text(want);
    cr_assert_eq(Z_DYNAMIC[2] & 6, 4, "the test vector is a dynamic block");
    cr_assert_eq(elbo_zlib_decompress("dyn", Z_DYNAMIC, sizeof Z_DYNAMIC - 1, out, sizeof out, &n), ELBO_OK, "%s",
                 elbo_last_error());
    cr_assert_eq(n, wn);
    cr_assert_eq(memcmp(out, want, n), 0);
}

/* Round trip of n bytes made by gen, in both modes; returns the compressed size. */
static size_t round_trip(const uint8_t *data, size_t n, elbo_deflate_mode mode)
{
    uint8_t *z, *back = malloc(n + 1);
    size_t zn, bn;
    cr_assert_eq(elbo_zlib_compress(data, n, mode, &z, &zn), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_zlib_decompress("rt", z, zn, back, n, &bn), ELBO_OK, "n=%zu mode=%d: %s", n, mode,
                 elbo_last_error());
    cr_assert_eq(bn, n);
    cr_assert_eq(memcmp(back, data, n), 0, "n=%zu mode=%d: the data came back different", n, mode);
    /* Exactly the right size: one byte less is the bomb guard. */
    if (n > 0)
        cr_assert_eq(elbo_zlib_decompress("rt", z, zn, back, n - 1, &bn), ELBO_ERR_FORMAT);
    free(z);
    free(back);
    return zn;
}

Test(deflate, round_trips)
{
    size_t sizes[] = {0, 1, 2, 3, 4, 5, 100, 258, 259, 4096, 65535, 65536, 70000, 300000};
    uint8_t *buf = malloc(300000);
    uint64_t s = 42;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        for (int kind = 0; kind < 5; kind++) {
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                switch (kind) {
                case 0: buf[i] = (uint8_t)(s >> 56); break;                  /* noise: stored blocks */
                case 1: buf[i] = 0; break;                                   /* one long run */
                case 2: buf[i] = (uint8_t)"the quick brown fox "[i % 20]; break; /* repeats */
                case 3: buf[i] = (uint8_t)((s >> 60) + (i / 1000));      /* skewed literals */ break;
                default: buf[i] = (uint8_t)(i % 7 == 0 ? s >> 56 : i / 3); /* matches of all lengths */
                }
            }
            size_t z0 = round_trip(buf, n, ELBO_DEFLATE_DEFAULT);
            round_trip(buf, n, ELBO_DEFLATE_FILTERED);
            if (kind == 0 && n >= 4096)
                cr_expect_leq(z0, n + n / 1000 + 64, "noise: stored blocks cost little (%zu for %zu)", z0, n);
            if (kind == 1 && n >= 4096)
                cr_expect_lt(z0, n / 100 + 64, "a run compresses to almost nothing (%zu for %zu)", z0, n);
        }
    }
    free(buf);
}

Test(deflate, bomb_is_refused_at_the_cap)
{
    /* 1 MiB of zeros compresses to about a kilobyte: decoding with a 64 KiB cap must stop there. */
    size_t n = 1 << 20;
    uint8_t *zeros = calloc(n, 1), *z, *out = malloc(65536);
    size_t zn, on;
    cr_assert_eq(elbo_zlib_compress(zeros, n, ELBO_DEFLATE_DEFAULT, &z, &zn), ELBO_OK);
    cr_assert_lt(zn, 4096);
    cr_assert_eq(elbo_zlib_decompress("bomb.z", z, zn, out, 65536, &on), ELBO_ERR_FORMAT);
    iu_assert_msg_has("bomb.z");
    iu_assert_msg_has("expands beyond");
    free(zeros), free(z), free(out);
}

Test(deflate, every_truncation_fails_cleanly)
{
    uint8_t data[5000], out[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 % 97 + (i % 200 < 100 ? 0 : i / 50));
    uint8_t *z;
    size_t zn, on;
    cr_assert_eq(elbo_zlib_compress(data, sizeof data, ELBO_DEFLATE_DEFAULT, &z, &zn), ELBO_OK);
    for (size_t cut = 0; cut < zn; cut++) {
        elbo_status st = elbo_zlib_decompress("cut.z", z, cut, out, sizeof out, &on);
        cr_assert_eq(st, ELBO_ERR_FORMAT, "cut at %zu of %zu decoded", cut, zn);
        cr_assert(strchr(elbo_last_error(), '\n') == NULL);
        cr_assert(strstr(elbo_last_error(), "cut.z"));
    }
    free(z);
}

Test(deflate, malformed_streams)
{
    uint8_t out[256];
    size_t on, used;
    /* block type 3 */
    cr_assert_eq(elbo_inflate("t3", (const uint8_t *)"\x07", 1, out, sizeof out, &on, &used), ELBO_ERR_FORMAT);
    iu_assert_msg_has("block type 3");
    /* stored block whose LEN and NLEN disagree */
    cr_assert_eq(elbo_inflate("len", (const uint8_t *)"\x01\x05\x00\x00\x00hello", 10, out, sizeof out, &on, &used),
                 ELBO_ERR_FORMAT);
    iu_assert_msg_has("complement");
    /* fixed block: a match at distance 1 with nothing before it (bits: BFINAL 1, type 01,
     * length code 257 = 0000001, distance code 0 = 00000) */
    cr_assert_eq(elbo_inflate("far", (const uint8_t *)"\x03\x02\x00", 3, out, sizeof out, &on, &used), ELBO_ERR_FORMAT);
    iu_assert_msg_has("too far back");
    /* dynamic block with an over-subscribed code length code: HCLEN 4, lengths 1,1,1,1 */
    cr_assert_eq(elbo_inflate("over", (const uint8_t *)"\x05\x00\x00\x49\x02", 5, out, sizeof out, &on, &used),
                 ELBO_ERR_FORMAT);
    iu_assert_msg_has("code length code");
    /* zlib header checks */
    cr_assert_eq(elbo_zlib_decompress("hdr", (const uint8_t *)"\x78\x9d\x03\x00\x00\x00\x00\x01", 8, out, sizeof out,
                                      &on), ELBO_ERR_FORMAT);
    cr_assert_eq(elbo_zlib_decompress("dict", (const uint8_t *)"\x78\xbb\x03\x00\x00\x00\x00\x01", 8, out, sizeof out,
                                      &on), ELBO_ERR_FORMAT);
    iu_assert_msg_has("dictionary");
    /* a wrong Adler-32 */
    uint8_t bad[sizeof Z_FIXED];
    memcpy(bad, Z_FIXED, sizeof bad);
    bad[sizeof Z_FIXED - 2] ^= 1;
    cr_assert_eq(elbo_zlib_decompress("adler", bad, sizeof Z_FIXED - 1, out, sizeof out, &on), ELBO_ERR_FORMAT);
    iu_assert_msg_has("Adler-32");
}

Test(deflate, in_used_stops_at_the_final_block)
{
    uint8_t buf[64];
    memcpy(buf, Z_STORED + 2, sizeof Z_STORED - 1 - 6);
    size_t raw = sizeof Z_STORED - 1 - 6; /* the deflate stream alone */
    memset(buf + raw, 0xAB, 10);          /* trailing bytes */
    uint8_t out[16];
    size_t on, used;
    cr_assert_eq(elbo_inflate("raw", buf, raw + 10, out, sizeof out, &on, &used), ELBO_OK);
    cr_assert_eq(used, raw);
    cr_assert_eq(on, 7);
}
