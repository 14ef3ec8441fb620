/* .npz (zip): stored and deflated members, with and without zip64 records,
 * read back exactly; CRC errors, lying sizes and truncation refused. */
#include "io_util.h"
#include "models/io/npy.h"
#include "models/io/zip.h"
#include "npz_util.h"

static void check_archive(const nz_buf *z, const uint8_t *px, size_t npx)
{
    elbo_source s;
    elbo_source_memory(&s, "t.npz", z->p, z->n);
    elbo_zip zip;
    cr_assert_eq(elbo_zip_open(&zip, &s), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(zip.n, 2);
    int i = elbo_zip_find(&zip, "x.npy");
    cr_assert_geq(i, 0);
    cr_assert_eq(elbo_zip_find(&zip, "nope.npy"), -1);
    elbo_source ms;
    uint8_t *owned;
    char name[512];
    cr_assert_eq(elbo_zip_member_source(&zip, (size_t)i, &ms, &owned, name, sizeof name), ELBO_OK, "%s",
                 elbo_last_error());
    cr_assert_str_eq(name, "t.npz/x.npy");
    elbo_npy_info h;
    cr_assert_eq(elbo_npy_info_read(&ms, &h), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(h.count, npx);
    uint8_t *got = malloc(npx);
    cr_assert_eq(elbo_npy_read_u8(&ms, &h, 0, npx, got), ELBO_OK);
    cr_assert_eq(memcmp(got, px, npx), 0);
    free(got);
    free(owned);
    elbo_zip_free(&zip);
}

Test(npz, stored_deflated_zip64)
{
    uint8_t px[3000], y[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i % 30 < 15 ? i / 7 : 0);
    nz_buf x = nz_npy("|u1", "(10, 300)", px, sizeof px), yy = nz_npy("|u1", "(10,)", y, 10);
    for (int zip64 = 0; zip64 < 2; zip64++)
        for (int defl = 0; defl < 2; defl++) {
            nz_member m[2] = {{"x.npy", x.p, x.n, defl}, {"y.npy", yy.p, yy.n, defl}};
            nz_buf z = nz_zip(m, 2, zip64);
            check_archive(&z, px, sizeof px);
            free(z.p);
        }
    free(x.p);
    free(yy.p);
}

Test(npz, hostile_archives)
{
    uint8_t px[600];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 13);
    nz_buf x = nz_npy("|u1", "(2, 300)", px, sizeof px);
    nz_member m[1] = {{"x.npy", x.p, x.n, 0}};
    nz_buf z = nz_zip(m, 1, 1);
    elbo_source s;
    elbo_zip zip;
    elbo_source ms;
    uint8_t *owned;
    char name[512];
    /* every truncation */
    for (size_t cut = 0; cut < z.n; cut++) {
        elbo_source_memory(&s, "cut.npz", z.p, cut);
        elbo_status st = elbo_zip_open(&zip, &s);
        if (st == ELBO_OK) {
            st = elbo_zip_member_source(&zip, 0, &ms, &owned, name, sizeof name);
            if (st == ELBO_OK)
                free(owned);
            elbo_zip_free(&zip);
        }
        cr_assert_neq(st, ELBO_OK, "cut at %zu of %zu accepted", cut, z.n);
        cr_assert(strstr(elbo_last_error(), "cut.npz"), "%s", elbo_last_error());
    }
    /* a flipped data byte: the CRC names it */
    z.p[200] ^= 0x40;
    elbo_source_memory(&s, "crc.npz", z.p, z.n);
    cr_assert_eq(elbo_zip_open(&zip, &s), ELBO_OK);
    cr_assert_eq(elbo_zip_member_source(&zip, 0, &ms, &owned, name, sizeof name), ELBO_ERR_FORMAT);
    iu_assert_msg_has("CRC-32");
    iu_assert_msg_has("crc.npz/x.npy");
    elbo_zip_free(&zip);
    free(z.p);
    /* a deflated member claiming a size deflate cannot produce */
    m[0].deflate = 1;
    z = nz_zip(m, 1, 0);
    size_t cd = z.n - 22 - (46 + 5); /* central header of the only member */
    cr_assert_eq(z.p[cd], 0x50);
    z.p[cd + 24] = 0xFF, z.p[cd + 25] = 0xFF, z.p[cd + 26] = 0xFF, z.p[cd + 27] = 0x7F;
    elbo_source_memory(&s, "lie.npz", z.p, z.n);
    cr_assert_eq(elbo_zip_open(&zip, &s), ELBO_OK);
    cr_assert_eq(elbo_zip_member_source(&zip, 0, &ms, &owned, name, sizeof name), ELBO_ERR_FORMAT);
    iu_assert_msg_has("lying");
    elbo_zip_free(&zip);
    free(z.p);
    /* not a zip at all */
    elbo_source_memory(&s, "x.npz", x.p, x.n);
    cr_assert_eq(elbo_zip_open(&zip, &s), ELBO_ERR_FORMAT);
    iu_assert_msg_has("not a zip");
    free(x.p);
}
