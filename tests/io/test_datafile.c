/* One data set in every form --data reads (IDX, .npy uint8 / float32 /
 * float64, .npz stored and deflated, NCHW and NHWC arrays, a folder of PNG
 * class folders) loads to the same examples and labels, and a VAE trained
 * from each form ends with the same bits as from IDX. Plus the folder rules
 * (class order, gray vs colour, resizing) and the held-out test split. */
#include <math.h>
#include <sys/stat.h>

#include "io_util.h"
#include "models/io/datafile.h"
#include "models/io/imagefolder.h"
#include "models/io/npy.h"
#include "models/io/png.h"
#include "models/vae/vae_train.h"
#include "npz_util.h"

#define NTR 200
#define NTE 60
#define R 6
#define C 5
#define D (R * C)
#define K 4

static char *dir;
static uint8_t xtr[NTR * D], xte[NTE * D], ytr[NTR], yte[NTE];

static void setup(void)
{
    dir = iu_tempdir();
    uint64_t s = 7;
    for (size_t i = 0; i < NTR * D; i++)
        s = s * 6364136223846793005ull + 1, xtr[i] = (uint8_t)(s >> 56);
    for (size_t i = 0; i < NTE * D; i++)
        s = s * 6364136223846793005ull + 1, xte[i] = (uint8_t)(s >> 56);
    for (int i = 0; i < NTR; i++)
        ytr[i] = (uint8_t)((i * 7 + i / 3) % K);
    for (int i = 0; i < NTE; i++)
        yte[i] = (uint8_t)((i * 5 + 1) % K);
}

static void rm_rf(const char *p)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    cr_assert_eq(system(cmd), 0);
}

static void teardown(void)
{
    rm_rf(dir);
    free(dir);
}
TestSuite(datafile, .init = setup, .fini = teardown);

static const char *sub(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

static void put_file(const char *p, const void *d, size_t n) { iu_write(p, d, n); }

static void put_idx(const char *p, const uint8_t *d, size_t n, int rank)
{
    nz_buf b = {0};
    uint8_t magic[4] = {0, 0, 8, (uint8_t)rank};
    nz_put(&b, magic, 4);
    uint32_t dims[3] = {(uint32_t)(n / (rank == 3 ? D : 1)), R, C};
    for (int i = 0; i < rank; i++) {
        uint8_t v[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        nz_put(&b, v, 4);
    }
    nz_put(&b, d, n);
    put_file(p, b.p, b.n);
    free(b.p);
}

static void idx_dir(const char *d)
{
    mkdir(d, 0777);
    char p[4200];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", d), put_idx(p, xtr, sizeof xtr, 3);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", d), put_idx(p, ytr, sizeof ytr, 1);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", d), put_idx(p, xte, sizeof xte, 3);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", d), put_idx(p, yte, sizeof yte, 1);
}

/* The images as .npy of dtype descr (u8 -> v, f4/f8 -> v / 255), optionally (N, 3, R, C) NCHW. */
static nz_buf images_npy(const uint8_t *x, size_t n, const char *descr)
{
    size_t cnt = n * D, sz = descr[2] == '8' ? 8 : descr[1] == 'f' ? 4 : 1;
    uint8_t *d = malloc(cnt * sz);
    for (size_t i = 0; i < cnt; i++) {
        if (sz == 1) {
            d[i] = x[i];
        } else if (sz == 4) {
            float v = (float)x[i] / 255.0f;
            memcpy(d + 4 * i, &v, 4);
        } else {
            double v = (double)x[i] / 255.0;
            memcpy(d + 8 * i, &v, 8);
        }
    }
    char shape[64];
    snprintf(shape, sizeof shape, "(%zu, %d, %d)", n, R, C);
    nz_buf b = nz_npy(descr, shape, d, cnt * sz);
    free(d);
    return b;
}

static nz_buf labels_npy(const uint8_t *y, size_t n)
{
    int64_t *v = malloc(n * 8);
    for (size_t i = 0; i < n; i++)
        v[i] = y[i];
    char shape[32];
    snprintf(shape, sizeof shape, "(%zu,)", n);
    nz_buf b = nz_npy("<i8", shape, v, n * 8);
    free(v);
    return b;
}

static void save(const char *name, nz_buf b)
{
    put_file(sub(name), b.p, b.n);
    free(b.p);
}

static elbo_data_request req(const char *path)
{
    elbo_data_request rq = {0};
    rq.path = path;
    return rq;
}

static void load(const elbo_data_request *rq, elbo_dataset *tr, elbo_dataset *te)
{
    char info[2048];
    cr_assert_eq(elbo_data_load(rq, tr, te, info, sizeof info), ELBO_OK, "%s: %s", rq->path, elbo_last_error());
    cr_assert(strstr(info, "train: ") && strstr(info, "test: "), "info: %s", info);
}

/* Same examples (as floats) and labels, in the order given by perm (NULL: identity). */
static void same_data(const elbo_dataset *a, const elbo_dataset *b, const size_t *perm, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: count", what);
    cr_assert_eq(a->d, b->d, "%s: size", what);
    float *ra = malloc(a->d * sizeof(float)), *rb = malloc(b->d * sizeof(float));
    for (size_t i = 0; i < a->n; i++) {
        size_t j = perm ? perm[i] : i;
        uint8_t la = 0, lb = 0;
        elbo_dataset_rows(a, i, 1, ra, &la);
        elbo_dataset_rows(b, j, 1, rb, &lb);
        cr_assert_eq(memcmp(ra, rb, a->d * sizeof(float)), 0, "%s: example %zu differs", what, i);
        cr_assert_eq(la, lb, "%s: label %zu", what, i);
    }
    free(ra), free(rb);
}

/* One epoch of a small VAE from the data; the weights after it (malloc'd). */
static float *train_once(const elbo_dataset *ds, size_t *n)
{
    elbo_vae_config c = elbo_vae_config_default();
    c.x_dim = (int)ds->d, c.z_dim = 2, c.n_hidden = 1, c.hidden[0] = 8;
    elbo_vae m;
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    tc.seed = 5;
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, &m, ds, &tc), ELBO_OK, "%s", elbo_last_error());
    bool end = false;
    while (!end)
        cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_trainer_free(&tr);
    float *w = malloc(m.params.n * sizeof(float));
    memcpy(w, m.params.w, m.params.n * sizeof(float));
    *n = m.params.n;
    elbo_vae_free(&m);
    return w;
}

Test(datafile, every_form_same_data_same_training_bits)
{
    idx_dir(sub("idx"));
    save("u8.npy", images_npy(xtr, NTR, "|u1"));
    save("u8_test.npy", images_npy(xte, NTE, "|u1"));
    save("f4.npy", images_npy(xtr, NTR, "<f4"));
    save("f4_test.npy", images_npy(xte, NTE, "<f4"));
    save("f8.npy", images_npy(xtr, NTR, "<f8"));
    save("f8_test.npy", images_npy(xte, NTE, "<f8"));
    save("y.npy", labels_npy(ytr, NTR));
    save("y_test.npy", labels_npy(yte, NTE));
    nz_buf a = images_npy(xtr, NTR, "|u1"), b = labels_npy(ytr, NTR), c = images_npy(xte, NTE, "|u1"),
           d = labels_npy(yte, NTE);
    for (int defl = 0; defl < 2; defl++) {
        nz_member m[4] = {{"x_train.npy", a.p, a.n, defl}, {"y_train.npy", b.p, b.n, defl},
                          {"x_test.npy", c.p, c.n, defl}, {"y_test.npy", d.p, d.n, defl}};
        save(defl ? "deflated.npz" : "stored.npz", nz_zip(m, 4, 1));
    }
    free(a.p), free(b.p), free(c.p), free(d.p);

    elbo_dataset ref_tr, ref_te;
    elbo_data_request rq = req(sub("idx"));
    load(&rq, &ref_tr, &ref_te);
    cr_assert_eq(ref_tr.type, ELBO_PIXELS_U8);
    size_t nw;
    float *w_ref = train_once(&ref_tr, &nw);

    const struct {
        const char *x, *y, *xt, *yt;
        elbo_pixel_type type;
    } forms[] = {
        {"u8.npy", "y.npy", "u8_test.npy", "y_test.npy", ELBO_PIXELS_U8},
        {"f4.npy", "y.npy", "f4_test.npy", "y_test.npy", ELBO_PIXELS_F32},
        {"f8.npy", "y.npy", "f8_test.npy", "y_test.npy", ELBO_PIXELS_F32},
        {"stored.npz", NULL, NULL, NULL, ELBO_PIXELS_U8},
        {"deflated.npz", NULL, NULL, NULL, ELBO_PIXELS_U8},
    };
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        char p[4][4096];
        snprintf(p[0], 4096, "%s", sub(forms[f].x));
        elbo_data_request r2 = req(p[0]);
        if (forms[f].y) {
            snprintf(p[1], 4096, "%s", sub(forms[f].y)), snprintf(p[2], 4096, "%s", sub(forms[f].xt));
            snprintf(p[3], 4096, "%s", sub(forms[f].yt));
            r2.labels = p[1], r2.test_path = p[2], r2.test_labels = p[3];
        }
        elbo_dataset tr, te;
        load(&r2, &tr, &te);
        cr_assert_eq(tr.type, forms[f].type, "%s: storage type", forms[f].x);
        cr_assert_eq(tr.rows, R); cr_assert_eq(tr.cols, C); cr_assert_eq(tr.channels, 1);
        cr_assert_eq(tr.classes, K);
        same_data(&tr, &ref_tr, NULL, forms[f].x);
        same_data(&te, &ref_te, NULL, forms[f].x);
        size_t n;
        float *w = train_once(&tr, &n);
        cr_assert_eq(n, nw);
        cr_assert_eq(memcmp(w, w_ref, n * sizeof(float)), 0, "%s: training bits differ from IDX", forms[f].x);
        free(w);
        elbo_dataset_free(&tr), elbo_dataset_free(&te);
    }

    /* A PNG class folder: ImageFolder order (by class, then by name), so the
     * reference is the IDX data sorted the same way. */
    for (int split = 0; split < 2; split++) {
        const uint8_t *x = split ? xte : xtr, *y = split ? yte : ytr;
        int n = split ? NTE : NTR;
        for (int i = 0; i < n; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", sub("png"), "");
            mkdir(sub("png"), 0777);
            snprintf(p, sizeof p, "%s/%s", sub("png"), split ? "test" : "train");
            mkdir(p, 0777);
            snprintf(p, sizeof p, "%s/png/%s/class%d", dir, split ? "test" : "train", y[i]);
            mkdir(p, 0777);
            snprintf(p, sizeof p, "%s/png/%s/class%d/%05d.png", dir, split ? "test" : "train", y[i], i);
            uint8_t *png;
            size_t len;
            cr_assert_eq(elbo_png_encode(x + (size_t)i * D, C, R, 1, &png, &len), ELBO_OK);
            put_file(p, png, len);
            free(png);
        }
    }
    elbo_dataset ptr, pte;
    elbo_data_request r3 = req(sub("png"));
    load(&r3, &ptr, &pte);
    cr_assert_eq(ptr.classes, K);
    size_t order[NTR], k = 0; /* IDX index of each folder example */
    for (int cl = 0; cl < K; cl++)
        for (int i = 0; i < NTR; i++)
            if (ytr[i] == cl)
                order[k++] = (size_t)i;
    same_data(&ptr, &ref_tr, order, "png folder");
    /* the same bits as IDX data in that order */
    uint32_t idx[NTR];
    for (int i = 0; i < NTR; i++)
        idx[i] = (uint32_t)order[i];
    elbo_dataset sorted;
    cr_assert_eq(elbo_dataset_subset(&ref_tr, idx, NTR, &sorted), ELBO_OK);
    size_t n1, n2;
    float *w1 = train_once(&ptr, &n1), *w2 = train_once(&sorted, &n2);
    cr_assert_eq(memcmp(w1, w2, n1 * sizeof(float)), 0, "PNG folder: training bits differ from the sorted IDX data");
    free(w1), free(w2), free(w_ref);
    elbo_dataset_free(&sorted), elbo_dataset_free(&ptr), elbo_dataset_free(&pte);
    elbo_dataset_free(&ref_tr), elbo_dataset_free(&ref_te);
}

Test(datafile, layouts_nchw_and_nhwc)
{
    /* 10 RGB 4x3 images as (N, H, W, C) and as (N, C, H, W): the same HWC data set. */
    uint8_t hwc[10 * 4 * 3 * 3], chw[sizeof hwc];
    for (size_t i = 0; i < sizeof hwc; i++)
        hwc[i] = (uint8_t)(i * 37 + 11);
    for (int e = 0; e < 10; e++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 3; x++)
                for (int c = 0; c < 3; c++)
                    chw[((e * 3 + c) * 4 + y) * 3 + x] = hwc[((e * 4 + y) * 3 + x) * 3 + c];
    save("nhwc.npy", nz_npy("|u1", "(10, 4, 3, 3)", hwc, sizeof hwc));
    save("nchw.npy", nz_npy("|u1", "(10, 3, 4, 3)", chw, sizeof chw));
    elbo_dataset a, at, b, bt;
    elbo_data_request r = req(sub("nhwc.npy"));
    r.test_fraction = 0.2;
    char info[1024];
    cr_assert_eq(elbo_data_load(&r, &a, &at, info, sizeof info), ELBO_OK, "%s", elbo_last_error());
    cr_assert(strstr(info, "NHWC inferred") && strstr(info, "ambiguous"), "%s", info); /* (4, 3, 3): both small */
    r.path = sub("nchw.npy");
    r.layout = ELBO_LAYOUT_NCHW;
    cr_assert_eq(elbo_data_load(&r, &b, &bt, info, sizeof info), ELBO_OK, "%s", elbo_last_error());
    cr_assert(strstr(info, "NCHW as given"), "%s", info);
    cr_assert_eq(a.channels, 3); cr_assert_eq(b.channels, 3); cr_assert_eq(b.rows, 4); cr_assert_eq(b.cols, 3);
    cr_assert_eq(a.n, 8); cr_assert_eq(at.n, 2, "20%% held out");
    same_data(&a, &b, NULL, "nchw");
    same_data(&at, &bt, NULL, "nchw test");
    elbo_dataset_free(&a), elbo_dataset_free(&at), elbo_dataset_free(&b), elbo_dataset_free(&bt);
    /* (N, 1, 28, 28) is NCHW without asking; (N, 784) shows as 28 x 28 */
    uint8_t *z = calloc(4 * 784, 1);
    save("n1.npy", nz_npy("|u1", "(4, 1, 28, 28)", z, 4 * 784));
    save("flat.npy", nz_npy("|u1", "(4, 784)", z, 4 * 784));
    r = req(sub("n1.npy"));
    r.test_fraction = 0.5;
    cr_assert_eq(elbo_data_load(&r, &a, &at, info, sizeof info), ELBO_OK);
    cr_assert(strstr(info, "NCHW inferred"), "%s", info);
    cr_assert_eq(a.rows, 28); cr_assert_eq(a.channels, 1);
    elbo_dataset_free(&a), elbo_dataset_free(&at);
    r.path = sub("flat.npy");
    cr_assert_eq(elbo_data_load(&r, &a, &at, info, sizeof info), ELBO_OK);
    cr_assert_eq(a.rows, 28); cr_assert_eq(a.cols, 28);
    elbo_dataset_free(&a), elbo_dataset_free(&at);
    /* no test split and no fraction: an error saying what to do */
    r.test_fraction = 0;
    cr_assert_eq(elbo_data_load(&r, &a, &at, info, sizeof info), ELBO_ERR_FORMAT);
    iu_assert_msg_has("no test split");
    free(z);
}

static void put_png(const char *p, const uint8_t *px, int w, int h, int ch)
{
    uint8_t *png;
    size_t len;
    cr_assert_eq(elbo_png_encode(px, w, h, ch, &png, &len), ELBO_OK);
    put_file(p, png, len);
    free(png);
}

Test(datafile, folder_rules)
{
    /* classes b, a (sorted: a=0, b=1); colour in one image makes three channels;
     * gray is replicated; alpha dropped; a nested folder follows its parent's files. */
    const char *root = sub("f");
    mkdir(root, 0777);
    char p[4200];
    snprintf(p, sizeof p, "%s/b", root), mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/a", root), mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/a/sub", root), mkdir(p, 0777);
    uint8_t g[4] = {10, 20, 30, 40}, rgba[16] = {1, 2, 3, 255, 4, 5, 6, 0, 7, 8, 9, 9, 10, 11, 12, 99};
    snprintf(p, sizeof p, "%s/b/x.png", root), put_png(p, g, 2, 2, 1);
    snprintf(p, sizeof p, "%s/a/z.png", root), put_png(p, rgba, 2, 2, 4);
    snprintf(p, sizeof p, "%s/a/sub/y.png", root), put_png(p, g, 2, 2, 1);
    snprintf(p, sizeof p, "%s/a/notes.txt", root), put_file(p, "hi", 2);
    elbo_dataset ds;
    elbo_imagefolder_info info;
    cr_assert_eq(elbo_imagefolder_load(root, 0, 0, &ds, &info), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(ds.n, 3); cr_assert_eq(ds.channels, 3); cr_assert_eq(ds.classes, 2);
    cr_assert_str_eq(info.first_class, "a");
    /* order: a/z.png (the class folder's own files first), a/sub/y.png, b/x.png */
    uint8_t *r0 = elbo_dataset_row(&ds, 0), *r1 = elbo_dataset_row(&ds, 1), *r2 = elbo_dataset_row(&ds, 2);
    cr_assert_eq(ds.y[0], 0); cr_assert_eq(ds.y[1], 0); cr_assert_eq(ds.y[2], 1);
    uint8_t want0[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    cr_assert_eq(memcmp(r0, want0, 12), 0, "alpha dropped");
    cr_assert_eq(r1[0], 10); cr_assert_eq(r1[1], 10); cr_assert_eq(r1[2], 10); cr_assert_eq(r1[3], 20);
    cr_assert_eq(r2[9], 40);
    elbo_dataset_free(&ds);
    /* sizes differ: refused without a size, resized with one */
    uint8_t big[16];
    for (int i = 0; i < 16; i++)
        big[i] = (uint8_t)(i * 16);
    snprintf(p, sizeof p, "%s/b/big.png", root), put_png(p, big, 4, 4, 1);
    cr_assert_eq(elbo_imagefolder_load(root, 0, 0, &ds, &info), ELBO_ERR_FORMAT);
    iu_assert_msg_has("--image-size");
    cr_assert_eq(elbo_imagefolder_load(root, 2, 2, &ds, &info), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(info.resized, 1);
    /* b/big.png is the first of class b (names sorted: big < x): area average of each 2x2 block */
    uint8_t *rb = elbo_dataset_row(&ds, 2);
    cr_assert_eq(rb[0], (uint8_t)((0 + 16 + 64 + 80) / 4.0 + 0.5));
    cr_assert_eq(rb[3 * 3], (uint8_t)((160 + 176 + 224 + 240) / 4.0 + 0.5));
    elbo_dataset_free(&ds);
    /* a JPEG is refused by name */
    snprintf(p, sizeof p, "%s/b/photo.JPG", root), put_file(p, "\xff\xd8", 2);
    cr_assert_eq(elbo_imagefolder_load(root, 2, 2, &ds, &info), ELBO_ERR_UNSUPPORTED);
    iu_assert_msg_has("photo.JPG");
}

Test(datafile, resize_rule)
{
    /* down by 3 in x (area), up by 2 in y (nearest) */
    uint8_t src[2 * 6] = {0, 30, 60, 90, 120, 150, 10, 10, 10, 200, 200, 200}, dst[4 * 2];
    elbo_image_resize(src, 2, 6, 1, dst, 4, 2);
    uint8_t want[8] = {30, 120, 30, 120, 10, 200, 10, 200};
    cr_assert_eq(memcmp(dst, want, 8), 0, "%d %d %d %d %d %d %d %d", dst[0], dst[1], dst[2], dst[3], dst[4], dst[5],
                 dst[6], dst[7]);
    /* a non-integer ratio weights partial pixels: 3 -> 2 covers 1.5 pixels each */
    uint8_t s3[3] = {0, 100, 200}, d2[2];
    elbo_image_resize(s3, 1, 3, 1, d2, 1, 2);
    cr_assert_eq(d2[0], 33); /* (0 + 0.5 * 100) / 1.5 = 33.3 */
    cr_assert_eq(d2[1], 167); /* (0.5 * 100 + 200) / 1.5 = 166.7 */
}
