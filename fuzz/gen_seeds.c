/* Writes the seed corpus of the fuzz harnesses: small valid files and a few
 * near-misses of each format, generated here rather than kept as binary blobs.
 *   gen_seeds DIR      writes seed files into DIR/idx/, DIR/csv/, DIR/checkpoint/ and DIR/dsprites_factors/ */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/io/checkpoint.h"
#include "models/io/file.h"


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
    return 0;
}
