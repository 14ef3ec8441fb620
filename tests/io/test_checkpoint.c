/* Checkpoints: round trip, corruption, truncation, config mismatch, atomic replace. */
#include <math.h>
#include <sys/stat.h>

#include "io_util.h"
#include "models/io/checkpoint.h"
#include "models/io/file.h"
#include "ops/rng.h"

static char *dir;
static void setup(void) { dir = iu_tempdir(); }
static void teardown(void) { iu_rmdir(dir); }
TestSuite(checkpoint, .init = setup, .fini = teardown);

#define NW 1000
#define NM 37
static const char *CONFIG = "{\"model\": \"vae\", \"lr\": 0.001}";

typedef struct state {
    float w[NW], m[NM];
    elbo_rng rng;
} state;

/* 1037 floats leave 4 bytes of padding before rng: zero them, so the tests
 * can memcmp whole states against a memset one under any compiler */
static void fill(state *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    tu_fill_uniform(s->w, NW, -1, 1, seed);
    tu_fill_uniform(s->m, NM, 0, 1, seed + 1);
    elbo_rng_seed(&s->rng, seed);
}

static elbo_status save(const char *path, state *s, const char *config, uint64_t step)
{
    elbo_ckpt_section sec[] = {{"w", s->w, NW}, {"adam.m", s->m, NM}};
    elbo_ckpt_meta meta = {config, step, step / 10, &s->rng, sizeof s->rng};
    return elbo_ckpt_save(path, &meta, sec, 2);
}

static elbo_status load(const char *path, state *s, const char *config, unsigned flags, uint64_t *step)
{
    elbo_ckpt_section sec[] = {{"adam.m", s->m, NM}, {"w", s->w, NW}}; /* order does not matter */
    elbo_ckpt_meta meta = {config, 0, 0, &s->rng, sizeof s->rng};
    elbo_status st = elbo_ckpt_load(path, flags, &meta, sec, 2);
    *step = meta.step;
    return st;
}

Test(checkpoint, round_trip_bit_exact)
{
    state a, b;
    fill(&a, 1);
    a.w[3] = -0.0f;
    a.w[4] = 1e-45f; /* a denormal survives */
    const char *p = iu_path(dir, "ck.bin");
    cr_assert_eq(save(p, &a, CONFIG, 1234), ELBO_OK, "%s", elbo_last_error());
    memset(&b, 0, sizeof b);
    uint64_t step;
    cr_assert_eq(load(p, &b, CONFIG, 0, &step), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(step, 1234);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    cr_assert_eq(elbo_rng_u64(&a.rng), elbo_rng_u64(&b.rng), "the RNG continues the same stream");
    elbo_ckpt ck;
    cr_assert_eq(elbo_ckpt_read(p, &ck), ELBO_OK);
    cr_assert_eq(ck.version, ELBO_CKPT_VERSION);
    cr_assert_str_eq(ck.config, CONFIG);
    cr_assert_eq(ck.epoch, 123);
    cr_assert_eq(ck.nsections, 2);
    cr_assert_eq(elbo_ckpt_find(&ck, "adam.m")->count, NM);
    cr_assert_null(elbo_ckpt_find(&ck, "adam.v"));
    elbo_ckpt_free(&ck);
    cr_assert_eq(iu_count_entries(dir), 1, "no temp file left");
}

Test(checkpoint, every_corrupt_byte_is_caught)
{
    state a, b;
    fill(&a, 2);
    const char *p = iu_path(dir, "ck.bin"), *q = iu_path(dir, "bad.bin");
    cr_assert_eq(save(p, &a, CONFIG, 5), ELBO_OK);
    size_t n;
    uint8_t *orig = iu_read(p, &n);
    /* flip one bit at a spread of offsets: header, config, blob, names, data, CRC */
    for (size_t off = 0; off < n; off += (off < 200 ? 1 : 97)) {
        uint8_t *buf = malloc(n);
        memcpy(buf, orig, n);
        buf[off] ^= 0x10;
        iu_write(q, buf, n);
        free(buf);
        memcpy(&b, &a, sizeof b);
        uint64_t step = 99;
        elbo_status st = load(q, &b, CONFIG, 0, &step);
        cr_assert(st == ELBO_ERR_FORMAT || st == ELBO_ERR_MISMATCH, "offset %zu: %s", off, elbo_last_error());
        cr_assert_eq(step, 0, "offset %zu: counters untouched", off);
    }
    /* a flipped data byte is reported as a CRC failure */
    uint8_t *buf = malloc(n);
    memcpy(buf, orig, n);
    buf[n - 100] ^= 1;
    iu_write(q, buf, n);
    uint64_t step;
    cr_assert_eq(load(q, &b, CONFIG, 0, &step), ELBO_ERR_FORMAT);
    iu_assert_msg_has("CRC mismatch");
    iu_assert_msg_has("bad.bin");
    free(buf);
    free(orig);
}

Test(checkpoint, truncated_empty_wrong_magic_directory)
{
    state a;
    fill(&a, 3);
    const char *p = iu_path(dir, "ck.bin"), *q = iu_path(dir, "cut.bin");
    cr_assert_eq(save(p, &a, CONFIG, 5), ELBO_OK);
    size_t n;
    uint8_t *orig = iu_read(p, &n);
    size_t cuts[] = {1, 8, 20, 40, 60, n / 2, n - 5, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        iu_write(q, orig, cuts[i]);
        uint64_t step;
        cr_assert_eq(load(q, &a, CONFIG, 0, &step), ELBO_ERR_FORMAT, "cut at %zu", cuts[i]);
    }
    iu_write(q, orig, n - 1);
    uint64_t step;
    load(q, &a, CONFIG, 0, &step);
    iu_assert_msg_has("truncated");
    iu_write(q, "", 0);
    cr_assert_eq(load(q, &a, CONFIG, 0, &step), ELBO_ERR_FORMAT);
    iu_assert_msg_has("empty file");
    iu_write_str(q, "PK\x03\x04 this is a zip file, not a checkpoint");
    cr_assert_eq(load(q, &a, CONFIG, 0, &step), ELBO_ERR_FORMAT);
    iu_assert_msg_has("bad magic");
    cr_assert_eq(load(dir, &a, CONFIG, 0, &step), ELBO_ERR_IO);
    iu_assert_msg_has("directory");
    /* extra bytes after a valid file */
    uint8_t *longer = malloc(n + 3);
    memcpy(longer, orig, n);
    memset(longer + n, 0, 3);
    iu_write(q, longer, n + 3);
    cr_assert_eq(load(q, &a, CONFIG, 0, &step), ELBO_ERR_FORMAT);
    free(longer);
    free(orig);
}

Test(checkpoint, config_mismatch)
{
    state a, b;
    fill(&a, 4);
    const char *p = iu_path(dir, "ck.bin");
    cr_assert_eq(save(p, &a, CONFIG, 5), ELBO_OK);
    memset(&b, 0, sizeof b);
    uint64_t step = 0;
    cr_assert_eq(load(p, &b, "{\"model\": \"vae\", \"lr\": 0.01}", 0, &step), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("configuration differs at byte 26");
    cr_assert_eq(b.w[0], 0.0f, "buffers untouched on mismatch");
    cr_assert_eq(load(p, &b, "{\"model\": \"vae\", \"lr\": 0.001} ", 0, &step), ELBO_ERR_MISMATCH);
    cr_assert_eq(load(p, &b, "other", ELBO_CKPT_NO_CONFIG_CHECK, &step), ELBO_OK);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
}

Test(checkpoint, section_mismatch)
{
    state a;
    fill(&a, 5);
    const char *p = iu_path(dir, "ck.bin");
    cr_assert_eq(save(p, &a, CONFIG, 5), ELBO_OK);
    elbo_ckpt_meta meta = {CONFIG, 0, 0, &a.rng, sizeof a.rng};
    elbo_ckpt_section fewer[] = {{"w", a.w, NW}};
    cr_assert_eq(elbo_ckpt_load(p, 0, &meta, fewer, 1), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("'adam.m': not expected");
    elbo_ckpt_section sized[] = {{"w", a.w, NW - 1}, {"adam.m", a.m, NM}};
    cr_assert_eq(elbo_ckpt_load(p, 0, &meta, sized, 2), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("expected 999 floats, got 1000");
    elbo_ckpt_section more[] = {{"w", a.w, NW}, {"adam.m", a.m, NM}, {"adam.v", a.m, NM}};
    cr_assert_eq(elbo_ckpt_load(p, 0, &meta, more, 3), ELBO_ERR_MISMATCH);
    iu_assert_msg_has("'adam.v'");
    elbo_ckpt_meta small = {CONFIG, 0, 0, &a.rng, 8};
    cr_assert_eq(elbo_ckpt_load(p, 0, &small, sized + 1, 1), ELBO_ERR_MISMATCH);
}

Test(checkpoint, save_rejects_nonfinite_and_bad_names)
{
    state a;
    fill(&a, 6);
    const char *p = iu_path(dir, "ck.bin");
    a.m[7] = NAN;
    cr_assert_eq(save(p, &a, CONFIG, 1), ELBO_ERR_NONFINITE);
    iu_assert_msg_has("'adam.m'[7]");
    a.m[7] = 0;
    elbo_ckpt_meta meta = {CONFIG, 0, 0, NULL, 0};
    elbo_ckpt_section dup[] = {{"w", a.w, NW}, {"w", a.w, NW}};
    cr_assert_eq(elbo_ckpt_save(p, &meta, dup, 2), ELBO_ERR_INVALID);
    elbo_ckpt_section noname[] = {{"", a.w, NW}};
    cr_assert_eq(elbo_ckpt_save(p, &meta, noname, 1), ELBO_ERR_INVALID);
    cr_assert_eq(iu_count_entries(dir), 0, "nothing written on refusal");
}

Test(checkpoint, failed_write_keeps_previous_file)
{
    state a, b;
    fill(&a, 7);
    const char *p = iu_path(dir, "ck.bin");
    cr_assert_eq(save(p, &a, CONFIG, 1), ELBO_OK);
    size_t n0;
    uint8_t *before = iu_read(p, &n0);
    fill(&b, 8);
    elbo_io_set_write_limit(100); /* the disk fills up mid-write */
    cr_assert_eq(save(p, &b, CONFIG, 2), ELBO_ERR_IO);
    iu_assert_msg_has("No space left");
    elbo_io_set_write_limit(-1);
    size_t n1;
    uint8_t *after = iu_read(p, &n1);
    cr_assert_eq(n0, n1);
    cr_assert_eq(memcmp(before, after, n0), 0, "previous checkpoint intact");
    cr_assert_eq(iu_count_entries(dir), 1, "temp file removed");
    free(before);
    free(after);
    /* unwritable target directory: clean error, nothing created */
    cr_assert_eq(save(iu_path(dir, "no/such/dir/ck.bin"), &a, CONFIG, 1), ELBO_ERR_IO);
    iu_assert_msg_has("no/such/dir/ck.bin");
}

Test(checkpoint, empty_sections_and_blob)
{
    const char *p = iu_path(dir, "e.bin");
    elbo_ckpt_meta meta = {NULL, 7, 1, NULL, 0};
    cr_assert_eq(elbo_ckpt_save(p, &meta, NULL, 0), ELBO_OK, "%s", elbo_last_error());
    elbo_ckpt_meta back = {"", 0, 0, NULL, 0};
    cr_assert_eq(elbo_ckpt_load(p, 0, &back, NULL, 0), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(back.step, 7);
}

Test(checkpoint, control_bytes_in_a_section_name_are_rejected_on_one_line)
{
    state a;
    fill(&a, 9);
    const char *p = iu_path(dir, "ck.bin");
    cr_assert_eq(save(p, &a, "c", 1), ELBO_OK);
    size_t n;
    uint8_t *buf = iu_read(p, &n);
    /* header 32 + config (8+1) + blob (8+32) + count 4 + name length 4: the name "w" */
    size_t at = 32 + 9 + 40 + 4 + 4;
    cr_assert_eq(buf[at], 'w');
    buf[at] = '\n';
    elbo_ckpt ck;
    cr_assert_eq(elbo_ckpt_parse("mem", buf, n, &ck), ELBO_ERR_FORMAT);
    cr_assert_null(strpbrk(elbo_last_error(), "\r\n"));
    iu_assert_msg_has("printable");
    free(buf);
    elbo_ckpt_section bad[] = {{"a\tb", a.w, 1}};
    elbo_ckpt_meta meta = {"c", 0, 0, NULL, 0};
    cr_assert_eq(elbo_ckpt_save(p, &meta, bad, 1), ELBO_ERR_INVALID);
}
