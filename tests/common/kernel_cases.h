/* The kernel test cases: every kernel of ops/kernels/list.h against the
 * scalar reference, shared by the Criterion suite (tests/ops/test_kernels.c)
 * and the dependency-free SIMD check of the cross builds
 * (tests/reliability/neon_check.c). No Criterion here.
 *
 * A case names the kernel it covers, how to call it (its arrays, their sizes
 * from a test shape (R,C) and their value ranges) and a tolerance: an output
 * passes when |got - want| <= atol + rtol |want| for every element, where
 * atol grows by atol_col per column for sums along rows. Outputs are
 * pre-filled with the same random values for both tables, so `=` kernels must
 * overwrite and `+=` kernels must accumulate exactly as the reference does;
 * every array is followed by guard floats that must survive, and starts one
 * float past an aligned address. The activations' cases are generated from
 * their list entries (domain and tolerance). */
#ifndef ELBO_TEST_KERNEL_CASES_H
#define ELBO_TEST_KERNEL_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/kernels.h"

#define KC_MAX_ARRAYS 6

typedef const struct elbo_kernels kc_table;
struct kcase;
/* Call case c's kernel at shape (R,C); k == NULL calls the ops.h front-end. */
typedef void (*kc_call_fn)(const struct kcase *c, kc_table *k, size_t R, size_t C, float **in, float **out);

/* Array sizes from the test shape (R,C); the image and convolution kinds come
 * from the geometry the case derives from (R,C) (kc_window_of, kc_conv_of). */
enum kc_size {
    KC_N,          /* R*C */
    KC_R,          /* R */
    KC_C,          /* C */
    KC_N2,         /* 2 R*C */
    KC_N3,         /* 3 R*C */
    KC_R2,         /* 2 R */
    KC_WIN_IN,     /* input images of the window */
    KC_WIN_OUT,    /* output images of the window */
    KC_CONV_IN,    /* input images of the convolution */
    KC_CONV_COL,   /* its im2col rows */
};

struct kc_arr {
    enum kc_size sz;
    float lo, hi;
};

/* The geometry an image case derives from (R,C), with its parameters gp:
 * POOL {k, stride}, UPSAMPLE {k}, CONV {kh, kw, stride_h, stride_w, pad_h,
 * pad_w, dil_h, dil_w}. */
enum kc_geom { KC_GEOM_NONE, KC_GEOM_POOL, KC_GEOM_UPSAMPLE, KC_GEOM_CONV };

typedef struct kcase {
    const char *name;
    enum elbo_kernel_id id; /* the kernel the case covers */
    bool rowwise;           /* shapes (R,C); else lengths n = C with R = 1 */
    kc_call_fn call;
    int nin, nout;
    struct kc_arr in[KC_MAX_ARRAYS], out[KC_MAX_ARRAYS];
    double atol, rtol, atol_col;
    enum kc_geom geom;
    int gp[8];
} kcase;

/* All cases (the hand-written ones, then one per activation kernel). */
int kc_count(void);
const kcase *kc_case(int i);
/* The case named name, or NULL. */
const kcase *kc_find(const char *name);

/* The test shapes: lengths for elementwise cases, (R,C) for the others. */
extern const size_t kc_lengths[];
extern const size_t kc_nlengths;
extern const size_t kc_shapes[][2];
extern const size_t kc_nshapes;

/* Run case c on table got (NULL: the ops.h front-end) and on want at one
 * shape; on failure write one line to msg (naming the case, tables, shape and
 * worst element) and return false. With got == NULL the outputs must also be
 * bit-identical to want's (the front-end only splits the work). */
bool kc_check(const kcase *c, kc_table *got, kc_table *want, size_t R, size_t C, unsigned seed, char *msg,
              size_t msg_len);
/* Every shape of case c; stops at the first failure. */
bool kc_check_all_shapes(const kcase *c, kc_table *got, kc_table *want, char *msg, size_t msg_len);

/* Test data (one float past a fresh allocation, guards after) for tests that
 * build their own calls. */
float *kc_array(size_t n, float lo, float hi, unsigned seed);
void kc_array_free(float *p);
bool kc_guard_ok(const float *p, size_t n);
size_t kc_len(const kcase *c, enum kc_size sz, size_t R, size_t C);
/* The geometries of an image case at (R,C); the im2col rows it runs. */
elbo_window2d kc_window_of(const kcase *c, size_t R, size_t C);
elbo_conv2d_geom kc_conv_of(const kcase *c, size_t R, size_t C);
void kc_conv_rows(const elbo_conv2d_geom *g, size_t *row0, size_t *nrows);

#endif
