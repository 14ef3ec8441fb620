/* The dSprites generator: index order, published values, the fast
 * renderers against the naive reference, geometric facts of the outlines,
 * sampling, the factor table round trip, determinism across threads. */
#include <math.h>
#include <pthread.h>

#include "../io/io_util.h"
#include "models/data/dsprites.h"
#include "models/io/crc.h"

#define SIDE ELBO_DSPRITES_SIDE
#define PIX ELBO_DSPRITES_PIXELS

static elbo_dsprites *ds;
static char *dir;
static void setup(void)
{
    cr_assert_eq(elbo_dsprites_new(&ds), ELBO_OK, "%s", elbo_last_error());
    dir = iu_tempdir();
}
static void teardown(void)
{
    elbo_dsprites_free(ds);
    iu_rmdir(dir);
}
TestSuite(dsprites, .init = setup, .fini = teardown);

static uint32_t idx_of(int shape, int scale, int orientation, int x, int y)
{
    return elbo_dsprites_index((int32_t[]){shape, scale, orientation, x, y});
}

/* One image as bytes (64, 64). */
static void image(uint32_t index, uint8_t *px)
{
    cr_assert_eq(elbo_dsprites_render_u8(ds, &index, 1, px), ELBO_OK, "%s", elbo_last_error());
}

static int area(const uint8_t *px)
{
    int a = 0;
    for (int i = 0; i < PIX; i++)
        a += px[i];
    return a;
}

/* Columns (or rows) spanned by the set pixels. */
static int extent(const uint8_t *px, bool along_x)
{
    int lo = SIDE, hi = -1;
    for (int r = 0; r < SIDE; r++)
        for (int c = 0; c < SIDE; c++)
            if (px[r * SIDE + c]) {
                int v = along_x ? c : r;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
    return hi - lo + 1;
}

Test(dsprites, index_order_is_the_published_one)
{
    uint32_t total = 1;
    for (int k = 0; k < ELBO_DSPRITES_FACTORS; k++)
        total *= (uint32_t)elbo_dsprites_sizes[k];
    cr_assert_eq(total, ELBO_DSPRITES_COUNT);
    /* latents_bases = [737280, 245760, 40960, 1024, 32, 1] without colour: pos_y fastest */
    cr_assert_eq(idx_of(0, 0, 0, 0, 1), 1);
    cr_assert_eq(idx_of(0, 0, 0, 1, 0), 32);
    cr_assert_eq(idx_of(0, 0, 1, 0, 0), 1024);
    cr_assert_eq(idx_of(0, 1, 0, 0, 0), 40960);
    cr_assert_eq(idx_of(1, 0, 0, 0, 0), 245760);
    cr_assert_eq(idx_of(2, 5, 39, 31, 31), ELBO_DSPRITES_COUNT - 1);
    for (uint32_t i = 0; i < ELBO_DSPRITES_COUNT; i += 997) {
        int32_t c[ELBO_DSPRITES_FACTORS];
        elbo_dsprites_classes(i, c);
        for (int k = 0; k < ELBO_DSPRITES_FACTORS; k++)
            cr_assert(c[k] >= 0 && c[k] < elbo_dsprites_sizes[k]);
        cr_assert_eq(elbo_dsprites_index(c), i);
    }
    cr_assert_str_eq(elbo_dsprites_factor_name(ELBO_DSPRITES_POS_Y), "pos_y");
    cr_assert_null(elbo_dsprites_factor_name(5));
}

Test(dsprites, values_are_numpy_linspace)
{
    const double scales[] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    for (int c = 0; c < 6; c++)
        cr_assert(fabs(elbo_dsprites_value(ELBO_DSPRITES_SCALE, c) - scales[c]) < 1e-15);
    for (int c = 0; c < 3; c++)
        cr_assert_eq(elbo_dsprites_value(ELBO_DSPRITES_SHAPE, c), c + 1.0);
    cr_assert_eq(elbo_dsprites_value(ELBO_DSPRITES_ORIENTATION, 0), 0.0);
    cr_assert_eq(elbo_dsprites_value(ELBO_DSPRITES_ORIENTATION, 39), 2 * M_PI); /* both ends included */
    cr_assert_eq(elbo_dsprites_value(ELBO_DSPRITES_ORIENTATION, 1), 2 * M_PI / 39);
    cr_assert_eq(elbo_dsprites_value(ELBO_DSPRITES_POS_X, 31), 1.0);
    cr_assert_eq(elbo_dsprites_value(ELBO_DSPRITES_POS_Y, 1), 1.0 / 31);
    cr_assert(isnan(elbo_dsprites_value(ELBO_DSPRITES_POS_Y, 32)));
    cr_assert(isnan(elbo_dsprites_value(7, 0)));
}

/* bits, bytes and floats agree with each other and with the naive reference. */
static void expect_all_layouts_match_reference(const uint32_t *index, size_t n)
{
    uint64_t *bits = malloc(n * SIDE * sizeof *bits);
    uint8_t *u8 = malloc(n * PIX), ref[PIX];
    float *f32 = malloc(n * PIX * sizeof *f32);
    cr_assert(bits && u8 && f32);
    cr_assert_eq(elbo_dsprites_render_bits(ds, index, n, bits), ELBO_OK);
    cr_assert_eq(elbo_dsprites_render_u8(ds, index, n, u8), ELBO_OK);
    cr_assert_eq(elbo_dsprites_render_f32(ds, index, n, f32), ELBO_OK);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(elbo_dsprites_render_reference(index[i], ref), ELBO_OK);
        for (int p = 0; p < PIX; p++) {
            int b = (int)(bits[i * SIDE + (size_t)(p / SIDE)] >> (p % SIDE) & 1);
            if (u8[i * PIX + (size_t)p] != ref[p] || b != ref[p] || f32[i * PIX + (size_t)p] != (float)ref[p])
                cr_assert_fail("index %u pixel (%d, %d): reference %d, bits %d, u8 %d, f32 %g", index[i], p / SIDE,
                               p % SIDE, ref[p], b, u8[i * PIX + (size_t)p], f32[i * PIX + (size_t)p]);
        }
    }
    free(bits), free(u8), free(f32);
}

Test(dsprites, every_mask_at_the_corners_matches_the_reference)
{
    static const int corner[][2] = {{0, 0}, {31, 31}, {0, 31}, {31, 0}, {17, 5}};
    static uint32_t idx[ELBO_DSPRITES_MASKS * 5];
    size_t n = 0;
    for (int s = 0; s < 3; s++)
        for (int sc = 0; sc < 6; sc++)
            for (int o = 0; o < 40; o++)
                for (int c = 0; c < 5; c++)
                    idx[n++] = idx_of(s, sc, o, corner[c][0], corner[c][1]);
    expect_all_layouts_match_reference(idx, n);
}

Test(dsprites, random_indices_match_the_reference)
{
    enum { N = 3000 };
    static uint32_t idx[N];
    elbo_rng rng;
    elbo_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++)
        idx[i] = (uint32_t)elbo_rng_below(&rng, ELBO_DSPRITES_COUNT);
    expect_all_layouts_match_reference(idx, N);
}

Test(dsprites, area_grows_with_scale)
{
    uint8_t a[PIX], b[PIX];
    for (int s = 0; s < 3; s++)
        for (int o = 0; o < 40; o += 3)
            for (int sc = 0; sc + 1 < 6; sc++) {
                image(idx_of(s, sc, o, 10, 20), a);
                image(idx_of(s, sc + 1, o, 10, 20), b);
                cr_assert_lt(area(a), area(b), "shape %d orientation %d scale %d -> %d: area %d -> %d", s, o, sc,
                             sc + 1, area(a), area(b));
            }
}

Test(dsprites, areas_are_the_documented_outlines)
{
    uint8_t px[PIX];
    for (int sc = 0; sc < 6; sc++) {
        double h = 5 + sc, s = 1.2 * h;
        image(idx_of(0, sc, 0, 3, 3), px);
        cr_assert_eq(area(px), (int)(4 * h * h), "square side 2h exactly at orientation 0");
        cr_assert_eq(extent(px, true), (int)(2 * h));
        image(idx_of(1, sc, 0, 3, 3), px);
        cr_assert(fabs(area(px) / (M_PI * 1.2 * h * 0.6 * h) - 1) < 0.12, "ellipse area %d", area(px));
        cr_assert_gt(extent(px, true), extent(px, false), "ellipse long along x at orientation 0");
        image(idx_of(1, sc, 10, 3, 3), px); /* 10/39 of a turn: ~92 degrees */
        cr_assert_lt(extent(px, true), extent(px, false), "ellipse long along y after a quarter turn");
        image(idx_of(2, sc, 0, 3, 3), px);
        cr_assert(fabs(area(px) / (s * s + M_PI * s * s / 4) - 1) < 0.12, "heart area %d", area(px));
    }
}

Test(dsprites, mask_centroid_tracks_position)
{
    uint8_t px[PIX];
    for (int s = 0; s < 3; s++)
        for (int sc = 0; sc < 6; sc += 5)
            for (int o = 0; o < 40; o += 13) {
                double cx0 = 0, cy0 = 0;
                for (int x = 0; x < 32; x += 5)
                    for (int y = 0; y < 32; y += 7) {
                        image(idx_of(s, sc, o, x, y), px);
                        double sx = 0, sy = 0;
                        int a = area(px);
                        for (int p = 0; p < PIX; p++)
                            if (px[p])
                                sx += p % SIDE, sy += p / SIDE;
                        if (x == 0 && y == 0)
                            cx0 = sx / a, cy0 = sy / a;
                        cr_assert(fabs(sx / a - cx0 - x) < 1e-9 && fabs(sy / a - cy0 - y) < 1e-9,
                                  "shape %d scale %d orientation %d at (%d, %d): centroid moved by (%g, %g)", s, sc,
                                  o, x, y, sx / a - cx0, sy / a - cy0);
                        /* the centroid sits near the documented centre (16 + x, 16 + y) px */
                        cr_assert(fabs(sx / a + 0.5 - (16 + x)) < 2.5 && fabs(sy / a + 0.5 - (16 + y)) < 2.5);
                    }
            }
}

Test(dsprites, orientation_zero_and_two_pi_are_the_same_image)
{
    uint8_t a[PIX], b[PIX], c[PIX];
    for (int s = 0; s < 3; s++)
        for (int sc = 0; sc < 6; sc++) {
            image(idx_of(s, sc, 0, 9, 22), a);
            image(idx_of(s, sc, 39, 9, 22), b);
            cr_assert_eq(memcmp(a, b, PIX), 0, "shape %d scale %d", s, sc);
            image(idx_of(s, sc, 1, 9, 22), c);
            if (s != 0 || sc > 0) /* a turn of 9.2 degrees changes every outline but the smallest square's */
                cr_assert_neq(memcmp(a, c, PIX), 0, "shape %d scale %d: orientation 1 looks like 0", s, sc);
        }
}

Test(dsprites, orientation_zero_is_mirror_symmetric)
{
    uint8_t px[PIX];
    for (int s = 0; s < 3; s++)
        for (int sc = 0; sc < 6; sc++) {
            int x = 11, y = 4, cx = 16 + x, cy = 16 + y;
            image(idx_of(s, sc, 0, x, y), px);
            for (int r = 0; r < SIDE; r++)
                for (int c = 0; c < SIDE; c++) {
                    int mc = 2 * cx - 1 - c, mr = 2 * cy - 1 - r; /* mirror about the centre's vertical line */
                    if (mc >= 0 && mc < SIDE)
                        cr_assert_eq(px[r * SIDE + c], px[r * SIDE + mc], "shape %d scale %d: not left-right symmetric",
                                     s, sc);
                    if (s < 2 && mr >= 0 && mr < SIDE) /* square and ellipse: also up-down */
                        cr_assert_eq(px[r * SIDE + c], px[mr * SIDE + c], "shape %d scale %d: not up-down symmetric",
                                     s, sc);
                }
        }
}

Test(dsprites, heart_points_down_with_its_lobes_up)
{
    uint8_t px[PIX];
    for (int sc = 0; sc < 6; sc++) {
        image(idx_of(2, sc, 0, 8, 8), px);
        int widest = 0, widest_row = -1, last = -1;
        for (int r = 0; r < SIDE; r++) {
            int w = 0;
            for (int c = 0; c < SIDE; c++)
                w += px[r * SIDE + c];
            if (w > widest)
                widest = w, widest_row = r;
            if (w)
                last = r;
        }
        cr_assert_lt(widest_row, 16 + 8, "scale %d: widest row %d is not above the centre", sc, widest_row);
        int bottom = 0;
        for (int c = 0; c < SIDE; c++)
            bottom += px[last * SIDE + c];
        cr_assert_leq(bottom, 2, "scale %d: the bottom row is a tip, got %d pixels", sc, bottom);
    }
}

Test(dsprites, every_image_fits_the_frame)
{
    /* the frame's border rows and columns stay empty at the extreme positions */
    uint8_t px[PIX];
    for (int s = 0; s < 3; s++)
        for (int o = 0; o < 40; o++)
            for (int corner = 0; corner < 4; corner++) {
                image(idx_of(s, 5, o, corner & 1 ? 31 : 0, corner & 2 ? 31 : 0), px);
                for (int i = 0; i < SIDE; i++)
                    cr_assert(!px[i] && !px[(SIDE - 1) * SIDE + i] && !px[i * SIDE] && !px[i * SIDE + SIDE - 1],
                              "shape %d orientation %d corner %d touches the border", s, o, corner);
            }
}

Test(dsprites, bad_index_writes_nothing)
{
    uint32_t idx[3] = {5, ELBO_DSPRITES_COUNT, 7};
    static float f[3 * PIX];
    for (int i = 0; i < 3 * PIX; i++)
        f[i] = -1;
    cr_assert_eq(elbo_dsprites_render_f32(ds, idx, 3, f), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "737280"), "%s", elbo_last_error());
    for (int i = 0; i < 3 * PIX; i++)
        cr_assert_eq(f[i], -1);
    uint8_t ref[PIX];
    cr_assert_eq(elbo_dsprites_render_reference(ELBO_DSPRITES_COUNT + 5, ref), ELBO_ERR_INVALID);
}

Test(dsprites, draw_fixes_one_factor_and_is_seeded)
{
    enum { N = 6000 };
    static uint32_t a[N], b[N];
    static int32_t cls[N];
    for (int i = 0; i < N; i++)
        cls[i] = i % 6;
    elbo_rng r1, r2;
    elbo_rng_seed(&r1, 3);
    elbo_rng_seed(&r2, 3);
    cr_assert_eq(elbo_dsprites_draw(&r1, ELBO_DSPRITES_SCALE, cls, N, a), ELBO_OK);
    cr_assert_eq(elbo_dsprites_draw(&r2, ELBO_DSPRITES_SCALE, cls, N, b), ELBO_OK);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    int shapes[3] = {0};
    for (int i = 0; i < N; i++) {
        int32_t c[ELBO_DSPRITES_FACTORS];
        elbo_dsprites_classes(a[i], c);
        cr_assert_eq(c[ELBO_DSPRITES_SCALE], cls[i]);
        shapes[c[ELBO_DSPRITES_SHAPE]]++;
    }
    for (int s = 0; s < 3; s++) /* the unfixed factors stay uniform: 2000 +- 5 sd */
        cr_assert(abs(shapes[s] - N / 3) < 5 * 37, "shape %d drawn %d times of %d", s, shapes[s], N);
    cr_assert_eq(elbo_dsprites_draw(&r1, -1, NULL, N, a), ELBO_OK);
    cls[17] = 6;
    cr_assert_eq(elbo_dsprites_draw(&r1, ELBO_DSPRITES_SCALE, cls, N, a), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_dsprites_draw(&r1, 5, cls, N, a), ELBO_ERR_INVALID);
}

Test(dsprites, factor_table_round_trips)
{
    enum { N = 5000 };
    static uint32_t idx[N];
    elbo_rng rng;
    elbo_rng_seed(&rng, 11);
    for (int i = 0; i < N; i++)
        idx[i] = i < 2 ? (i ? ELBO_DSPRITES_COUNT - 1 : 0) : (uint32_t)elbo_rng_below(&rng, ELBO_DSPRITES_COUNT);
    const char *p = iu_path(dir, "factors.csv");
    cr_assert_eq(elbo_dsprites_write_factors(p, idx, N), ELBO_OK, "%s", elbo_last_error());
    uint32_t *back;
    size_t n;
    cr_assert_eq(elbo_dsprites_read_factors(p, &back, &n), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(n, N);
    cr_assert_eq(memcmp(back, idx, sizeof idx), 0);
    free(back);
    size_t len;
    char *text = (char *)iu_read(p, &len);
    const char *head = "index,shape,scale,orientation,pos_x,pos_y,shape_value,";
    cr_assert(strncmp(text, head, strlen(head)) == 0, "%.80s", text);
    free(text);
}

Test(dsprites, whole_factor_table_round_trips, .timeout = 120)
{
    const char *p = iu_path(dir, "all.csv");
    cr_assert_eq(elbo_dsprites_write_factors(p, NULL, 0), ELBO_OK, "%s", elbo_last_error());
    uint32_t *back;
    size_t n;
    cr_assert_eq(elbo_dsprites_read_factors(p, &back, &n), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(n, ELBO_DSPRITES_COUNT);
    for (uint32_t i = 0; i < ELBO_DSPRITES_COUNT; i++)
        cr_assert_eq(back[i], i);
    free(back);
}

Test(dsprites, bad_factor_tables_are_refused)
{
    static const struct {
        const char *text, *says;
    } cases[] = {
        {"index,shape\n0,0\n", "columns"},
        {"0,0,0,0,0,0,1,0.5,0,0,0\n1,0,0,0,0,0,1,0.5,0,0,0\n", "pos_y"},        /* index 1 has pos_y 1 */
        {"737280,0,0,0,0,0,1,0.5,0,0,0\n", "index"},                          /* out of range */
        {"0.5,0,0,0,0,0,1,0.5,0,0,0\n", "index"},                             /* not an integer */
        {"0,0,0,0,0,0,1,0.5,0,0,0.1\n", "pos_y_value"},                       /* wrong value */
        {"0,0,0,0,0,0,1,0.5,0,0,nan\n", "finite"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t *idx = NULL;
        size_t n = 0;
        elbo_status st = elbo_dsprites_parse_factors("t.csv", cases[c].text, strlen(cases[c].text), &idx, &n);
        cr_assert_neq(st, ELBO_OK, "case %zu accepted", c);
        cr_assert(strstr(elbo_last_error(), "t.csv") && strstr(elbo_last_error(), cases[c].says),
                  "case %zu: '%s' should name t.csv and '%s'", c, elbo_last_error(), cases[c].says);
        cr_assert_null(strchr(elbo_last_error(), '\n'));
    }
    uint32_t *idx;
    size_t n;
    const char *ok = "0,0,0,0,0,0,1,0.5,0,0,0\n";
    cr_assert_eq(elbo_dsprites_parse_factors("t.csv", ok, strlen(ok), &idx, &n), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(n, 1);
    free(idx);
}

/* Threads render disjoint halves of a block; the bits equal one thread's. */
typedef struct half {
    const uint32_t *idx;
    size_t n;
    uint64_t *out;
} half;

static void *render_half(void *p)
{
    half *h = p;
    return (void *)(intptr_t)elbo_dsprites_render_bits(ds, h->idx, h->n, h->out);
}

Test(dsprites, same_bits_on_any_thread_count)
{
    enum { N = 40000 };
    static uint32_t idx[N];
    static uint64_t one[N * SIDE], two[N * SIDE];
    for (int i = 0; i < N; i++)
        idx[i] = (uint32_t)((uint64_t)i * 18 + 5) % ELBO_DSPRITES_COUNT;
    cr_assert_eq(elbo_dsprites_render_bits(ds, idx, N, one), ELBO_OK);
    pthread_t t[2];
    half h[2] = {{idx, N / 2, two}, {idx + N / 2, N - N / 2, two + (size_t)(N / 2) * SIDE}};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, render_half, &h[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_assert_eq((intptr_t)r, ELBO_OK);
    }
    cr_assert_eq(memcmp(one, two, sizeof one), 0);
}

/* The 720 masks at position (0, 0), pinned: any change of outline, rounding
 * (a libm, a compiler, FMA contraction) or layout shows here. The value is
 * the CRC-32 of their bit rows, recorded when the outlines were fixed. */
Test(dsprites, mask_bits_are_pinned)
{
    static uint32_t idx[ELBO_DSPRITES_MASKS];
    static uint64_t bits[ELBO_DSPRITES_MASKS * SIDE];
    for (uint32_t m = 0; m < ELBO_DSPRITES_MASKS; m++)
        idx[m] = m * 1024u;
    cr_assert_eq(elbo_dsprites_render_bits(ds, idx, ELBO_DSPRITES_MASKS, bits), ELBO_OK);
    uint8_t le[ELBO_DSPRITES_MASKS * SIDE * 8];
    for (size_t w = 0; w < sizeof bits / sizeof bits[0]; w++)
        for (int b = 0; b < 8; b++)
            le[w * 8 + (size_t)b] = (uint8_t)(bits[w] >> (8 * b));
    cr_assert_eq(elbo_crc32(le, sizeof le), 0x43c2a406u, "mask CRC-32 %08x", elbo_crc32(le, sizeof le));
}
