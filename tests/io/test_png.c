/* PNG: CRC/Adler reference values, encoder/decoder round trip, grids, corruption. */
#include <math.h>

#include "io_util.h"
#include "models/io/crc.h"
#include "models/io/png.h"

static char *dir;
static void setup(void) { dir = iu_tempdir(); }
static void teardown(void) { iu_rmdir(dir); }
TestSuite(png, .init = setup, .fini = teardown);

Test(png, checksums_match_reference_values)
{
    cr_assert_eq(elbo_crc32("123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
    cr_assert_eq(elbo_crc32("", 0), 0);
    cr_assert_eq(elbo_crc32_update(elbo_crc32("1234", 4), "56789", 5), 0xCBF43926u);
    cr_assert_eq(elbo_adler32_update(1, "Wikipedia", 9), 0x11E60398u);
    cr_assert_eq(elbo_crc32("IEND", 4), 0xAE426082u); /* as in every PNG */
    /* Adler-32 over more than NMAX bytes of 0xFF exercises the modulo path */
    static uint8_t ff[100000];
    memset(ff, 0xFF, sizeof ff);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < sizeof ff; i++) {
        a = (a + 0xFF) % 65521;
        b = (b + a) % 65521;
    }
    cr_assert_eq(elbo_adler32_update(1, ff, sizeof ff), (b << 16) | a);
}

static void round_trip(int w, int h, int ch)
{
    size_t n = (size_t)w * h * ch;
    uint8_t *px = malloc(n);
    for (size_t i = 0; i < n; i++)
        px[i] = (uint8_t)((i * 2654435761u) >> 13);
    uint8_t *png, *back;
    size_t len;
    cr_assert_eq(elbo_png_encode(px, w, h, ch, &png, &len), ELBO_OK, "%s", elbo_last_error());
    int bw, bh, bc;
    cr_assert_eq(elbo_png_decode("mem", png, len, &back, &bw, &bh, &bc), ELBO_OK, "%dx%dx%d: %s", w, h, ch,
                 elbo_last_error());
    cr_assert_eq(bw, w);
    cr_assert_eq(bh, h);
    cr_assert_eq(bc, ch);
    cr_assert_eq(memcmp(px, back, n), 0);
    free(png);
    free(back);
    free(px);
}

Test(png, round_trip_shapes)
{
    round_trip(1, 1, 1);
    round_trip(28, 28, 1);
    round_trip(7, 5, 3);
    round_trip(300, 250, 1); /* several 64 KiB stored blocks */
    round_trip(256, 256, 3);
}

Test(png, write_gray_file_clamps_and_rounds)
{
    float px[6] = {0.0f, 1.0f, 0.5f, -3.0f, 7.0f, NAN};
    const char *p = iu_path(dir, "g.png");
    cr_assert_eq(elbo_png_write_gray(p, px, 3, 2), ELBO_OK, "%s", elbo_last_error());
    size_t n;
    uint8_t *buf = iu_read(p, &n), *back;
    int w, h, c;
    cr_assert_eq(elbo_png_decode(p, buf, n, &back, &w, &h, &c), ELBO_OK, "%s", elbo_last_error());
    uint8_t want[6] = {0, 255, 128, 0, 255, 0};
    cr_assert_eq(memcmp(back, want, 6), 0, "%d %d %d %d %d %d", back[0], back[1], back[2], back[3], back[4], back[5]);
    free(buf);
    free(back);
    cr_assert_eq(iu_count_entries(dir), 1);
}

Test(png, write_rgb_file)
{
    float px[2 * 2 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    const char *p = iu_path(dir, "c.png");
    cr_assert_eq(elbo_png_write_rgb(p, px, 2, 2), ELBO_OK);
    size_t n;
    uint8_t *buf = iu_read(p, &n), *back;
    int w, h, c;
    cr_assert_eq(elbo_png_decode(p, buf, n, &back, &w, &h, &c), ELBO_OK);
    cr_assert_eq(c, 3);
    cr_assert_eq(back[0], 255);
    cr_assert_eq(back[1], 0);
    cr_assert_eq(back[4], 255);
    cr_assert_eq(back[8], 255);
    free(buf);
    free(back);
}

Test(png, grid_layout)
{
    /* three 2x3 tiles in a 2x2 grid with 1 px padding of 0.5 */
    float tiles[3 * 6];
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 6; k++)
            tiles[t * 6 + k] = (float)(t + 1) / 4.0f;
    const char *p = iu_path(dir, "grid.png");
    cr_assert_eq(elbo_png_write_grid(p, tiles, 3, 2, 3, 2, 2, 1, 0.0f), ELBO_OK, "%s", elbo_last_error());
    size_t n;
    uint8_t *buf = iu_read(p, &n), *px;
    int w, h, c;
    cr_assert_eq(elbo_png_decode(p, buf, n, &px, &w, &h, &c), ELBO_OK);
    cr_assert_eq(w, 2 * 3 + 3);
    cr_assert_eq(h, 2 * 2 + 3);
    cr_assert_eq(px[0], 0, "frame");
    cr_assert_eq(px[1 * w + 1], 64, "tile 0 top-left");
    cr_assert_eq(px[1 * w + 5], 128, "tile 1 starts after 3 px and a pad");
    cr_assert_eq(px[4 * w + 1], 191, "tile 2 on the second row");
    cr_assert_eq(px[4 * w + 5], 0, "missing tile is padding");
    free(buf);
    free(px);
    cr_assert_eq(elbo_png_write_grid(p, tiles, 3, 0, 3, 2, 2, 1, 0.0f), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_png_write_grid(p, tiles, 3, 28, 28, 10000, 10000, 1, 0.0f), ELBO_ERR_INVALID);
}

Test(png, decoder_rejects_corruption)
{
    uint8_t px[16] = {0};
    uint8_t *png, *back;
    size_t len;
    int w, h, c;
    cr_assert_eq(elbo_png_encode(px, 4, 4, 1, &png, &len), ELBO_OK);
    png[len - 20] ^= 1; /* inside IDAT: its chunk CRC fails */
    cr_assert_eq(elbo_png_decode("x.png", png, len, &back, &w, &h, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has("CRC");
    png[len - 20] ^= 1;
    cr_assert_eq(elbo_png_decode("x.png", png, len - 1, &back, &w, &h, &c), ELBO_ERR_FORMAT);
    cr_assert_eq(elbo_png_decode("x.png", png, 4, &back, &w, &h, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has("signature");
    free(png);
    cr_assert_eq(elbo_png_encode(px, 0, 4, 1, &png, &len), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_png_encode(px, 4, 4, 5, &png, &len), ELBO_ERR_INVALID);
}

Test(png, unwritable_path_fails_cleanly)
{
    float px[1] = {0};
    cr_assert_eq(elbo_png_write_gray(iu_path(dir, "missing/x.png"), px, 1, 1), ELBO_ERR_IO);
    iu_assert_msg_has("missing/x.png");
}
