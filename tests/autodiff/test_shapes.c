/* N-D tensors on the tape: N-D inputs and parameters with their 2-D views,
 * elementwise results keeping their input's shape, reshape and flatten as
 * views (no copy, nothing recorded, the gradient aliasing the input's, the
 * first-contribution overwrite still right through them), channel biases,
 * and errors that name the full shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "test_util.h"

static elbo_tape *tape(void)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 16), ELBO_OK);
    return t;
}

static void expect_shape(const elbo_node *n, int ndim, const int *d)
{
    cr_assert(n, "%s", elbo_last_error());
    cr_expect_eq(n->shape.ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_expect_eq(n->shape.d[i], d[i], "dimension %d: %d, expected %d", i, n->shape.d[i], d[i]);
    int cols = 1;
    for (int i = 1; i < ndim; i++)
        cols *= d[i];
    cr_expect_eq(n->rows, d[0], "the 2-D view's rows are dimension 0");
    cr_expect_eq(n->cols, cols, "the 2-D view's cols are the product of the rest");
}

Test(shapes, inputs_params_and_elementwise_results)
{
    elbo_tape *t = tape();
    float x[2 * 3 * 4 * 5] = {0};
    elbo_node *a = elbo_ad_input_nd(t, 4, (const int[]){2, 3, 4, 5}, x);
    expect_shape(a, 4, (const int[]){2, 3, 4, 5});
    expect_shape(elbo_ad_tanh(t, a), 4, (const int[]){2, 3, 4, 5});
    expect_shape(elbo_ad_scale(t, a, 2.0f), 4, (const int[]){2, 3, 4, 5});
    expect_shape(elbo_ad_add(t, a, a), 4, (const int[]){2, 3, 4, 5});
    expect_shape(elbo_ad_sum_rows(t, a), 2, (const int[]){2, 1});

    elbo_params p;
    elbo_params_init(&p);
    int w = elbo_params_add_nd(&p, "w", 4, (const int[]){3, 3, 5, 7});
    cr_assert_eq(w, 0);
    cr_assert_eq(elbo_params_finalize(&p), ELBO_OK);
    cr_expect_eq(p.info[w].ndim, 4);
    cr_expect_eq(p.info[w].rows, 3);
    cr_expect_eq(p.info[w].cols, 3 * 5 * 7);
    cr_expect_eq(elbo_param_size(&p, w), (size_t)3 * 3 * 5 * 7);
    expect_shape(elbo_ad_param(t, &p, w), 4, (const int[]){3, 3, 5, 7});
    elbo_params_free(&p);
    elbo_tape_destroy(t);
}

Test(shapes, reshape_and_flatten_are_views)
{
    elbo_tape *t = tape();
    float x[2 * 12];
    tu_fill_uniform(x, 24, -1, 1, 1);
    elbo_params p;
    elbo_params_init(&p);
    cr_assert_eq(elbo_params_add(&p, "a", 2, 12), 0);
    cr_assert_eq(elbo_params_finalize(&p), ELBO_OK);
    elbo_node *a = elbo_ad_param(t, &p, 0);
    int before = elbo_tape_recorded(t);
    elbo_node *v = elbo_ad_reshape(t, a, 4, (const int[]){2, 2, -1, 3});
    expect_shape(v, 4, (const int[]){2, 2, 2, 3});
    cr_expect(v->x == a->x, "a reshape shares its input's floats");
    elbo_node *f = elbo_ad_flatten(t, v);
    expect_shape(f, 2, (const int[]){2, 12});
    cr_expect(f->x == a->x);
    cr_expect_eq(elbo_op_kind_of(v->op), ELBO_OP_KIND_VIEW);
    cr_expect_eq(elbo_tape_recorded(t), before, "views record nothing");
    elbo_params_free(&p);
    elbo_tape_destroy(t);
}

/* A parameter reached only through views, its gradient stale
 * (clear_grad): the GEMM's first contribution overwrites through the view
 * and gives the bits of the zeroed run. */
Test(shapes, first_contribution_overwrites_through_a_view)
{
    float x[6 * 4];
    tu_fill_uniform(x, 24, -1, 1, 2);
    float g_zero[64], g_stale[64];
    for (int stale = 0; stale < 2; stale++) {
        elbo_params p;
        elbo_params_init(&p);
        cr_assert_eq(elbo_params_add_nd(&p, "w", 3, (const int[]){2, 2, 5}), 0); /* viewed as (4, 5) */
        cr_assert_eq(elbo_params_finalize(&p), ELBO_OK);
        tu_fill_uniform(p.w, p.n, -1, 1, 3);
        for (size_t i = 0; i < p.n; i++)
            p.g[i] = 123.0f; /* garbage a stale gradient must not keep */
        if (stale)
            elbo_params_clear_grad(&p);
        else
            elbo_params_zero_grad(&p);
        elbo_tape *t = tape();
        elbo_node *w = elbo_ad_reshape(t, elbo_ad_param(t, &p, 0), 2, (const int[]){4, 5});
        elbo_node *y = elbo_ad_matmul(t, elbo_ad_input(t, 6, 4, x), w);
        cr_assert_eq(elbo_backward(t, elbo_ad_sum(t, y)), ELBO_OK, "%s", elbo_last_error());
        memcpy(stale ? g_stale : g_zero, elbo_param_g(&p, 0), 20 * sizeof(float));
        elbo_tape_destroy(t);
        elbo_params_free(&p);
    }
    cr_expect(memcmp(g_zero, g_stale, 20 * sizeof(float)) == 0, "stale and zeroed gradients differ through a view");
    for (int k = 0; k < 4; k++) { /* d/dW[k,j] sum(x W) = sum_r x[r,k] */
        double want = 0.0;
        for (int r = 0; r < 6; r++)
            want += x[r * 4 + k];
        for (int j = 0; j < 5; j++)
            cr_expect(fabs(g_zero[k * 5 + j] - want) < 1e-5, "dW[%d,%d] = %g, expected %g", k, j,
                      (double)g_zero[k * 5 + j], want);
    }
}

Test(shapes, channel_bias_broadcasts_over_nhwc)
{
    elbo_tape *t = tape();
    float x[2 * 2 * 3 * 4] = {0}, b[4] = {1, 2, 3, 4};
    elbo_node *img = elbo_ad_input_nd(t, 4, (const int[]){2, 2, 3, 4}, x);
    elbo_node *y = elbo_ad_add(t, img, elbo_ad_input_nd(t, 1, (const int[]){4}, b));
    expect_shape(y, 4, (const int[]){2, 2, 3, 4});
    for (int i = 0; i < 48; i++)
        cr_expect_eq(y->x[i], b[i % 4]);
    elbo_tape_destroy(t);
}

Test(shapes, errors_name_the_full_shapes)
{
    elbo_tape *t = tape();
    float x[2 * 5 * 5 * 3] = {0}, w[3 * 3 * 2 * 4] = {0};
    elbo_node *img = elbo_ad_input_nd(t, 4, (const int[]){2, 5, 5, 3}, x);
    elbo_node *k = elbo_ad_input_nd(t, 4, (const int[]){3, 3, 2, 4}, w);
    cr_expect_null(elbo_ad_conv2d(t, img, k, NULL, &ELBO_CONV2D_OPTS(1, 1)));
    cr_expect(strstr(elbo_last_error(), "(2,5,5,3)") && strstr(elbo_last_error(), "(3,3,2,4)"), "%s",
              elbo_last_error());
    elbo_tape_reset(t);
    img = elbo_ad_input_nd(t, 4, (const int[]){2, 5, 5, 3}, x);
    cr_expect_null(elbo_ad_reshape(t, img, 2, (const int[]){7, -1}));
    cr_expect(strstr(elbo_last_error(), "(2,5,5,3)") && strstr(elbo_last_error(), "(7,-1)"), "%s",
              elbo_last_error());
    elbo_tape_reset(t);
    img = elbo_ad_input_nd(t, 4, (const int[]){2, 5, 5, 3}, x);
    cr_expect_null(elbo_ad_add(t, img, elbo_ad_input(t, 1, 5, x)));
    cr_expect(strstr(elbo_last_error(), "(2,5,5,3)") && strstr(elbo_last_error(), "(1,5)"), "%s", elbo_last_error());
    elbo_tape_reset(t);
    cr_expect_null(elbo_ad_input_nd(t, 5, (const int[]){1, 1, 1, 1, 1}, x));
    cr_expect_neq(elbo_tape_status(t), ELBO_OK);
    elbo_tape_reset(t);
    img = elbo_ad_input_nd(t, 4, (const int[]){2, 5, 5, 3}, x);
    int32_t labels[2 * 5 * 5];
    for (int i = 0; i < 50; i++)
        labels[i] = i == 17 ? 3 : 0; /* 3 classes: label 3 is out of range */
    cr_expect_null(elbo_ad_categorical_nll(t, img, labels));
    cr_expect(strstr(elbo_last_error(), "label 3") && strstr(elbo_last_error(), "(2,5,5,3)"), "%s",
              elbo_last_error());
    elbo_tape_reset(t);
    img = elbo_ad_input_nd(t, 4, (const int[]){2, 5, 5, 3}, x);
    cr_expect_null(elbo_ad_group_norm(t, img, 2, NULL, NULL, 1e-5f)); /* 2 does not divide 3 */
    cr_expect(strstr(elbo_last_error(), "(2,5,5,3)"), "%s", elbo_last_error());
    /* the pairwise Gaussian densities: mu (4,3) against logvar (4,2) */
    elbo_node *(*const pairs[])(elbo_tape *, elbo_node *, elbo_node *, elbo_node *) = {
        elbo_ad_gauss_logpdf_pairs, elbo_ad_diag_gauss_logpdf_pairs};
    const char *names[] = {"gauss_logpdf_pairs:", "diag_gauss_logpdf_pairs:"};
    for (int o = 0; o < 2; o++) {
        elbo_tape_reset(t);
        elbo_node *z = elbo_ad_input(t, 2, 3, x), *mu = elbo_ad_input(t, 4, 3, x), *lv = elbo_ad_input(t, 4, 2, x);
        cr_expect_null(pairs[o](t, z, mu, lv));
        cr_expect(strstr(elbo_last_error(), names[o]) && strstr(elbo_last_error(), "(4,3)") &&
                      strstr(elbo_last_error(), "(4,2)"),
                  "%s", elbo_last_error());
    }
    elbo_tape_destroy(t);
}
