#include "models/io/imagefolder.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "models/io/excerpt.h"
#include "models/io/file.h"
#include "models/io/png.h"
#include "models/io/source.h"

/* Directory levels followed below a class folder (symlink loops end here). */
#define MAX_DEPTH 32

typedef struct entry {
    char *dir;  /* path of the directory (for the os.walk order) */
    char *name; /* file name */
    int label;
} entry;

typedef struct listing {
    entry *e;
    size_t n, cap;
    char **classes;
    int nclasses;
} listing;

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static const char *const OTHER_IMAGES[] = {".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->label != y->label)
        return x->label - y->label;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->name, y->name);
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Names in dir (not . and ..), sorted, malloc'd. */
static elbo_status list_dir(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return elbo_fail(ELBO_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    elbo_status st = ELBO_OK;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(*names, cap * sizeof *p);
            if (!p) {
                st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            *names = p;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (st == ELBO_OK && *n)
        qsort(*names, *n, sizeof **names, cmp_str);
    return st;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static elbo_status add_entry(listing *l, const char *dir, const char *name, int label)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        entry *p = realloc(l->e, cap * sizeof *p);
        if (!p)
            return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory listing images", dir);
        l->e = p;
        l->cap = cap;
    }
    entry *e = &l->e[l->n];
    e->dir = strdup(dir);
    e->name = strdup(name);
    e->label = label;
    if (!e->dir || !e->name) {
        free(e->dir), free(e->name);
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory listing images", dir);
    }
    l->n++;
    return ELBO_OK;
}

/* Every PNG below dir (recursively) for class label. */
static elbo_status walk(listing *l, const char *dir, int label, int depth)
{
    if (depth > MAX_DEPTH)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: more than %d directory levels (a symlink loop?)", dir, MAX_DEPTH);
    char **names;
    size_t n;
    elbo_status st = list_dir(dir, &names, &n);
    for (size_t i = 0; i < n && st == ELBO_OK; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            st = elbo_fail(ELBO_ERR_INVALID, "%s: path too long", dir);
            break;
        }
        if (is_dir(path)) {
            st = walk(l, path, label, depth + 1);
        } else if (ends_with_ci(names[i], ".png")) {
            st = add_entry(l, dir, names[i], label);
        } else {
            for (size_t k = 0; k < sizeof OTHER_IMAGES / sizeof OTHER_IMAGES[0]; k++)
                if (ends_with_ci(names[i], OTHER_IMAGES[k]))
                    st = elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: only PNG images are read: convert this file to PNG",
                                   path);
        }
    }
    free_names(names, n);
    return st;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].dir), free(l->e[i].name);
    free(l->e);
    free_names(l->classes, (size_t)l->nclasses);
    memset(l, 0, sizeof *l);
}

static elbo_status scan(const char *root, listing *l)
{
    char **names;
    size_t n;
    elbo_status st = list_dir(root, &names, &n);
    if (st != ELBO_OK)
        return st;
    /* Classes: the subdirectories, in sorted order. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", root, names[i]);
        if (is_dir(path))
            names[k++] = names[i];
        else
            free(names[i]);
    }
    l->classes = names;
    l->nclasses = (int)k;
    if (k == 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: no class folders: expected one subfolder of PNG images per class", root);
    if (k > ELBO_DATASET_LABEL_LIMIT)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: %zu class folders: expected at most %d", root, k,
                         ELBO_DATASET_LABEL_LIMIT);
    for (int c = 0; c < l->nclasses && st == ELBO_OK; c++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", root, l->classes[c]) >= (int)sizeof path)
            return elbo_fail(ELBO_ERR_INVALID, "%s: path too long", root);
        size_t before = l->n;
        st = walk(l, path, c, 0);
        if (st == ELBO_OK && l->n == before)
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: class folder without PNG images", path);
    }
    if (st == ELBO_OK)
        qsort(l->e, l->n, sizeof *l->e, cmp_entry);
    return st;
}

/* ---- resampling ---- */

/* Weights of input samples for each output sample along one axis of in ->
 * out samples: area coverage when shrinking, nearest when enlarging. For
 * output o: inputs lo[o]..hi[o] (exclusive) with weights w (consecutive). */
typedef struct axis {
    int *lo, *hi;
    double *w; /* concatenated per output */
    int *woff;
} axis;

static int axis_init(axis *a, int in, int out)
{
    a->lo = malloc((size_t)out * sizeof(int));
    a->hi = malloc((size_t)out * sizeof(int));
    a->woff = malloc((size_t)out * sizeof(int));
    size_t per = in > out ? (size_t)(in / out + 2) : 1;
    a->w = malloc((size_t)out * per * sizeof(double));
    if (!a->lo || !a->hi || !a->woff || !a->w)
        return 0;
    int k = 0;
    for (int o = 0; o < out; o++) {
        a->woff[o] = k;
        if (out >= in) {
            long long src = ((2LL * o + 1) * in) / (2LL * out); /* floor((o + 0.5) * in / out) */
            a->lo[o] = (int)(src < in ? src : in - 1);
            a->hi[o] = a->lo[o] + 1;
            a->w[k++] = 1.0;
            continue;
        }
        /* Output o covers input [o * in / out, (o + 1) * in / out). */
        double x0 = (double)o * in / out, x1 = (double)(o + 1) * in / out, scale = (double)out / in;
        a->lo[o] = (int)x0;
        a->hi[o] = (int)x1 + ((double)(int)x1 < x1 ? 1 : 0);
        if (a->hi[o] > in)
            a->hi[o] = in;
        for (int i = a->lo[o]; i < a->hi[o]; i++) {
            double l = i > x0 ? i : x0, r = i + 1 < x1 ? i + 1 : x1;
            a->w[k++] = (r - l) * scale;
        }
    }
    return 1;
}

static void axis_free(axis *a)
{
    free(a->lo), free(a->hi), free(a->w), free(a->woff);
}

void elbo_image_resize(const uint8_t *src, int sh, int sw, int c, uint8_t *dst, int dh, int dw)
{
    axis ax = {0}, ay = {0};
    double *tmp = malloc((size_t)sh * (size_t)dw * (size_t)c * sizeof(double));
    if (!tmp || !axis_init(&ax, sw, dw) || !axis_init(&ay, sh, dh)) {
        /* out of memory: nearest neighbour needs no scratch */
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
                memcpy(dst + ((size_t)y * dw + x) * c,
                       src + ((size_t)((2LL * y + 1) * sh / (2LL * dh)) * sw + (size_t)((2LL * x + 1) * sw / (2LL * dw))) * c,
                       (size_t)c);
        free(tmp), axis_free(&ax), axis_free(&ay);
        return;
    }
    for (int y = 0; y < sh; y++) /* horizontal pass into tmp (sh, dw, c) */
        for (int x = 0; x < dw; x++)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int i = ax.lo[x], k = ax.woff[x]; i < ax.hi[x]; i++, k++)
                    s += ax.w[k] * src[((size_t)y * sw + i) * c + ch];
                tmp[((size_t)y * dw + x) * c + ch] = s;
            }
    for (int y = 0; y < dh; y++) /* vertical pass, rounded */
        for (int x = 0; x < dw; x++)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int i = ay.lo[y], k = ay.woff[y]; i < ay.hi[y]; i++, k++)
                    s += ay.w[k] * tmp[((size_t)i * dw + x) * c + ch];
                int v = (int)(s + 0.5);
                dst[((size_t)y * dw + x) * c + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
}

/* ---- loading ---- */

/* Image px (h, w, ch) decoded -> (h, w, out_c) with alpha dropped and gray
 * replicated to RGB when out_c is 3. In place is not allowed. */
static void to_channels(const uint8_t *px, size_t count, int ch, int out_c, uint8_t *out)
{
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = px + i * (size_t)ch;
        uint8_t *o = out + i * (size_t)out_c;
        if (out_c == 1) {
            o[0] = p[0]; /* gray or gray+alpha */
        } else if (ch <= 2) {
            o[0] = o[1] = o[2] = p[0];
        } else {
            o[0] = p[0], o[1] = p[1], o[2] = p[2];
        }
    }
}

static elbo_status probe_file(const char *path, int *w, int *h, int *c)
{
    elbo_source s;
    uint8_t head[ELBO_PNG_PROBE_BYTES];
    elbo_status st = elbo_source_open(&s, path);
    if (st != ELBO_OK)
        return st;
    size_t n = s.size < sizeof head ? (size_t)s.size : sizeof head;
    st = elbo_source_read(&s, 0, head, n, "the PNG header");
    elbo_source_close(&s);
    return st == ELBO_OK ? elbo_png_probe(path, head, n, w, h, c) : st;
}

elbo_status elbo_imagefolder_load(const char *dir, int height, int width, elbo_dataset *ds,
                                  elbo_imagefolder_info *info)
{
    memset(ds, 0, sizeof *ds);
    memset(info, 0, sizeof *info);
    if ((height > 0) != (width > 0) || height > ELBO_PNG_MAX_SIDE || width > ELBO_PNG_MAX_SIDE)
        return elbo_fail(ELBO_ERR_INVALID, "%s: image size %d x %d: expected both sides in 1..%d or neither", dir,
                         height, width, ELBO_PNG_MAX_SIDE);
    listing l = {0};
    elbo_status st = scan(dir, &l);
    if (st != ELBO_OK || l.n > UINT32_MAX) {
        if (st == ELBO_OK)
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: %zu images: too many", dir, l.n);
        listing_free(&l);
        return st;
    }
    /* Pass 1: headers only, for the channel count and the size. */
    int out_c = 1, th = height, tw = width;
    char path[PATH_MAX];
    for (size_t i = 0; i < l.n && st == ELBO_OK; i++) {
        int w, h, c;
        snprintf(path, sizeof path, "%s/%s", l.e[i].dir, l.e[i].name);
        if ((st = probe_file(path, &w, &h, &c)) != ELBO_OK)
            break;
        if (c >= 3)
            out_c = 3;
        if (th == 0)
            th = h, tw = w;
        else if (height == 0 && (h != th || w != tw))
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: %d x %d pixels, but %s/%s is %d x %d: give a size to resize to "
                           "(e.g. --image-size %dx%d)", path, h, w, l.e[0].dir, l.e[0].name, th, tw, th, tw);
    }
    if (st == ELBO_OK)
        st = elbo_dataset_alloc(ds, ELBO_PIXELS_U8, l.n, th, tw, out_c, true);
    /* Pass 2: decode, convert, resize into place. */
    for (size_t i = 0; i < l.n && st == ELBO_OK; i++) {
        snprintf(path, sizeof path, "%s/%s", l.e[i].dir, l.e[i].name);
        uint8_t *px, *conv = NULL;
        int w, h, c;
        if ((st = elbo_png_read(path, &px, &w, &h, &c)) != ELBO_OK)
            break;
        uint8_t *dst = elbo_dataset_row(ds, i);
        int same = h == th && w == tw;
        conv = same ? dst : malloc((size_t)w * h * out_c);
        if (!conv) {
            free(px);
            st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        to_channels(px, (size_t)w * h, c, out_c, conv);
        free(px);
        if (!same) {
            elbo_image_resize(conv, h, w, out_c, dst, th, tw);
            free(conv);
            info->resized++;
        }
        ds->y[i] = (uint8_t)l.e[i].label;
    }
    if (st == ELBO_OK) {
        ds->classes = l.nclasses;
        info->classes = l.nclasses;
        snprintf(info->first_class, sizeof info->first_class, "%s", l.classes[0]);
        snprintf(info->last_class, sizeof info->last_class, "%s", l.classes[l.nclasses - 1]);
    } else {
        elbo_dataset_free(ds);
    }
    listing_free(&l);
    return st;
}
