/* .npy: headers of every version, dtypes and byte orders converted, the
 * writer read back, and lying or malformed headers refused by name. */
#include <math.h>

#include "io_util.h"
#include "models/io/npy.h"

static char *dir;
static void setup(void) { dir = iu_tempdir(); }
static void teardown(void) { iu_rmdir(dir); }
TestSuite(npy, .init = setup, .fini = teardown);

/* A .npy in memory: version major, the dict text, then n data bytes. */
static size_t make(uint8_t *buf, int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, k = strlen(dict), hlen = k + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (uint8_t)hlen, buf[9] = (uint8_t)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            buf[8 + i] = (uint8_t)(hlen >> (8 * i));
    }
    memcpy(buf + pre, dict, k);
    memset(buf + pre + k, ' ', hlen - k - 1);
    buf[pre + hlen - 1] = '\n';
    memcpy(buf + pre + hlen, data, n);
    return pre + hlen + n;
}

Test(npy, versions_and_shapes)
{
    uint8_t buf[512], px[6] = {0, 1, 2, 253, 254, 255};
    elbo_npy_info h;
    for (int major = 1; major <= 3; major++) {
        size_t n = make(buf, major, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", px, 6);
        cr_assert_eq(elbo_npy_info_parse("a.npy", buf, n, &h), ELBO_OK, "v%d: %s", major, elbo_last_error());
        cr_assert_eq(h.ndim, 2);
        cr_assert_eq(h.shape[0], 2);
        cr_assert_eq(h.shape[1], 3);
        cr_assert_eq(h.count, 6);
        elbo_source s;
        elbo_source_memory(&s, "a.npy", buf, n);
        uint8_t got[6];
        cr_assert_eq(elbo_npy_read_u8(&s, &h, 0, 6, got), ELBO_OK);
        cr_assert_eq(memcmp(got, px, 6), 0);
        cr_assert_eq(elbo_npy_read_u8(&s, &h, 4, 2, got), ELBO_OK);
        cr_assert_eq(got[0], 254);
    }
    /* (5,), a scalar, spaces and a Python 2 long */
    size_t n = make(buf, 1, "{\"shape\": (5,) ,'fortran_order':False,'descr':'|u1'}", px, 5);
    cr_assert_eq(elbo_npy_info_parse("b.npy", buf, n, &h), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(h.ndim, 1);
    n = make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "\0\0\x80\x3f", 4);
    cr_assert_eq(elbo_npy_info_parse("c.npy", buf, n, &h), ELBO_OK);
    cr_assert_eq(h.ndim, 0);
    cr_assert_eq(h.count, 1);
    n = make(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2L, 3L), }", px, 6);
    cr_assert_eq(elbo_npy_info_parse("d.npy", buf, n, &h), ELBO_OK);
}

Test(npy, dtypes_convert)
{
    uint8_t buf[512];
    elbo_npy_info h;
    elbo_source s;
    /* float64 little, float32 big, float16 */
    double d[3] = {0.25, 1.0 / 3.0, -2.5};
    size_t n = make(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d);
    cr_assert_eq(elbo_npy_info_parse("f8", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "f8", buf, n);
    float f[3];
    cr_assert_eq(elbo_npy_read_f32(&s, &h, 0, 3, f), ELBO_OK);
    cr_assert_eq(f[1], (float)(1.0 / 3.0), "float64 rounds to nearest");
    cr_assert_eq(f[2], -2.5f);
    uint8_t be[8] = {0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0}; /* 1.0, -2.5 */
    n = make(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be, 8);
    cr_assert_eq(elbo_npy_info_parse("be", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "be", buf, n);
    cr_assert_eq(elbo_npy_read_f32(&s, &h, 0, 2, f), ELBO_OK);
    cr_assert_eq(f[0], 1.0f);
    cr_assert_eq(f[1], -2.5f);
    uint16_t half[3] = {0x3C00, 0x3555, 0x0001}; /* 1, 0.333..., the smallest subnormal */
    n = make(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", half, 6);
    cr_assert_eq(elbo_npy_info_parse("f2", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "f2", buf, n);
    cr_assert_eq(elbo_npy_read_f32(&s, &h, 0, 3, f), ELBO_OK);
    cr_assert_eq(f[0], 1.0f);
    cr_assert_eq(f[1], 0x1.554p-2f);
    cr_assert_eq(f[2], 0x1p-24f);
    /* integers into uint8: in range, then out of range named */
    int64_t v[3] = {0, 255, 7};
    n = make(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, sizeof v);
    cr_assert_eq(elbo_npy_info_parse("i8", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "i8", buf, n);
    uint8_t u[3];
    cr_assert_eq(elbo_npy_read_u8(&s, &h, 0, 3, u), ELBO_OK);
    cr_assert_eq(u[1], 255);
    v[2] = -1;
    make(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, sizeof v);
    cr_assert_eq(elbo_npy_read_u8(&s, &h, 0, 3, u), ELBO_ERR_FORMAT);
    iu_assert_msg_has("element 2");
    v[2] = 256;
    make(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, sizeof v);
    cr_assert_eq(elbo_npy_read_u8(&s, &h, 0, 3, u), ELBO_ERR_FORMAT);
    iu_assert_msg_has("0..255");
    cr_assert_eq(elbo_npy_read_f32(&s, &h, 0, 3, f), ELBO_ERR_FORMAT, "integers are not read as floats");
}

Test(npy, float64_reads_every_kind_exactly)
{
    uint8_t buf[512];
    elbo_npy_info h;
    elbo_source s;
    double d[3] = {0.1, 1.0 / 3.0, -1e300}, got[4];
    size_t n = make(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d);
    cr_assert_eq(elbo_npy_info_parse("f8", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "f8", buf, n);
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 0, 3, got), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(memcmp(got, d, sizeof d), 0, "float64 as stored, not through float32");
    uint8_t be[16] = {0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0x04, 0, 0, 0, 0, 0, 0}; /* 1.0, -2.5 big-endian */
    n = make(buf, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be, 16);
    cr_assert_eq(elbo_npy_info_parse("be", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "be", buf, n);
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 0, 2, got), ELBO_OK);
    cr_assert(got[0] == 1.0 && got[1] == -2.5);
    float f[2] = {0.1f, -3.0f};
    n = make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f, sizeof f);
    cr_assert_eq(elbo_npy_info_parse("f4", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "f4", buf, n);
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 0, 2, got), ELBO_OK);
    cr_assert(got[0] == (double)0.1f && got[1] == -3.0, "float32 widened exactly");
    int16_t i2[4] = {-32768, -1, 0, 32767};
    n = make(buf, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (4,), }", i2, sizeof i2);
    cr_assert_eq(elbo_npy_info_parse("i2", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "i2", buf, n);
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 0, 4, got), ELBO_OK);
    cr_assert(got[0] == -32768.0 && got[1] == -1.0 && got[2] == 0.0 && got[3] == 32767.0, "%g %g %g %g", got[0],
              got[1], got[2], got[3]);
    uint32_t u4[2] = {4000000000u, 39};
    n = make(buf, 1, "{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", u4, sizeof u4);
    cr_assert_eq(elbo_npy_info_parse("u4", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "u4", buf, n);
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 1, 1, got), ELBO_OK);
    cr_assert_eq(got[0], 39.0, "a range from the middle");
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 0, 1, got), ELBO_OK);
    cr_assert_eq(got[0], 4e9, "unsigned, not sign-extended");
    int64_t i8[3] = {-(INT64_C(1) << 53), INT64_C(1) << 53, (INT64_C(1) << 53) + 1};
    n = make(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", i8, sizeof i8);
    cr_assert_eq(elbo_npy_info_parse("i8", buf, n, &h), ELBO_OK);
    elbo_source_memory(&s, "i8", buf, n);
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 0, 2, got), ELBO_OK);
    cr_assert(got[0] == -0x1p53 && got[1] == 0x1p53);
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 0, 3, got), ELBO_ERR_FORMAT, "2^53 + 1 has no exact double");
    iu_assert_msg_has("element 2");
    cr_assert_eq(elbo_npy_read_f64(&s, &h, 2, 2, got), ELBO_ERR_INVALID, "a range beyond the array");
}

Test(npy, writer_round_trip)
{
    float x[2 * 3 * 4];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i / 7.0f - 1.0f;
    uint64_t shape[3] = {2, 3, 4};
    const char *p = iu_path(dir, "w.npy");
    cr_assert_eq(elbo_npy_write_f32(p, x, shape, 3), ELBO_OK, "%s", elbo_last_error());
    size_t n;
    uint8_t *buf = iu_read(p, &n);
    cr_assert_eq(memcmp(buf + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", 61), 0);
    elbo_npy_info h;
    cr_assert_eq(elbo_npy_info_parse(p, buf, n, &h), ELBO_OK);
    cr_assert_eq(h.data_offset % 64, 0, "data aligned as numpy aligns it");
    elbo_source s;
    elbo_source_memory(&s, p, buf, n);
    float back[24];
    cr_assert_eq(elbo_npy_read_f32(&s, &h, 0, 24, back), ELBO_OK);
    cr_assert_eq(memcmp(back, x, sizeof x), 0);
    free(buf);
    /* a streaming writer that writes fewer elements than its shape leaves nothing */
    elbo_npy_writer w;
    const char *q = iu_path(dir, "short.npy");
    cr_assert_eq(elbo_npy_writer_open(&w, q, "<f4", shape, 3), ELBO_OK);
    elbo_npy_writer_put(&w, x, 5);
    cr_assert_eq(elbo_npy_writer_close(&w), ELBO_ERR_INVALID);
    cr_assert_eq(access(q, F_OK), -1);
    cr_assert_eq(iu_count_entries(dir), 1);
}

Test(npy, hostile_headers)
{
    uint8_t buf[512], px[6] = {0};
    elbo_npy_info h;
    const struct {
        const char *dict;
        size_t data;
        const char *says;
    } cases[] = {
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", 5, "truncated"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", 6 + 1, "trailing data"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (4000000000, 4000000000, 4000000000), }", 6, "overflow"},
        {"{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }", 6, "Fortran"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", 6, "dtype"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 6, "structured"},
        {"{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", 6, "twice"},
        {"{'descr': '|u1', 'shape': (6,), }", 6, "expected keys"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (6,), 'x': 1}", 6, "unexpected key"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (6, }", 6, "shape"},
        {"['descr']", 6, "dict"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = make(buf, 1, cases[c].dict, px, cases[c].data > 6 ? 6 : cases[c].data);
        if (cases[c].data > 6)
            buf[n++] = 0;
        elbo_status st = elbo_npy_info_parse("bad.npy", buf, n, &h);
        cr_expect_neq(st, ELBO_OK, "case %zu accepted", c);
        cr_expect(strstr(elbo_last_error(), "bad.npy") && strstr(elbo_last_error(), cases[c].says),
                  "case %zu: '%s' lacks '%s'", c, elbo_last_error(), cases[c].says);
    }
    /* a header length running past the file, a bad magic, an unknown version */
    size_t n = make(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", px, 6);
    buf[8] = 0xFF, buf[9] = 0x7F;
    cr_assert_eq(elbo_npy_info_parse("long.npy", buf, n, &h), ELBO_ERR_FORMAT);
    iu_assert_msg_has("truncated header");
    cr_assert_eq(elbo_npy_info_parse("short.npy", buf, 7, &h), ELBO_ERR_FORMAT);
    buf[1] = 'X';
    cr_assert_eq(elbo_npy_info_parse("magic.npy", buf, n, &h), ELBO_ERR_FORMAT);
    iu_assert_msg_has("magic");
    make(buf, 1, "{}", px, 0);
    buf[6] = 9;
    cr_assert_eq(elbo_npy_info_parse("v9.npy", buf, 80, &h), ELBO_ERR_UNSUPPORTED);
}
