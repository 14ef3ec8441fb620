/* IDX reader and dataset loader on valid and hostile files. */
#include <math.h>
#include <sys/stat.h>

#include "io_util.h"
#include "models/io/dataset.h"
#include "models/io/idx.h"

static char *dir;
static void setup(void) { dir = iu_tempdir(); }
static void teardown(void) { iu_rmdir(dir); }
TestSuite(idx, .init = setup, .fini = teardown);
TestSuite(dataset, .init = setup, .fini = teardown);

/* An IDX u8 file with the given dims and payload length (payload = i % 256). */
static size_t make_idx(uint8_t *buf, int rank, const uint32_t *dims, size_t payload)
{
    size_t p = 0;
    buf[p++] = 0;
    buf[p++] = 0;
    buf[p++] = ELBO_IDX_TYPE_U8;
    buf[p++] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        buf[p++] = (uint8_t)(dims[i] >> 24);
        buf[p++] = (uint8_t)(dims[i] >> 16);
        buf[p++] = (uint8_t)(dims[i] >> 8);
        buf[p++] = (uint8_t)dims[i];
    }
    for (size_t i = 0; i < payload; i++)
        buf[p++] = (uint8_t)(i % 256);
    return p;
}

static void write_idx(const char *name, int rank, const uint32_t *dims, size_t payload)
{
    uint8_t buf[4096];
    size_t n = make_idx(buf, rank, dims, payload);
    iu_write(iu_path(dir, name), buf, n);
}

Test(idx, valid_images)
{
    uint32_t dims[] = {2, 3, 4};
    write_idx("im", 3, dims, 24);
    elbo_idx im;
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "im"), &im), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(im.rank, 3);
    cr_assert_eq(im.dims[0], 2);
    cr_assert_eq(im.dims[1], 3);
    cr_assert_eq(im.dims[2], 4);
    cr_assert_eq(im.count, 24);
    cr_assert_eq(im.data[23], 23);
    elbo_idx_free(&im);
}

Test(idx, truncated_payload_and_header)
{
    uint32_t dims[] = {2, 3, 4};
    write_idx("im", 3, dims, 23);
    elbo_idx im;
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "im"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("truncated: expected 24 data bytes, got 23");
    iu_assert_msg_has("/im");
    uint8_t buf[64];
    size_t n = make_idx(buf, 3, dims, 0);
    iu_write(iu_path(dir, "hdr"), buf, n - 2);
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "hdr"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("truncated header");
}

Test(idx, trailing_bytes)
{
    uint32_t dims[] = {5};
    write_idx("lb", 1, dims, 6);
    elbo_idx lb;
    cr_assert_eq(elbo_idx_read_labels(iu_path(dir, "lb"), &lb), ELBO_ERR_FORMAT);
    iu_assert_msg_has("trailing data: expected 5 data bytes, got 6");
}

Test(idx, wrong_magic_type_and_rank)
{
    uint32_t dims[] = {1, 1, 1};
    uint8_t buf[64];
    size_t n = make_idx(buf, 3, dims, 1);
    buf[0] = 0x1f; /* a gzip file starts 1f 8b */
    buf[1] = 0x8b;
    iu_write(iu_path(dir, "gz"), buf, n);
    elbo_idx im;
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "gz"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("bad magic: expected 0x00000803");
    n = make_idx(buf, 3, dims, 1);
    buf[2] = 0x0D; /* float32 */
    iu_write(iu_path(dir, "f32"), buf, n);
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "f32"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("element type: expected 0x08");
    /* labels file given as images */
    uint32_t ld[] = {3};
    write_idx("lb", 1, ld, 3);
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "lb"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("rank: expected 3 (images), got 1");
}

Test(idx, huge_dims_overflow)
{
    uint32_t dims[] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    write_idx("huge", 3, dims, 16);
    elbo_idx im;
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "huge"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("overflow");
    /* large but representable: must be rejected by the length check, never allocated */
    uint32_t big[] = {60000, 0x10000, 0x10000};
    write_idx("big", 3, big, 16);
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "big"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("truncated");
}

Test(idx, zero_dim)
{
    uint32_t dims[] = {0, 28, 28};
    write_idx("z", 3, dims, 0);
    elbo_idx im;
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "z"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("dimension 0: expected > 0, got 0");
}

Test(idx, empty_directory_missing)
{
    iu_write(iu_path(dir, "empty"), "", 0);
    elbo_idx im;
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "empty"), &im), ELBO_ERR_FORMAT);
    iu_assert_msg_has("empty file");
    cr_assert_eq(elbo_idx_read_images(dir, &im), ELBO_ERR_IO);
    iu_assert_msg_has("expected a file, got a directory");
    cr_assert_eq(elbo_idx_read_images(iu_path(dir, "missing"), &im), ELBO_ERR_IO);
    iu_assert_msg_has("missing: cannot open");
    cr_assert_null(im.data);
}

Test(idx, unreadable_file, .disabled = false)
{
    if (geteuid() == 0)
        cr_skip("root reads files regardless of mode");
    uint32_t dims[] = {1};
    write_idx("lb", 1, dims, 1);
    chmod(iu_path(dir, "lb"), 0);
    elbo_idx lb;
    cr_assert_eq(elbo_idx_read_labels(iu_path(dir, "lb"), &lb), ELBO_ERR_IO);
    iu_assert_msg_has("Permission denied");
}

/* ---- dataset ---- */

/* A tiny split: n images of 2x3 with pixel (i + k) % 256, labels i % classes_mod. */
static void write_split(const char *split, uint32_t n, uint32_t n_labels, int label_mod)
{
    uint8_t buf[4096];
    char name[64];
    uint32_t dims[] = {n, 2, 3};
    size_t len = make_idx(buf, 3, dims, (size_t)n * 6);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    iu_write(iu_path(dir, name), buf, len);
    uint32_t ld[] = {n_labels};
    len = make_idx(buf, 1, ld, 0);
    for (uint32_t i = 0; i < n_labels; i++)
        buf[len++] = (uint8_t)(i % (uint32_t)label_mod);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
    iu_write(iu_path(dir, name), buf, len);
}

/* Feature k of the flattened (n, d) data set, as its readers convert it. */
static float at(const elbo_dataset *ds, size_t k)
{
    float *row = malloc(ds->d * sizeof(float));
    elbo_dataset_rows(ds, k / ds->d, 1, row, NULL);
    float v = row[k % ds->d];
    free(row);
    return v;
}

Test(dataset, load_valid)
{
    write_split("train", 7, 7, 10);
    elbo_dataset ds;
    cr_assert_eq(elbo_dataset_load(dir, "train", &ds), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(ds.n, 7);
    cr_assert_eq(ds.d, 6);
    cr_assert_eq(ds.rows, 2);
    cr_assert_eq(ds.cols, 3);
    cr_assert_eq(ds.classes, 10);
    cr_assert_eq(ds.type, ELBO_PIXELS_U8, "IDX pixels stay uint8");
    cr_assert_eq(ds.channels, 1);
    cr_assert_eq(at(&ds, 5), 5.0f / 255.0f, "the one conversion: (float)v / 255.0f");
    cr_assert_eq(ds.y[6], 6);
    cr_assert_eq(elbo_dataset_check(&ds, "ds"), ELBO_OK);
    elbo_dataset_free(&ds);
}

Test(dataset, labels_out_of_range)
{
    write_split("train", 12, 12, 12);
    elbo_dataset ds;
    cr_assert_eq(elbo_dataset_load(dir, "train", &ds), ELBO_ERR_FORMAT);
    iu_assert_msg_has("label 10: expected 0..9, got 10");
    iu_assert_msg_has("train-labels-idx1-ubyte");
}

Test(dataset, count_mismatch)
{
    write_split("t10k", 5, 4, 10);
    elbo_dataset ds;
    cr_assert_eq(elbo_dataset_load(dir, "t10k", &ds), ELBO_ERR_FORMAT);
    iu_assert_msg_has("label count: expected 5");
    iu_assert_msg_has("got 4");
}

Test(dataset, bad_split_missing_dir_and_gz_hint)
{
    elbo_dataset ds;
    cr_assert_eq(elbo_dataset_load(dir, "valid", &ds), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_dataset_load(iu_path(dir, "nope"), "train", &ds), ELBO_ERR_IO);
    iu_assert_msg_has("fetch-data.sh");
    iu_write(iu_path(dir, "train-images-idx3-ubyte.gz"), "x", 1);
    cr_assert_eq(elbo_dataset_load(dir, "train", &ds), ELBO_ERR_IO);
    iu_assert_msg_has("run scripts/fetch-data.sh");
    iu_write(iu_path(dir, "file"), "x", 1);
    cr_assert_eq(elbo_dataset_load(iu_path(dir, "file"), "train", &ds), ELBO_ERR_IO);
    iu_assert_msg_has("expected a directory");
}

Test(dataset, from_arrays_rejects_nan_and_range)
{
    float x[4] = {0, 0.5f, NAN, 1};
    uint8_t y[2] = {0, 1};
    elbo_dataset ds;
    cr_assert_eq(elbo_dataset_from_arrays(x, y, 2, 1, 2, 2, &ds), ELBO_ERR_NONFINITE);
    iu_assert_msg_has("example 1, pixel 0");
    x[2] = 1.5f;
    cr_assert_eq(elbo_dataset_from_arrays(x, y, 2, 1, 2, 2, &ds), ELBO_ERR_FORMAT);
    x[2] = 0.25f;
    y[1] = 2;
    cr_assert_eq(elbo_dataset_from_arrays(x, y, 2, 1, 2, 2, &ds), ELBO_ERR_FORMAT);
    y[1] = 1;
    cr_assert_eq(elbo_dataset_from_arrays(x, y, 2, 1, 2, 2, &ds), ELBO_OK);
    elbo_dataset_free(&ds);
}

static elbo_dataset ramp(size_t n)
{
    float *x = malloc(n * 2 * sizeof(float));
    uint8_t *y = malloc(n);
    for (size_t i = 0; i < n; i++) {
        x[2 * i] = (float)i / (float)n;
        x[2 * i + 1] = 0.5f;
        y[i] = (uint8_t)(i % 3);
    }
    elbo_dataset ds;
    cr_assert_eq(elbo_dataset_from_arrays(x, y, n, 1, 2, 3, &ds), ELBO_OK);
    free(x);
    free(y);
    return ds;
}

Test(dataset, split_last_and_seeded)
{
    elbo_dataset ds = ramp(10), tr, va;
    cr_assert_eq(elbo_dataset_split(&ds, 3, false, 0, &tr, &va), ELBO_OK);
    cr_assert_eq(tr.n, 7);
    cr_assert_eq(va.n, 3);
    cr_assert_eq(at(&va, 0), at(&ds, 14));
    cr_assert_eq(va.y[2], ds.y[9]);
    elbo_dataset_free(&tr);
    elbo_dataset_free(&va);
    elbo_dataset tr2, va2;
    cr_assert_eq(elbo_dataset_split(&ds, 4, true, 42, &tr, &va), ELBO_OK);
    cr_assert_eq(elbo_dataset_split(&ds, 4, true, 42, &tr2, &va2), ELBO_OK);
    cr_assert_eq(memcmp(va.pixels, va2.pixels, 8 * sizeof(float)), 0, "same seed, same split");
    /* every example lands in exactly one part */
    int seen[10] = {0};
    for (size_t i = 0; i < tr.n; i++)
        seen[(int)lrintf(at(&tr, 2 * i) * 10)]++;
    for (size_t i = 0; i < va.n; i++)
        seen[(int)lrintf(at(&va, 2 * i) * 10)]++;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(seen[i], 1);
    elbo_dataset_free(&tr2);
    elbo_dataset_free(&va2);
    cr_assert_eq(elbo_dataset_split(&ds, 11, false, 0, &tr2, &va2), ELBO_ERR_INVALID);
    elbo_dataset_free(&tr);
    elbo_dataset_free(&va);
    elbo_dataset_free(&ds);
}

Test(dataset, binarize_static_and_dynamic)
{
    elbo_dataset a = ramp(100), b = ramp(100);
    cr_assert_eq(elbo_dataset_binarize(&a, 7), ELBO_OK);
    cr_assert_eq(elbo_dataset_binarize(&b, 7), ELBO_OK);
    cr_assert_eq(a.type, ELBO_PIXELS_BITS, "binarized data is kept as bits");
    cr_assert_eq(a.row_bytes, 1);
    cr_assert_eq(memcmp(a.pixels, b.pixels, 100), 0);
    int ones = 0;
    for (int i = 0; i < 200; i++) {
        cr_assert(at(&a, (size_t)i) == 0.0f || at(&a, (size_t)i) == 1.0f);
        ones += at(&a, (size_t)i) == 1.0f;
    }
    cr_assert(ones > 60 && ones < 140, "about half the pixels: %d", ones);
    cr_assert_eq(at(&a, 0), 0.0f, "a zero pixel never turns on");
    elbo_dataset c = ramp(100); /* grey levels, not yet binarized */
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    float out[200];
    const float *cx = (const float *)(const void *)c.pixels; /* float32 storage */
    elbo_binarize(&r, cx, out, 200);
    float out2[200];
    elbo_binarize(&r, cx, out2, 200);
    elbo_dataset_free(&c);
    cr_assert_neq(memcmp(out, out2, sizeof out), 0, "fresh noise per minibatch");
    elbo_dataset_free(&a);
    elbo_dataset_free(&b);
}

Test(dataset, one_hot)
{
    uint8_t y[3] = {2, 0, 1};
    float oh[9];
    elbo_one_hot(y, 3, 3, oh);
    float want[9] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    cr_assert_eq(memcmp(oh, want, sizeof want), 0);
}

Test(dataset, batcher_epochs_and_resume)
{
    elbo_dataset ds = ramp(10);
    elbo_batcher b, c;
    cr_assert_eq(elbo_batcher_init(&b, &ds, 4, true, false, 5), ELBO_OK);
    cr_assert_eq(elbo_batcher_batches(&b), 3);
    const uint32_t *idx;
    int seen[10] = {0};
    size_t sizes[3];
    for (int k = 0; k < 3; k++) {
        sizes[k] = elbo_batcher_next(&b, &idx);
        for (size_t i = 0; i < sizes[k]; i++)
            seen[idx[i]]++;
    }
    cr_assert_eq(sizes[0], 4);
    cr_assert_eq(sizes[2], 2);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(seen[i], 1, "each example once per epoch");
    cr_assert_eq(elbo_batcher_next(&b, &idx), 0, "end of epoch");
    cr_assert_eq(b.epoch, 1);
    uint32_t e1[4];
    cr_assert_eq(elbo_batcher_next(&b, &idx), 4);
    memcpy(e1, idx, sizeof e1);
    uint32_t e1b[4];
    cr_assert_eq(elbo_batcher_next(&b, &idx), 4);
    memcpy(e1b, idx, sizeof e1b);
    /* resume at (epoch 1, position 4) in a fresh batcher */
    cr_assert_eq(elbo_batcher_init(&c, &ds, 4, true, false, 5), ELBO_OK);
    cr_assert_eq(elbo_batcher_seek(&c, 1, 4), ELBO_OK);
    cr_assert_eq(elbo_batcher_next(&c, &idx), 4);
    cr_assert_eq(memcmp(idx, e1b, sizeof e1b), 0, "resume continues identically");
    cr_assert_eq(elbo_batcher_seek(&c, 0, 11), ELBO_ERR_INVALID);
    elbo_batcher_free(&b);
    elbo_batcher_free(&c);
    /* drop_last */
    cr_assert_eq(elbo_batcher_init(&b, &ds, 4, false, true, 5), ELBO_OK);
    cr_assert_eq(elbo_batcher_batches(&b), 2);
    cr_assert_eq(elbo_batcher_next(&b, &idx), 4);
    cr_assert_eq(idx[0], 0, "no shuffle keeps the order");
    cr_assert_eq(elbo_batcher_next(&b, &idx), 4);
    cr_assert_eq(elbo_batcher_next(&b, &idx), 0);
    elbo_batcher_free(&b);
    cr_assert_eq(elbo_batcher_init(&b, &ds, 0, false, false, 5), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_batcher_init(&b, &ds, 11, false, true, 5), ELBO_ERR_INVALID);
    float x[8];
    uint8_t y[4];
    uint32_t pick[4] = {9, 0, 3, 3};
    elbo_dataset_gather(&ds, pick, 4, x, y);
    cr_assert_eq(x[0], at(&ds, 18));
    cr_assert_eq(y[0], ds.y[9]);
    elbo_dataset_free(&ds);
}

/* The real Fashion-MNIST, when scripts/fetch-data.sh has been run. */
Test(dataset, fashion_mnist_if_present)
{
    const char *env = getenv("ELBO_FASHION_MNIST");
    const char *cands[] = {env, "data/fashion-mnist", "../data/fashion-mnist", "../../data/fashion-mnist"};
    const char *found = NULL;
    struct stat sb;
    for (size_t i = 0; i < sizeof cands / sizeof *cands && !found; i++)
        if (cands[i] && stat(iu_path(cands[i], "t10k-images-idx3-ubyte"), &sb) == 0)
            found = cands[i];
    if (!found)
        cr_skip("Fashion-MNIST not unpacked (run scripts/fetch-data.sh)");
    elbo_dataset te;
    cr_assert_eq(elbo_dataset_load(found, "t10k", &te), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(te.n, 10000);
    cr_assert_eq(te.d, 784);
    cr_assert_eq(te.rows, 28);
    int counts[10] = {0};
    for (size_t i = 0; i < te.n; i++)
        counts[te.y[i]]++;
    for (int k = 0; k < 10; k++)
        cr_assert_eq(counts[k], 1000, "class %d", k);
    cr_assert_eq(elbo_dataset_check(&te, "t10k"), ELBO_OK);
    elbo_dataset_free(&te);
    if (stat(iu_path(found, "train-images-idx3-ubyte"), &sb) == 0) {
        elbo_dataset tr;
        cr_assert_eq(elbo_dataset_load(found, "train", &tr), ELBO_OK, "%s", elbo_last_error());
        cr_assert_eq(tr.n, 60000);
        elbo_dataset_free(&tr);
    }
}
