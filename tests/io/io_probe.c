/* A command-line face of the readers and writers for tests/io/peer_formats.py,
 * which writes files with NumPy and PIL and compares what is read here.
 *
 *   io_probe png FILE OUT.raw              decode; prints "W H C", writes the samples
 *   io_probe pngs DIR FILE...              the same for many files (one process): DIR/K.raw for
 *                                          the K-th, one line "W H C" or "error MESSAGE" each
 *   io_probe pngenc IN.raw W H C OUT.png   encode IN.raw's samples (H, W, C)
 *   io_probe data PATH OUT [LAYOUT [HxW [LABELS]]]
 *                                          load PATH as --data does (half held out when
 *                                          it has no test split); writes OUT_x.npy
 *                                          (float32, the training split as its readers
 *                                          convert it, (n, rows, cols, channels)) and
 *                                          OUT_y.npy (uint8) if labelled; prints the info
 * Exit 0 on success, 3 with the error line on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/datafile.h"
#include "models/io/file.h"
#include "models/io/npy.h"
#include "models/io/png.h"

static int fail(void)
{
    fprintf(stderr, "%s\n", elbo_last_error());
    return 3;
}

static int png(const char *in, const char *out)
{
    uint8_t *px;
    int w, h, c;
    if (elbo_png_read(in, &px, &w, &h, &c) != ELBO_OK)
        return fail();
    printf("%d %d %d\n", w, h, c);
    elbo_status st = elbo_write_file_atomic(out, px, (size_t)w * h * c);
    free(px);
    return st == ELBO_OK ? 0 : fail();
}

static int pngs(int argc, char **argv)
{
    for (int i = 3; i < argc; i++) {
        uint8_t *px;
        int w, h, c;
        if (elbo_png_read(argv[i], &px, &w, &h, &c) != ELBO_OK) {
            printf("error %s\n", elbo_last_error());
            continue;
        }
        char out[4096];
        snprintf(out, sizeof out, "%s/%d.raw", argv[2], i - 3);
        elbo_status st = elbo_write_file_atomic(out, px, (size_t)w * h * c);
        free(px);
        if (st != ELBO_OK)
            return fail();
        printf("%d %d %d\n", w, h, c);
    }
    return 0;
}

static int pngenc(const char *in, int w, int h, int c, const char *out)
{
    uint8_t *px, *png;
    size_t n, len;
    if (elbo_read_file(in, 0, &px, &n) != ELBO_OK)
        return fail();
    if (n != (size_t)w * h * c) {
        fprintf(stderr, "%s: %zu bytes, expected %d x %d x %d\n", in, n, w, h, c);
        return 3;
    }
    elbo_status st = elbo_png_encode(px, w, h, c, &png, &len);
    free(px);
    if (st != ELBO_OK)
        return fail();
    st = elbo_write_file_atomic(out, png, len);
    free(png);
    return st == ELBO_OK ? 0 : fail();
}

static int data(int argc, char **argv)
{
    elbo_data_request rq = {0};
    rq.path = argv[2];
    rq.test_fraction = 0.5;
    if (argc > 4 && elbo_layout_parse(argv[4], &rq.layout) != ELBO_OK)
        return fail();
    if (argc > 5 && strcmp(argv[5], "-") != 0 && sscanf(argv[5], "%dx%d", &rq.height, &rq.width) != 2)
        return 2;
    if (argc > 6)
        rq.labels = argv[6];
    elbo_dataset tr, te;
    char info[4096];
    if (elbo_data_load(&rq, &tr, &te, info, sizeof info) != ELBO_OK)
        return fail();
    printf("%s\n", info);
    char path[4096];
    snprintf(path, sizeof path, "%s_x.npy", argv[3]);
    float *x = malloc(tr.n * tr.d * sizeof(float));
    elbo_dataset_rows(&tr, 0, tr.n, x, NULL);
    uint64_t shape[4] = {tr.n, (uint64_t)tr.rows, (uint64_t)tr.cols, (uint64_t)tr.channels};
    elbo_status st = elbo_npy_write_f32(path, x, shape, 4);
    free(x);
    if (st == ELBO_OK && tr.y) {
        elbo_npy_writer w;
        snprintf(path, sizeof path, "%s_y.npy", argv[3]);
        if ((st = elbo_npy_writer_open(&w, path, "|u1", shape, 1)) == ELBO_OK) {
            elbo_npy_writer_put(&w, tr.y, tr.n);
            st = elbo_npy_writer_close(&w);
        }
    }
    elbo_dataset_free(&tr);
    elbo_dataset_free(&te);
    return st == ELBO_OK ? 0 : fail();
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "png"))
        return png(argv[2], argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "pngs"))
        return pngs(argc, argv);
    if (argc == 7 && !strcmp(argv[1], "pngenc"))
        return pngenc(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argv[6]);
    if (argc >= 4 && !strcmp(argv[1], "data"))
        return data(argc, argv);
    fprintf(stderr, "usage: io_probe png FILE OUT.raw | pngenc IN.raw W H C OUT.png | data PATH OUT [LAYOUT [HxW [LABELS]]]\n");
    return 2;
}
