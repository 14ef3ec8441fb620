#include "results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/npy.h"
#include "models/io/png.h"

#define DEFAULT_CHUNK 1000

static elbo_status path_of(char *buf, size_t cap, const char *dir, const char *name, const char *ext)
{
    if (snprintf(buf, cap, "%s/%s%s", dir, name, ext) >= (int)cap)
        return elbo_fail(ELBO_ERR_INVALID, "%s: output path too long", dir);
    return ELBO_OK;
}

elbo_status elbo_write_image_grid(const char *dir, const char *name, const float *images, size_t n, int rows,
                                  int cols, int channels, int grid_rows, int grid_cols)
{
    char path[4096];
    elbo_status st = path_of(path, sizeof path, dir, name, ".npy");
    if (st != ELBO_OK)
        return st;
    if (channels < 1 || channels > 4)
        return elbo_fail(ELBO_ERR_INVALID, "%s: expected 1 to 4 channels, got %d", path, channels);
    uint64_t shape[4] = {n, (uint64_t)rows, (uint64_t)cols, (uint64_t)channels};
    if ((st = elbo_npy_write_f32(path, images, shape, 4)) != ELBO_OK)
        return st;
    path_of(path, sizeof path, dir, name, ".png");
    int shown = channels >= 3 ? 3 : 1;
    if (shown == channels)
        return elbo_png_write_grid_hwc(path, images, n, rows, cols, channels, grid_rows, grid_cols, ELBO_GRID_PAD,
                                       ELBO_GRID_PAD_VALUE);
    size_t px = n * (size_t)rows * (size_t)cols;
    float *v = malloc((px ? px : 1) * (size_t)shown * sizeof(float));
    if (!v)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < px; i++)
        memcpy(v + i * (size_t)shown, images + i * (size_t)channels, (size_t)shown * sizeof(float));
    st = elbo_png_write_grid_hwc(path, v, n, rows, cols, shown, grid_rows, grid_cols, ELBO_GRID_PAD,
                                 ELBO_GRID_PAD_VALUE);
    free(v);
    return st;
}

elbo_status elbo_dump_latents(const char *dir, const char *prefix, elbo_vae *m, elbo_tape *t, const elbo_dataset *ds,
                              int eval_batch)
{
    const size_t Z = (size_t)m->cfg.z_dim, chunk = eval_batch > 0 ? (size_t)eval_batch : DEFAULT_CHUNK;
    char name[512], path[4096];
    elbo_npy_writer w[2];
    memset(w, 0, sizeof w);
    uint64_t shape[2] = {ds->n, Z};
    static const char *const which[2] = {"mu", "logvar"};
    elbo_status st = ELBO_OK;
    int opened = 0;
    for (; opened < 2 && st == ELBO_OK; opened++) {
        snprintf(name, sizeof name, "%s_%s", prefix, which[opened]);
        if ((st = path_of(path, sizeof path, dir, name, ".npy")) == ELBO_OK)
            st = elbo_npy_writer_open(&w[opened], path, "<f4", shape, 2);
    }
    float *mu = malloc(chunk * Z * sizeof(float)), *lv = malloc(chunk * Z * sizeof(float));
    if (st == ELBO_OK && (!mu || !lv))
        st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", dir);
    for (size_t i = 0; i < ds->n && st == ELBO_OK; i += chunk) {
        size_t b = ds->n - i < chunk ? ds->n - i : chunk;
        st = elbo_vae_encode_data(m, t, ds, i, b, eval_batch, mu, lv);
        if (st == ELBO_OK)
            st = elbo_npy_writer_put(&w[0], mu, b * Z);
        if (st == ELBO_OK)
            st = elbo_npy_writer_put(&w[1], lv, b * Z);
    }
    free(mu);
    free(lv);
    for (int k = 0; k < opened; k++) {
        if (st == ELBO_OK)
            st = elbo_npy_writer_close(&w[k]);
        else
            elbo_npy_writer_abort(&w[k]);
    }
    if (st == ELBO_OK && ds->y) {
        elbo_npy_writer lw;
        memset(&lw, 0, sizeof lw);
        uint64_t n = ds->n;
        snprintf(name, sizeof name, "%s_labels", prefix);
        if ((st = path_of(path, sizeof path, dir, name, ".npy")) == ELBO_OK &&
            (st = elbo_npy_writer_open(&lw, path, "|u1", &n, 1)) == ELBO_OK) {
            elbo_npy_writer_put(&lw, ds->y, ds->n);
            st = elbo_npy_writer_close(&lw);
        } else {
            elbo_npy_writer_abort(&lw);
        }
    }
    return st;
}
