/* safetensors: the writer read back, F16/BF16/F64 converted, every lie in a
 * header refused; the VAE's weights exported and imported exactly, and
 * refused by a model of another shape. */
#include <math.h>

#include "io_util.h"
#include "models/io/safetensors.h"
#include "models/vae/vae_safetensors.h"
#include "npz_util.h"

static char *dir;
static void setup(void) { dir = iu_tempdir(); }
static void teardown(void) { iu_rmdir(dir); }
TestSuite(safetensors, .init = setup, .fini = teardown);

/* A file of the header text h and data bytes. */
static nz_buf file_of(const char *h, const void *data, size_t n)
{
    nz_buf b = {0};
    nz_u64(&b, strlen(h));
    nz_put(&b, h, strlen(h));
    nz_put(&b, data, n);
    return b;
}

Test(safetensors, write_read_back)
{
    float a[6] = {1, -2, 3.5f, 0, 1e-30f, -7}, b[3] = {9, 8, 7};
    elbo_st_out t[2] = {{"layer.weight", a, 2, {2, 3}}, {"layer.bias", b, 1, {3}}};
    const char *k[1] = {"format"}, *v[1] = {"pt"};
    const char *p = iu_path(dir, "w.safetensors");
    cr_assert_eq(elbo_safetensors_write(p, t, 2, k, v, 1), ELBO_OK, "%s", elbo_last_error());
    elbo_safetensors f;
    cr_assert_eq(elbo_safetensors_open(p, &f), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(f.n, 2);
    cr_assert_eq(f.data_start % 8, 0, "header padded to 8 bytes");
    cr_assert_str_eq(elbo_safetensors_meta(&f, "format"), "pt");
    const elbo_st_tensor *w = elbo_safetensors_find(&f, "layer.weight");
    cr_assert(w);
    cr_assert_eq(w->ndim, 2);
    cr_assert_eq(w->shape[1], 3);
    float back[6];
    cr_assert_eq(elbo_safetensors_read_f32(&f, w, back), ELBO_OK);
    cr_assert_eq(memcmp(back, a, sizeof a), 0);
    cr_assert_eq(elbo_safetensors_read_f32(&f, elbo_safetensors_find(&f, "layer.bias"), back), ELBO_OK);
    cr_assert_eq(back[2], 7.0f);
    elbo_safetensors_close(&f);
}

Test(safetensors, half_types_and_f64)
{
    uint16_t bf[3] = {elbo_f32_to_bf16(1.0f), elbo_f32_to_bf16(-3.140625f), elbo_f32_to_bf16(0x1.01p0f)};
    cr_assert_eq(elbo_bf16_to_f32(bf[2]), 1.0f, "ties to even: 1 + 2^-8 rounds down to 1");
    cr_assert_eq(elbo_bf16_to_f32(elbo_f32_to_bf16(0x1.03p0f)), 0x1.04p0f, "ties to even: rounds up to the even");
    cr_assert(isnan(elbo_bf16_to_f32(elbo_f32_to_bf16(NAN))));
    uint16_t f16[2] = {0xC000, 0x7BFF}; /* -2, 65504 */
    double f64[2] = {0.1, -1e300};
    uint8_t data[6 + 4 + 16];
    memcpy(data, bf, 6);
    memcpy(data + 6, f16, 4);
    memcpy(data + 10, f64, 16);
    nz_buf b = file_of("{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[6,10]},"
                       "\"c\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[10,26]}}",
                       data, sizeof data);
    elbo_safetensors f;
    cr_assert_eq(elbo_safetensors_parse("h.safetensors", b.p, b.n, &f), ELBO_OK, "%s", elbo_last_error());
    float v[3];
    cr_assert_eq(elbo_safetensors_read_f32(&f, elbo_safetensors_find(&f, "a"), v), ELBO_OK);
    cr_assert_eq(v[0], 1.0f);
    cr_assert_eq(v[1], -3.140625f);
    cr_assert_eq(elbo_safetensors_read_f32(&f, elbo_safetensors_find(&f, "b"), v), ELBO_OK);
    cr_assert_eq(v[0], -2.0f);
    cr_assert_eq(v[1], 65504.0f);
    cr_assert_eq(elbo_safetensors_read_f32(&f, elbo_safetensors_find(&f, "c"), v), ELBO_OK);
    cr_assert_eq(v[0], 0.1f, "float64 rounded to nearest");
    cr_assert(isinf(v[1]) && v[1] < 0);
    elbo_safetensors_close(&f);
    free(b.p);
}

Test(safetensors, hostile_headers)
{
    uint8_t data[16] = {0};
    const struct {
        const char *h;
        size_t data;
        const char *says;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "hold 8 data bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "the file has 12"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not hold 3 elements"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlaps"},
        {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
         "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", 4, "duplicate"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "expected"},
        {"[1,2]", 0, "JSON object"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "JSON"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nz_buf b = file_of(cases[c].h, data, cases[c].data);
        elbo_safetensors f;
        elbo_status st = elbo_safetensors_parse("bad.safetensors", b.p, b.n, &f);
        cr_expect_eq(st, ELBO_ERR_FORMAT, "case %zu: %s", c, elbo_last_error());
        cr_expect(strstr(elbo_last_error(), "bad.safetensors") && strstr(elbo_last_error(), cases[c].says),
                  "case %zu: '%s' lacks '%s'", c, elbo_last_error(), cases[c].says);
        cr_expect(strchr(elbo_last_error(), '\n') == NULL);
        free(b.p);
    }
    /* the header length overruns the file */
    nz_buf b = file_of("{}", data, 0);
    b.p[0] = 200;
    elbo_safetensors f;
    cr_assert_eq(elbo_safetensors_parse("over.safetensors", b.p, b.n, &f), ELBO_ERR_FORMAT);
    iu_assert_msg_has("overruns");
    cr_assert_eq(elbo_safetensors_parse("tiny.safetensors", b.p, 5, &f), ELBO_ERR_FORMAT);
    iu_assert_msg_has("truncated");
    free(b.p);
}

static elbo_vae make_vae(int classes, int hidden0, int hidden1, elbo_vae_lik lik, uint64_t seed)
{
    elbo_vae_config c = elbo_vae_config_default();
    c.x_dim = 12, c.z_dim = 3, c.n_classes = classes, c.lik = lik;
    c.n_hidden = hidden1 ? 2 : 1, c.hidden[0] = hidden0, c.hidden[1] = hidden1;
    elbo_vae m;
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK);
    return m;
}

Test(safetensors, vae_export_import_exact)
{
    const struct {
        int classes, h0, h1;
        elbo_vae_lik lik;
    } archs[] = {{0, 7, 0, ELBO_VAE_BERNOULLI}, {4, 9, 5, ELBO_VAE_BERNOULLI}, {0, 6, 0, ELBO_VAE_GAUSSIAN_LEARNED}};
    for (size_t a = 0; a < 3; a++) {
        elbo_vae m = make_vae(archs[a].classes, archs[a].h0, archs[a].h1, archs[a].lik, 1);
        elbo_vae n = make_vae(archs[a].classes, archs[a].h0, archs[a].h1, archs[a].lik, 2);
        if (archs[a].lik == ELBO_VAE_GAUSSIAN_LEARNED)
            elbo_param_w(&m.params, m.lik_logvar)[5] = -0.75f;
        const char *p = iu_path(dir, "vae.safetensors");
        cr_assert_eq(elbo_vae_save_safetensors(&m, p), ELBO_OK, "%s", elbo_last_error());
        cr_assert_neq(memcmp(m.params.w, n.params.w, m.params.n * sizeof(float)), 0);
        cr_assert_eq(elbo_vae_load_safetensors(&n, p), ELBO_OK, "%s", elbo_last_error());
        cr_assert_eq(memcmp(m.params.w, n.params.w, m.params.n * sizeof(float)), 0, "arch %zu: not exact", a);
        /* the layout: fc_mu.weight[o][i] is head_w[i][o], fc_logvar.weight[o][i] is head_w[i][Z + o] */
        elbo_safetensors f;
        cr_assert_eq(elbo_safetensors_open(p, &f), ELBO_OK);
        const elbo_st_tensor *mu = elbo_safetensors_find(&f, "fc_mu.weight"), *lv = elbo_safetensors_find(&f, "fc_logvar.weight");
        int H = m.params.info[m.head_w].rows, Z = 3;
        cr_assert_eq(mu->shape[0], (uint64_t)Z);
        cr_assert_eq(mu->shape[1], (uint64_t)H);
        float *wm = malloc((size_t)Z * H * sizeof(float)), *wl = malloc((size_t)Z * H * sizeof(float));
        elbo_safetensors_read_f32(&f, mu, wm);
        elbo_safetensors_read_f32(&f, lv, wl);
        const float *hw = elbo_param_w(&m.params, m.head_w);
        for (int o = 0; o < Z; o++)
            for (int i = 0; i < H; i++) {
                cr_assert_eq(wm[o * H + i], hw[i * 2 * Z + o]);
                cr_assert_eq(wl[o * H + i], hw[i * 2 * Z + Z + o]);
            }
        cr_assert(elbo_safetensors_meta(&f, "elbo.arch"));
        free(wm), free(wl);
        elbo_safetensors_close(&f);
        elbo_vae_free(&m);
        elbo_vae_free(&n);
    }
}

Test(safetensors, vae_refuses_other_shapes)
{
    elbo_vae m = make_vae(0, 7, 0, ELBO_VAE_BERNOULLI, 1);
    const char *p = iu_path(dir, "vae.safetensors");
    cr_assert_eq(elbo_vae_save_safetensors(&m, p), ELBO_OK);
    elbo_vae wider = make_vae(0, 8, 0, ELBO_VAE_BERNOULLI, 3), deeper = make_vae(0, 7, 4, ELBO_VAE_BERNOULLI, 3);
    elbo_vae cond = make_vae(2, 7, 0, ELBO_VAE_BERNOULLI, 3), learned = make_vae(0, 7, 0, ELBO_VAE_GAUSSIAN_LEARNED, 3);
    float *before = malloc(wider.params.n * sizeof(float));
    memcpy(before, wider.params.w, wider.params.n * sizeof(float));
    cr_assert_eq(elbo_vae_load_safetensors(&wider, p), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("encoder.0.weight");
    iu_assert_msg_has("(7, 12)");
    cr_assert_eq(memcmp(before, wider.params.w, wider.params.n * sizeof(float)), 0, "untouched on error");
    cr_assert_eq(elbo_vae_load_safetensors(&deeper, p), ELBO_ERR_MISMATCH);
    cr_assert_eq(elbo_vae_load_safetensors(&cond, p), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("(7, 14)");
    cr_assert_eq(elbo_vae_load_safetensors(&learned, p), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("lik_logvar");
    /* a file with an extra tensor is another architecture */
    elbo_vae_save_safetensors(&learned, p);
    elbo_vae plain = make_vae(0, 7, 0, ELBO_VAE_BERNOULLI, 4);
    cr_assert_eq(elbo_vae_load_safetensors(&plain, p), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("no place");
    free(before);
    elbo_vae_free(&m), elbo_vae_free(&wider), elbo_vae_free(&deeper), elbo_vae_free(&cond), elbo_vae_free(&learned);
    elbo_vae_free(&plain);
}
