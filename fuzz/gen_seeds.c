/* Writes the seed corpus of the fuzz harnesses: small valid files and a few
 * near-misses of each format, generated here rather than kept as binary blobs.
 *   gen_seeds DIR      writes seed files into DIR/idx/, DIR/csv/, DIR/checkpoint/, DIR/dsprites_factors/,
 *                      DIR/npy/, DIR/npz/, DIR/png/, DIR/safetensors/ and DIR/prior_init/ */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/io/checkpoint.h"
#include "models/io/crc.h"
#include "models/io/deflate.h"
#include "models/io/file.h"
#include "models/io/png.h"
#include "models/io/safetensors.h"
#include "npz_util.h"


static const char *root;

static void put(const char *sub, const char *name, const void *data, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, sub);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* IDX: 0 0 type rank, big-endian u32 dims, u8 payload */
static size_t idx(uint8_t *buf, int type, int rank, const uint32_t *dims, size_t payload)
{
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = (uint8_t)type;
    buf[n++] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        buf[n++] = (uint8_t)(dims[i] >> 24);
        buf[n++] = (uint8_t)(dims[i] >> 16);
        buf[n++] = (uint8_t)(dims[i] >> 8);
        buf[n++] = (uint8_t)dims[i];
    }
    for (size_t i = 0; i < payload; i++)
        buf[n++] = (uint8_t)(i * 37u);
    return n;
}

static void idx_seeds(void)
{
    static uint8_t b[4096];
    put("idx", "images-2x3x3", b, idx(b, 0x08, 3, (uint32_t[]){2, 3, 3}, 18));
    put("idx", "images-1x28x28", b, idx(b, 0x08, 3, (uint32_t[]){1, 28, 28}, 784));
    put("idx", "labels-10", b, idx(b, 0x08, 1, (uint32_t[]){10}, 10));
    put("idx", "labels-truncated", b, idx(b, 0x08, 1, (uint32_t[]){10}, 10) - 3);
    put("idx", "images-overflow", b, idx(b, 0x08, 3, (uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, 4));
    put("idx", "images-zero-dim", b, idx(b, 0x08, 3, (uint32_t[]){0, 3, 3}, 0));
    put("idx", "images-float-type", b, idx(b, 0x0D, 3, (uint32_t[]){1, 1, 1}, 4));
    put("idx", "header-only", b, 4);
    put("idx", "empty", b, 0);
}

static void csv_text(const char *name, const char *text) { put("csv", name, text, strlen(text)); }

static void csv_seeds(void)
{
    csv_text("header", "x,y,z\n1,2,3\n4.5,-6e-3,+7\n");
    csv_text("no-header", "0.25,1e10\n-0,3\n");
    csv_text("crlf-blank", "a, b\r\n1 , 2\r\n\r\n3,4\r\n");
    csv_text("single", "42");
    csv_text("ragged", "1,2\n3\n");
    csv_text("nan", "1,nan\n");
    csv_text("inf", "-inf,2\n");
    csv_text("empty-field", "1,,3\n");
    csv_text("huge-exp", "1e999,2\n");
    csv_text("hex", "0x1p3,.5,5.\n");
    csv_text("junk", "1,2x\n");
    csv_text("only-header", "a,b,c\n");
}

static void prior_init_text(const char *name, const char *text) { put("prior_init", name, text, strlen(text)); }

/* --prior-init files for a 3-component mixture over 2 latents (fuzz_prior_init). */
static void prior_init_seeds(void)
{
    prior_init_text("valid", "component,weight,mean_0,mean_1,var_0,var_1\n0,0.5,1,2,0.5,1\n1,0.25,-1,0,1,2\n"
                    "2,0.25,0,0,3,0.1\n");
    prior_init_text("two-rows", "0,0.5,1,2,0.5,1\n1,0.5,-1,0,1,2\n");
    prior_init_text("zero-weight", "0,0,1,2,0.5,1\n1,0.5,-1,0,1,2\n2,0.5,0,0,3,0.1\n");
    prior_init_text("negative-variance", "0,1,1,2,-0.5,1\n1,1,-1,0,1,2\n2,1,0,0,3,0.1\n");
    prior_init_text("full-cov", "0,1,1,2,1,0,0,1\n1,1,-1,0,1,0,0,1\n2,1,0,0,1,0,0,1\n");
}

/* Checkpoints come from the library's own writer, then are bent. */
static void checkpoint_seeds(void)
{
    char path[4096];
    float w[7] = {1, -2, 3.5f, 0, 1e-3f, -7, 42}, m[3] = {0.5f, 0.25f, 0.125f};
    uint8_t blob[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    elbo_ckpt_section secs[] = {{"encoder.w", w, 7}, {"adam.m", m, 3}};
    elbo_ckpt_meta meta = {.config = "{\"model\":\"vae\",\"latent\":2}", .step = 17, .epoch = 2,
                           .blob = blob, .blob_len = sizeof blob};
    put("checkpoint", "empty", "", 0);
    snprintf(path, sizeof path, "%s/checkpoint/valid", root);
    if (elbo_ckpt_save(path, &meta, secs, 2) != ELBO_OK) {
        fprintf(stderr, "gen_seeds: %s\n", elbo_last_error());
        exit(1);
    }
    /* A VAE architecture record of version 3 (two stochastic layers): 18
     * numbers of version 1, 7 + 5 x 8 of version 2, then the layer count,
     * z2's size, and 0..3 widths between the layers (models/vae/vae_train.c). */
    float arch[71] = {3, 784, 150, 0, 2, 1, 200, 200};
    arch[14] = 0.01f;
    arch[18] = 1, arch[19] = 1;                                      /* posterior hier2, prior hier2 */
    arch[65] = 2, arch[66] = 50, arch[67] = 2, arch[68] = 100, arch[69] = 100;
    elbo_ckpt_section arch_sec[] = {{"vae.arch", arch, 71}};
    snprintf(path, sizeof path, "%s/checkpoint/vae-arch-v3", root);
    if (elbo_ckpt_save(path, &meta, arch_sec, 1) != ELBO_OK) {
        fprintf(stderr, "gen_seeds: %s\n", elbo_last_error());
        exit(1);
    }
    elbo_ckpt_meta bare = {.config = ""};
    snprintf(path, sizeof path, "%s/checkpoint/empty-sections", root);
    if (elbo_ckpt_save(path, &bare, NULL, 0) != ELBO_OK) {
        fprintf(stderr, "gen_seeds: %s\n", elbo_last_error());
        exit(1);
    }
    snprintf(path, sizeof path, "%s/checkpoint/valid", root);
    uint8_t *buf;
    size_t n;
    if (elbo_read_file(path, 0, &buf, &n) != ELBO_OK || n < 16) {
        fprintf(stderr, "gen_seeds: %s\n", elbo_last_error());
        exit(1);
    }
    put("checkpoint", "truncated", buf, n - 9);
    buf[n - 1] ^= 0x5A; /* CRC */
    put("checkpoint", "bad-crc", buf, n);
    buf[n - 1] ^= 0x5A;
    buf[8] = 99; /* version */
    put("checkpoint", "bad-version", buf, n);
    buf[8] = 1;
    buf[0] = 'X'; /* magic */
    put("checkpoint", "bad-magic", buf, n);
    free(buf);
}

/* dSprites factor tables (models/data/dsprites.h): good rows and near misses. */
static void dsprites_factors_seeds(void)
{
    static const char *const seeds[][2] = {
        {"good", "index,shape,scale,orientation,pos_x,pos_y,shape_value,scale_value,orientation_value,pos_x_value,"
                 "pos_y_value\n0,0,0,0,0,0,1,0.5,0,0,0\n1,0,0,0,0,1,1,0.5,0,0,0.03225806451612903\n"
                 "737279,2,5,39,31,31,3,1,6.283185307179586,1,1\n"},
        {"inconsistent", "1,0,0,0,0,0,1,0.5,0,0,0\n"},
        {"out-of-range", "737280,3,0,0,0,0,4,0.5,0,0,0\n"},
        {"short-row", "0,0,0,0,0,0\n"},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        put("dsprites_factors", seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
}

static void put_nz(const char *sub, const char *name, nz_buf b)
{
    put(sub, name, b.p, b.n);
    free(b.p);
}

static void npy_seeds(void)
{
    uint8_t px[64];
    float f[8] = {0, 0.5f, 1, 0.25f, 0.125f, 1e-3f, 0.75f, 0.9f};
    double d[4] = {0.1, 0.2, 0.3, 1};
    for (int i = 0; i < 64; i++)
        px[i] = (uint8_t)(i * 5);
    put_nz("npy", "u8-4x4x4", nz_npy("|u1", "(4, 4, 4)", px, 64));
    put_nz("npy", "u8-nchw", nz_npy("|u1", "(2, 1, 4, 8)", px, 64));
    put_nz("npy", "f4-2x4", nz_npy("<f4", "(2, 4)", f, sizeof f));
    put_nz("npy", "f4-be", nz_npy(">f4", "(8,)", f, sizeof f));
    put_nz("npy", "f8", nz_npy("<f8", "(4,)", d, sizeof d));
    put_nz("npy", "f2", nz_npy("<f2", "(4, 2)", px, 16));
    put_nz("npy", "i8-labels", nz_npy("<i8", "(8,)", px, 64));
    put_nz("npy", "bool", nz_npy("|b1", "(8, 8)", px, 64));
    put_nz("npy", "scalar", nz_npy("<f4", "()", f, 4));
    put_nz("npy", "truncated", nz_npy("|u1", "(4, 4, 5)", px, 64));
    put_nz("npy", "u8-8x8", nz_npy("|u1", "(8, 8)", px, 64));
}

static void npz_seeds(void)
{
    uint8_t px[96], y[6] = {0, 1, 2, 0, 1, 2};
    for (int i = 0; i < 96; i++)
        px[i] = (uint8_t)(i / 3);
    nz_buf x = nz_npy("|u1", "(6, 4, 4)", px, 96), l = nz_npy("|u1", "(6,)", y, 6);
    for (int zip64 = 0; zip64 < 2; zip64++)
        for (int defl = 0; defl < 2; defl++) {
            nz_member m[2] = {{"x_train.npy", x.p, x.n, defl}, {"y_train.npy", l.p, l.n, defl}};
            char name[32];
            snprintf(name, sizeof name, "train%s%s", zip64 ? "-zip64" : "", defl ? "-deflated" : "");
            put_nz("npz", name, nz_zip(m, 2, zip64));
        }
    nz_member t[1] = {{"notes.txt", (const uint8_t *)"hello", 5, 0}};
    put_nz("npz", "not-an-array", nz_zip(t, 1, 0));
    free(x.p);
    free(l.p);
}

/* An Adam7-interlaced 8-bit gray PNG of w x h, its zlib stream stored. */
static nz_buf interlaced_png(int w, int h)
{
    static const int A[7][4] = {{0, 0, 8, 8}, {0, 4, 8, 8}, {4, 0, 8, 4}, {0, 2, 4, 4}, {2, 0, 4, 2}, {0, 1, 2, 2}, {1, 0, 2, 1}};
    nz_buf raw = {0};
    for (int p = 0; p < 7; p++) {
        int pw = w > A[p][1] ? (w - A[p][1] + A[p][3] - 1) / A[p][3] : 0, ph = h > A[p][0] ? (h - A[p][0] + A[p][2] - 1) / A[p][2] : 0;
        for (int r = 0; pw && r < ph; r++) {
            uint8_t f = (uint8_t)(r % 5);
            nz_put(&raw, &f, 1);
            for (int c = 0; c < pw; c++) {
                uint8_t v = (uint8_t)(r * 17 + c * 3 + p);
                nz_put(&raw, &v, 1);
            }
        }
    }
    uint8_t *z;
    size_t zn;
    elbo_zlib_compress(raw.p, raw.n, ELBO_DEFLATE_FILTERED, &z, &zn);
    free(raw.p);
    nz_buf b = {0};
    nz_put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[17] = {'I', 'H', 'D', 'R', 0, 0, 0, (uint8_t)w, 0, 0, 0, (uint8_t)h, 8, 0, 0, 0, 1};
    uint8_t len13[4] = {0, 0, 0, 13};
    nz_put(&b, len13, 4);
    nz_put(&b, ihdr, 17);
    uint32_t c = elbo_crc32(ihdr, 17);
    uint8_t cb[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    nz_put(&b, cb, 4);
    uint8_t zl[4] = {(uint8_t)(zn >> 24), (uint8_t)(zn >> 16), (uint8_t)(zn >> 8), (uint8_t)zn};
    nz_put(&b, zl, 4);
    size_t at = b.n;
    nz_put(&b, "IDAT", 4);
    nz_put(&b, z, zn);
    c = elbo_crc32(b.p + at, zn + 4);
    uint8_t cd[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    nz_put(&b, cd, 4);
    nz_put(&b, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    free(z);
    return b;
}

static void png_seeds(void)
{
    uint8_t px[16 * 12 * 4];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)((i % 48) * 5 + i / 97);
    for (int c = 1; c <= 4; c++) {
        uint8_t *png;
        size_t len;
        char name[16];
        if (elbo_png_encode(px, 16, 12, c, &png, &len) != ELBO_OK) {
            fprintf(stderr, "gen_seeds: %s\n", elbo_last_error());
            exit(1);
        }
        snprintf(name, sizeof name, "c%d", c);
        put("png", name, png, len);
        free(png);
    }
    put_nz("png", "adam7", interlaced_png(13, 9));
    put("png", "fixed-zlib", "\x78\xda\xcb\x48\xcd\xc9\xc9\xd7\x51\xc8\x40\xa2\x14\xca\xf3\x8b\x72\x52\x00\x74\x87\x09\x1d", 23);
}

static void safetensors_seeds(void)
{
    float a[6] = {1, -2, 3, 4, 5, 6}, b[2] = {0.5f, -0.5f};
    elbo_st_out t[2] = {{"encoder.0.weight", a, 2, {3, 2}}, {"encoder.0.bias", b, 1, {2}}};
    const char *k[1] = {"format"}, *v[1] = {"pt"};
    char path[4096];
    snprintf(path, sizeof path, "%s/safetensors", root);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/safetensors/f32", root);
    if (elbo_safetensors_write(path, t, 2, k, v, 1) != ELBO_OK) {
        fprintf(stderr, "gen_seeds: %s\n", elbo_last_error());
        exit(1);
    }
    const char *h = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                    "\"b\":{\"dtype\":\"F16\",\"shape\":[1,1],\"data_offsets\":[4,6]},"
                    "\"c\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[6,14]},"
                    "\"__metadata__\":{\"k\":\"v\\u00e9\"}}";
    nz_buf f = {0};
    nz_u64(&f, strlen(h));
    nz_put(&f, h, strlen(h));
    nz_put(&f, "\x80\x3f\x00\xc0\x00\x3c\x00\x00\x00\x00\x00\x00\xf0\x3f", 14);
    put_nz("safetensors", "mixed", f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    root = argv[1];
    if (mkdir(root, 0777) != 0 && errno != EEXIST) {
        perror(root);
        return 1;
    }
    idx_seeds();
    csv_seeds();
    checkpoint_seeds();
    dsprites_factors_seeds();
    npy_seeds();
    npz_seeds();
    png_seeds();
    safetensors_seeds();
    prior_init_seeds();
    return 0;
}
