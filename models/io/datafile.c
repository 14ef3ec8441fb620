#include "models/io/datafile.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/io/excerpt.h"
#include "models/io/imagefolder.h"
#include "models/io/npy.h"
#include "models/io/source.h"
#include "models/io/zip.h"

/* Largest channel count taken for an image axis when inferring the layout. */
#define MAX_CHANNELS 4
/* Examples converted per read when transposing NCHW or packing bits. */
#define EXAMPLE_CHUNK 256

typedef enum kind { KIND_IDX, KIND_SPLIT_FOLDERS, KIND_FOLDER, KIND_NPY, KIND_NPZ } kind;

static void note(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || !cap)
        return;
    size_t k = strlen(buf);
    if (k + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, cap - k, fmt, ap);
    va_end(ap);
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

static const char *join(char *buf, size_t cap, const char *a, const char *b)
{
    snprintf(buf, cap, "%s/%s", a, b);
    return buf;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static elbo_status sniff(const char *path, kind *k)
{
    char p[PATH_MAX];
    struct stat sb;
    if (stat(path, &sb) != 0)
        return elbo_fail(ELBO_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        if (is_file(join(p, sizeof p, path, "train-images-idx3-ubyte")) ||
            is_file(join(p, sizeof p, path, "t10k-images-idx3-ubyte")) ||
            is_file(join(p, sizeof p, path, "train-images-idx3-ubyte.gz")))
            *k = KIND_IDX;
        else if (is_dir(join(p, sizeof p, path, "train")))
            *k = KIND_SPLIT_FOLDERS;
        else
            *k = KIND_FOLDER;
        return ELBO_OK;
    }
    if (has_suffix(path, ".npy")) {
        *k = KIND_NPY;
        return ELBO_OK;
    }
    if (has_suffix(path, ".npz")) {
        *k = KIND_NPZ;
        return ELBO_OK;
    }
    /* Any other name: by its first bytes. */
    elbo_source s;
    uint8_t head[6] = {0};
    elbo_status st = elbo_source_open(&s, path);
    if (st != ELBO_OK)
        return st;
    if (s.size >= sizeof head)
        st = elbo_source_read(&s, 0, head, sizeof head, "the magic number");
    elbo_source_close(&s);
    if (st != ELBO_OK)
        return st;
    if (memcmp(head, "\x93NUMPY", 6) == 0)
        *k = KIND_NPY;
    else if (memcmp(head, "PK\x03\x04", 4) == 0)
        *k = KIND_NPZ;
    else
        return elbo_fail(ELBO_ERR_FORMAT, "%s: expected a .npy or .npz file, an IDX directory or a folder of PNG "
                         "class folders", path);
    return ELBO_OK;
}

/* ---- arrays ---- */

typedef struct shape4 {
    uint64_t n;
    int rows, cols, channels;
    int nchw;
} shape4;

static elbo_status image_shape(const char *name, const elbo_npy_info *h, elbo_layout layout, shape4 *s,
                               char *how, size_t how_cap)
{
    memset(s, 0, sizeof *s);
    how[0] = '\0';
    if (h->ndim < 2 || h->ndim > 4)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: %d-D array: expected (N, D) vectors, (N, H, W) or (N, H, W, C) / "
                         "(N, C, H, W) images", name, h->ndim);
    uint64_t n = h->shape[0], a = h->shape[1], b = h->ndim > 2 ? h->shape[2] : 1, c = h->ndim > 3 ? h->shape[3] : 1;
    if (n == 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: no examples (shape[0] is 0)", name);
    if (h->ndim == 2) {
        uint64_t side = (uint64_t)llround(sqrt((double)a));
        if (side * side == a)
            a = side, b = side, snprintf(how, how_cap, "vectors of %llu shown as %llux%llu", (unsigned long long)(side * side),
                                         (unsigned long long)side, (unsigned long long)side);
        else
            b = a, a = 1, snprintf(how, how_cap, "vectors of %llu", (unsigned long long)b);
    } else if (h->ndim == 3) {
        snprintf(how, how_cap, "gray images");
    } else {
        int c_last = c >= 1 && c <= MAX_CHANNELS, c_first = a >= 1 && a <= MAX_CHANNELS;
        if (layout == ELBO_LAYOUT_AUTO) {
            if (!c_last && !c_first)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: shape (%llu, %llu, %llu, %llu): no axis of 1..%d channels "
                                 "(expected N x H x W x C or N x C x H x W)", name, (unsigned long long)n,
                                 (unsigned long long)a, (unsigned long long)b, (unsigned long long)c, MAX_CHANNELS);
            s->nchw = c_first && !c_last;
            snprintf(how, how_cap, "%s inferred%s", s->nchw ? "NCHW" : "NHWC",
                     c_first && c_last ? " (ambiguous: NHWC assumed, --layout to change)" : "");
        } else {
            s->nchw = layout == ELBO_LAYOUT_NCHW;
            snprintf(how, how_cap, "%s as given", s->nchw ? "NCHW" : "NHWC");
        }
        if (s->nchw) {
            uint64_t ch = a;
            a = b, b = c, c = ch;
        }
        if (c < 1 || c > MAX_CHANNELS)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: %llu channels: expected 1..%d", name, (unsigned long long)c,
                             MAX_CHANNELS);
    }
    if (a == 0 || b == 0 || a > INT_MAX || b > INT_MAX)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: image sides %llu x %llu: expected 1..%d", name, (unsigned long long)a,
                         (unsigned long long)b, INT_MAX);
    s->n = n, s->rows = (int)a, s->cols = (int)b, s->channels = (int)c;
    return ELBO_OK;
}

/* Elements first..first+count of the array into dst as the storage type. */
static elbo_status read_elements(const elbo_source *src, const elbo_npy_info *h, elbo_pixel_type type, uint64_t first,
                                 size_t count, uint8_t *dst)
{
    return type == ELBO_PIXELS_F32 ? elbo_npy_read_f32(src, h, first, count, (float *)(void *)dst)
                                   : elbo_npy_read_u8(src, h, first, count, dst);
}

/* The image array in src into ds (storage by dtype, NCHW transposed). */
static elbo_status array_to_dataset(const elbo_source *src, const elbo_npy_info *h, elbo_layout layout,
                                   elbo_dataset *ds, char *info, size_t cap)
{
    shape4 s;
    char how[128];
    elbo_status st = image_shape(src->name, h, layout, &s, how, sizeof how);
    if (st != ELBO_OK)
        return st;
    elbo_pixel_type type = h->kind == ELBO_NPY_FLOAT ? ELBO_PIXELS_F32 : ELBO_PIXELS_U8;
    if (s.n > SIZE_MAX / 2)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: %llu examples: too many", src->name, (unsigned long long)s.n);
    if ((st = elbo_dataset_alloc(ds, type, (size_t)s.n, s.rows, s.cols, s.channels, false)) != ELBO_OK)
        return st;
    size_t d = ds->d, esize = type == ELBO_PIXELS_F32 ? sizeof(float) : 1;
    if (!s.nchw) {
        st = read_elements(src, h, type, 0, ds->n * d, ds->pixels); /* already HWC */
    } else {
        uint8_t *tmp = malloc(EXAMPLE_CHUNK * d * esize);
        if (!tmp)
            st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", src->name);
        size_t plane = (size_t)s.rows * (size_t)s.cols;
        for (size_t i = 0; tmp && i < ds->n && st == ELBO_OK; i += EXAMPLE_CHUNK) {
            size_t m = ds->n - i < EXAMPLE_CHUNK ? ds->n - i : EXAMPLE_CHUNK;
            if ((st = read_elements(src, h, type, (uint64_t)i * d, m * d, tmp)) != ELBO_OK)
                break;
            for (size_t e = 0; e < m; e++) /* (C, H, W) -> (H, W, C) */
                for (size_t c = 0; c < (size_t)s.channels; c++)
                    for (size_t p = 0; p < plane; p++)
                        memcpy(elbo_dataset_row(ds, i + e) + (p * (size_t)s.channels + c) * esize,
                               tmp + (e * d + c * plane + p) * esize, esize);
        }
        free(tmp);
    }
    if (st == ELBO_OK && h->kind == ELBO_NPY_BOOL) { /* 0/1 bytes -> bits */
        uint8_t *bits = calloc(ds->n * ((d + 7) / 8) + 1, 1);
        if (!bits) {
            st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", src->name);
        } else {
            for (size_t i = 0; i < ds->n; i++)
                for (size_t j = 0; j < d; j++)
                    if (elbo_dataset_row(ds, i)[j])
                        bits[i * ((d + 7) / 8) + j / 8] |= (uint8_t)(1u << (j % 8));
            free(ds->pixels);
            ds->pixels = bits;
            ds->type = ELBO_PIXELS_BITS;
            ds->row_bytes = (d + 7) / 8;
        }
    }
    if (st == ELBO_OK)
        st = elbo_dataset_check(ds, src->name);
    if (st != ELBO_OK) {
        elbo_dataset_free(ds);
        return st;
    }
    note(info, cap, "%s: %zu x %d x %d x %d %s%s (%s)", src->name, ds->n, ds->rows, ds->cols, ds->channels,
         elbo_npy_type_name(h),
         h->kind == ELBO_NPY_FLOAT && h->itemsize != 4 ? " as float32" : h->kind == ELBO_NPY_BOOL ? " as bits" : "",
         how);
    return ELBO_OK;
}

/* Labels from the array in src, for ds (same count). */
static elbo_status labels_to_dataset(const elbo_source *src, const elbo_npy_info *h, elbo_dataset *ds, char *info,
                                     size_t cap)
{
    const char *name = src->name;
    if (!(h->ndim == 1 || (h->ndim == 2 && h->shape[1] == 1)))
        return elbo_fail(ELBO_ERR_FORMAT, "%s: labels: expected a 1-D array (or N x 1), got %d dimensions", name,
                         h->ndim);
    if (h->shape[0] != ds->n)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: label count: expected %zu (the examples), got %llu", name, ds->n,
                         (unsigned long long)h->shape[0]);
    if (h->kind == ELBO_NPY_FLOAT)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: labels: expected an integer array, got %s", name,
                         elbo_npy_type_name(h));
    uint8_t *y = malloc(ds->n ? ds->n : 1);
    if (!y)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
    elbo_status st = elbo_npy_read_u8(src, h, 0, ds->n, y);
    if (st != ELBO_OK) {
        free(y);
        return st;
    }
    int top = 0;
    for (size_t i = 0; i < ds->n; i++)
        top = y[i] > top ? y[i] : top;
    free(ds->y);
    ds->y = y;
    ds->classes = top + 1;
    note(info, cap, ", labels %s (%d classes)", name, ds->classes);
    return ELBO_OK;
}

static elbo_status load_npy(const char *path, elbo_layout layout, elbo_dataset *ds, char *info, size_t cap)
{
    elbo_source s;
    elbo_npy_info h;
    elbo_status st = elbo_source_open(&s, path);
    if (st != ELBO_OK)
        return st;
    st = elbo_npy_info_read(&s, &h);
    if (st == ELBO_OK)
        st = array_to_dataset(&s, &h, layout, ds, info, cap);
    elbo_source_close(&s);
    return st;
}

static elbo_status load_npy_labels(const char *path, elbo_dataset *ds, char *info, size_t cap)
{
    elbo_source s;
    elbo_npy_info h;
    elbo_status st = elbo_source_open(&s, path);
    if (st != ELBO_OK)
        return st;
    st = elbo_npy_info_read(&s, &h);
    if (st == ELBO_OK)
        st = labels_to_dataset(&s, &h, ds, info, cap);
    elbo_source_close(&s);
    return st;
}

/* ---- npz ---- */

/* Member "key.npy" of z, or -1. */
static int npz_find(const elbo_zip *z, const char *key)
{
    char m[ELBO_ZIP_NAME_MAX + 1];
    snprintf(m, sizeof m, "%s.npy", key);
    return elbo_zip_find(z, m);
}

/* Member i as an array: images (labels NULL) or labels for ds. */
static elbo_status npz_member(const elbo_zip *z, int i, int labels, elbo_layout layout, elbo_dataset *ds, char *info,
                              size_t cap)
{
    elbo_source ms;
    uint8_t *owned;
    char name[PATH_MAX];
    elbo_status st = elbo_zip_member_source(z, (size_t)i, &ms, &owned, name, sizeof name);
    if (st != ELBO_OK)
        return st;
    elbo_npy_info h;
    st = elbo_npy_info_read(&ms, &h);
    if (st == ELBO_OK)
        st = labels ? labels_to_dataset(&ms, &h, ds, info, cap) : array_to_dataset(&ms, &h, layout, ds, info, cap);
    free(owned);
    return st;
}

/* Split "train" / "test" (or NULL: the single array) of the npz in z.
 * *found is 0 when the archive has no such split. */
static elbo_status load_npz_split(const elbo_zip *z, const char *split, const elbo_data_request *rq, elbo_dataset *ds,
                                  int *found, char *info, size_t cap)
{
    const char *path = z->src.name;
    int xi = -1, yi = -1;
    *found = 0;
    if (split) {
        char key[64];
        snprintf(key, sizeof key, "x_%s", split);
        xi = npz_find(z, key);
        snprintf(key, sizeof key, "y_%s", split);
        yi = npz_find(z, key);
        if (xi < 0)
            return ELBO_OK;
    } else {
        static const char *const keys[] = {"x", "images", "arr_0"};
        for (int k = 0; k < 3 && xi < 0; k++)
            xi = npz_find(z, keys[k]);
        if (rq->labels_key) {
            if ((yi = npz_find(z, rq->labels_key)) < 0)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: no array '%s' for the labels", path, rq->labels_key);
        } else {
            yi = npz_find(z, "y");
            if (yi < 0)
                yi = npz_find(z, "labels");
        }
        if (xi < 0) { /* the only array that is not the labels */
            int only = -1, count = 0;
            for (size_t m = 0; m < z->n; m++)
                if ((int)m != yi)
                    only = (int)m, count++;
            if (count != 1)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: which array holds the images? expected x_train/x_test, x, "
                                 "images, arr_0 or a single array, got %zu members", path, z->n);
            xi = only;
        }
    }
    if (!has_suffix(z->members[xi].name, ".npy")) {
        char shown[ELBO_EXCERPT_MAX + 1];
        return elbo_fail(ELBO_ERR_FORMAT, "%s: member '%s' is not an array (.npy)", path,
                         elbo_excerpt(shown, sizeof shown, z->members[xi].name, strlen(z->members[xi].name)));
    }
    elbo_status st = npz_member(z, xi, 0, rq->layout, ds, info, cap);
    if (st == ELBO_OK && yi >= 0)
        st = npz_member(z, yi, 1, rq->layout, ds, info, cap);
    if (st != ELBO_OK)
        elbo_dataset_free(ds);
    *found = st == ELBO_OK;
    return st;
}

/* ---- one path ---- */

typedef struct opened {
    kind k;
    elbo_source src; /* npz only */
    elbo_zip zip;
} opened;

static void close_opened(opened *o)
{
    if (o->k == KIND_NPZ) {
        elbo_zip_free(&o->zip);
        elbo_source_close(&o->src);
    }
}

static elbo_status open_path(const char *path, opened *o)
{
    memset(o, 0, sizeof *o);
    elbo_status st = sniff(path, &o->k);
    if (st != ELBO_OK || o->k != KIND_NPZ)
        return st;
    if ((st = elbo_source_open(&o->src, path)) != ELBO_OK)
        return st;
    if ((st = elbo_zip_open(&o->zip, &o->src)) != ELBO_OK)
        elbo_source_close(&o->src);
    return st;
}

static elbo_status load_folder(const char *dir, const elbo_data_request *rq, elbo_dataset *ds, char *info,
                               size_t cap, elbo_imagefolder_info *fi)
{
    elbo_status st = elbo_imagefolder_load(dir, rq->height, rq->width, ds, fi);
    if (st == ELBO_OK)
        note(info, cap, "%s: %zu PNG images of %d x %d x %d in %d classes (%s .. %s)%s", dir, ds->n, ds->rows,
             ds->cols, ds->channels, fi->classes, fi->first_class, fi->last_class,
             fi->resized ? ", some resized" : "");
    return st;
}

/* Split "train" or "test" of path; *found 0 when path has none. labels:
 * the .npy of labels for a .npy path. explicit: path was given for this
 * split, so a single array or a plain class folder is the split. */
static elbo_status load_split(const char *path, const char *labels, const char *split, int explicit,
                              const elbo_data_request *rq, elbo_dataset *ds, int *found, char *info, size_t cap)
{
    opened o;
    *found = 0;
    elbo_status st = open_path(path, &o);
    if (st != ELBO_OK)
        return st;
    int is_train = strcmp(split, "train") == 0, whole = is_train || explicit;
    char p[PATH_MAX];
    elbo_imagefolder_info fi;
    switch (o.k) {
    case KIND_IDX:
        if ((st = elbo_dataset_load(path, is_train ? "train" : "t10k", ds)) == ELBO_OK) {
            *found = 1;
            note(info, cap, "%s: %zu IDX images of %d x %d, labels (%d classes)", path, ds->n, ds->rows, ds->cols,
                 ds->classes);
        }
        break;
    case KIND_SPLIT_FOLDERS:
        if (!is_train && !is_dir(join(p, sizeof p, path, "test")))
            join(p, sizeof p, path, "val");
        else
            join(p, sizeof p, path, split);
        if (is_dir(p) && (st = load_folder(p, rq, ds, info, cap, &fi)) == ELBO_OK)
            *found = 1;
        break;
    case KIND_FOLDER:
        if (whole && (st = load_folder(path, rq, ds, info, cap, &fi)) == ELBO_OK)
            *found = 1;
        break;
    case KIND_NPY:
        if (whole) {
            st = load_npy(path, rq->layout, ds, info, cap);
            if (st == ELBO_OK && labels && (st = load_npy_labels(labels, ds, info, cap)) != ELBO_OK)
                elbo_dataset_free(ds);
            *found = st == ELBO_OK;
        }
        break;
    case KIND_NPZ:
        st = load_npz_split(&o.zip, split, rq, ds, found, info, cap);
        if (st == ELBO_OK && !*found && whole)
            st = load_npz_split(&o.zip, NULL, rq, ds, found, info, cap);
        break;
    }
    close_opened(&o);
    return st;
}

elbo_status elbo_data_load(const elbo_data_request *rq, elbo_dataset *train, elbo_dataset *test, char *info,
                           size_t info_cap)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (info && info_cap)
        info[0] = '\0';
    if (!rq->path || !*rq->path)
        return elbo_fail(ELBO_ERR_INVALID, "data: no path given");
    int found;
    note(info, info_cap, "train: ");
    elbo_status st = load_split(rq->path, rq->labels, "train", 1, rq, train, &found, info, info_cap);
    if (st == ELBO_OK && !found)
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: no training split found", rq->path);
    if (st != ELBO_OK)
        return st;
    if (rq->labels && !train->y)
        st = load_npy_labels(rq->labels, train, info, info_cap);
    note(info, info_cap, "\ntest: ");
    /* The test split: in the same data, else the test path, else held out. */
    found = 0;
    if (st == ELBO_OK && !rq->test_path)
        st = load_split(rq->path, NULL, "test", 0, rq, test, &found, info, info_cap);
    if (st == ELBO_OK && !found && rq->test_path) {
        st = load_split(rq->test_path, rq->test_labels, "test", 1, rq, test, &found, info, info_cap);
        if (st == ELBO_OK && !found)
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: no test data found", rq->test_path);
    }
    if (st == ELBO_OK && !found) {
        if (!(rq->test_fraction > 0 && rq->test_fraction < 1))
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: no test split: give test data or a fraction to hold out", rq->path);
        size_t n_test = (size_t)floor(rq->test_fraction * (double)train->n);
        if (st == ELBO_OK && (n_test < 1 || n_test >= train->n))
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: %zu examples: too few to hold out %.3g of them as the test split",
                           rq->path, train->n, rq->test_fraction);
        elbo_dataset all = *train, tr;
        if (st == ELBO_OK && (st = elbo_dataset_split(&all, n_test, true, rq->split_seed, &tr, test)) == ELBO_OK) {
            elbo_dataset_free(&all);
            *train = tr;
            note(info, info_cap, "%zu examples held out of the training data (seeded random choice)", test->n);
        }
    }
    if (st == ELBO_OK && (train->d != test->d || train->channels != test->channels))
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: test examples of %d x %d x %d do not match the training data's %d x %d x %d",
                       rq->test_path ? rq->test_path : rq->path, test->rows, test->cols, test->channels, train->rows,
                       train->cols, train->channels);
    if (st == ELBO_OK && (!train->y) != (!test->y))
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: one split has labels and the other not",
                       rq->test_path ? rq->test_path : rq->path);
    if (st == ELBO_OK && train->y && test->classes != train->classes) { /* one label range for both */
        int c = train->classes > test->classes ? train->classes : test->classes;
        train->classes = test->classes = c;
    }
    if (st != ELBO_OK) {
        elbo_dataset_free(train);
        elbo_dataset_free(test);
    }
    return st;
}

elbo_status elbo_layout_parse(const char *text, elbo_layout *out)
{
    if (!text || !strcmp(text, "auto"))
        *out = ELBO_LAYOUT_AUTO;
    else if (!strcmp(text, "nhwc"))
        *out = ELBO_LAYOUT_NHWC;
    else if (!strcmp(text, "nchw"))
        *out = ELBO_LAYOUT_NCHW;
    else
        return elbo_fail(ELBO_ERR_INVALID, "layout: expected auto, nhwc or nchw, got '%s'", text);
    return ELBO_OK;
}
