/* CSV reader edge cases and the atomic writer. */
#include <math.h>

#include "io_util.h"
#include "models/io/csv.h"

static char *dir;
static void setup(void) { dir = iu_tempdir(); }
static void teardown(void) { iu_rmdir(dir); }
TestSuite(csv, .init = setup, .fini = teardown);

static elbo_status read_text(const char *text, double **v, size_t *r, size_t *c)
{
    const char *p = iu_path(dir, "t.csv");
    iu_write_str(p, text);
    return elbo_csv_read(p, v, r, c);
}

Test(csv, plain_table)
{
    double *v;
    size_t r, c;
    cr_assert_eq(read_text("1,2,3\n4,5,6\n", &v, &r, &c), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(r, 2);
    cr_assert_eq(c, 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(v[i], i + 1);
    free(v);
}

Test(csv, header_blank_lines_crlf_spaces_no_final_newline)
{
    double *v;
    size_t r, c;
    cr_assert_eq(read_text("x, \"y,z\"\r\n\r\n 1.5 , -2e-3\r\n\n  \n3,\t4", &v, &r, &c), ELBO_OK, "%s",
                 elbo_last_error());
    cr_assert_eq(r, 2);
    cr_assert_eq(c, 2);
    cr_assert_eq(v[0], 1.5);
    cr_assert_eq(v[1], -2e-3);
    cr_assert_eq(v[2], 3);
    cr_assert_eq(v[3], 4);
    free(v);
}

Test(csv, nan_and_inf_rejected_with_line_and_column)
{
    double *v;
    size_t r, c;
    cr_assert_eq(read_text("a,b\n1,2\n3,nan\n", &v, &r, &c), ELBO_ERR_NONFINITE);
    iu_assert_msg_has("t.csv:3:3:");
    iu_assert_msg_has("nan");
    cr_assert_null(v);
    cr_assert_eq(read_text("1,2\n-inf,2\n", &v, &r, &c), ELBO_ERR_NONFINITE);
    iu_assert_msg_has(":2:1:");
    cr_assert_eq(read_text("1e999\n", &v, &r, &c), ELBO_ERR_NONFINITE);
    iu_assert_msg_has(":1:1:");
}

Test(csv, ragged_rows)
{
    double *v;
    size_t r, c;
    cr_assert_eq(read_text("1,2,3\n4,5\n", &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has(":2:1: ragged row: expected 3 fields (as on line 1), got 2");
    cr_assert_eq(read_text("a,b\n1,2,3\n", &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has("expected 2 fields");
}

Test(csv, junk_and_empty_fields)
{
    double *v;
    size_t r, c;
    cr_assert_eq(read_text("1,2\n3,4x\n", &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has(":2:3: expected a number, got '4x'");
    cr_assert_eq(read_text("1,,2\n", &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has(":1:3: expected a number, got an empty field");
    cr_assert_eq(read_text("1,abc\n", &v, &r, &c), ELBO_ERR_FORMAT, "a half-numeric first row is data, not a header");
    iu_assert_msg_has(":1:3:");
}

Test(csv, empty_file_and_header_only)
{
    double *v;
    size_t r, c;
    cr_assert_eq(read_text("", &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has("empty file");
    cr_assert_eq(read_text("\n \r\n", &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has("empty file");
    cr_assert_eq(read_text("a,b\n", &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has("after the header");
}

Test(csv, directory_and_missing_file)
{
    double *v;
    size_t r, c;
    cr_assert_eq(elbo_csv_read(dir, &v, &r, &c), ELBO_ERR_IO);
    iu_assert_msg_has("directory");
    cr_assert_eq(elbo_csv_read(iu_path(dir, "nope.csv"), &v, &r, &c), ELBO_ERR_IO);
    iu_assert_msg_has("nope.csv");
}

Test(csv, embedded_nul_is_junk)
{
    double *v;
    size_t r, c;
    static const char text[] = {'1', ',', '2', '\0', '5', '\n'};
    cr_assert_eq(elbo_csv_parse("mem", text, sizeof text, &v, &r, &c), ELBO_ERR_FORMAT);
    iu_assert_msg_has("mem:1:3:");
}

Test(csv, writer_round_trip_exact)
{
    const char *p = iu_path(dir, "w.csv");
    const char *hdr[] = {"step", "loss, nats", "say \"hi\""};
    double data[] = {0, 0.1, 1.0 / 3.0, 1e-300, -123456789.125, 2.5e17};
    cr_assert_eq(elbo_csv_write(p, hdr, data, 2, 3), ELBO_OK, "%s", elbo_last_error());
    size_t n = 0;
    char *text = (char *)iu_read(p, &n);
    cr_assert(text);
    text[n] = '\0';
    cr_assert(strncmp(text, "step,\"loss, nats\",\"say \"\"hi\"\"\"\n0,0.1,", 37) == 0, "%s", text);
    free(text);
    double *v;
    size_t r, c;
    cr_assert_eq(elbo_csv_read(p, &v, &r, &c), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(r, 2);
    cr_assert_eq(c, 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(v[i], data[i], "value %d: %.17g vs %.17g", i, v[i], data[i]);
    free(v);
    cr_assert_eq(iu_count_entries(dir), 1, "no temp file left");
}

Test(csv, writer_abort_leaves_nothing)
{
    elbo_csv_writer w;
    const char *hdr[] = {"a"};
    cr_assert_eq(elbo_csv_open(&w, iu_path(dir, "x.csv"), 1, hdr), ELBO_OK);
    double one = 1;
    elbo_csv_row(&w, &one);
    elbo_csv_abort(&w);
    cr_assert_eq(iu_count_entries(dir), 0);
}

Test(csv, writer_nonfinite_written_as_text)
{
    const char *p = iu_path(dir, "nf.csv");
    const char *hdr[] = {"a", "b", "c"};
    double data[] = {NAN, INFINITY, -INFINITY};
    cr_assert_eq(elbo_csv_write(p, hdr, data, 1, 3), ELBO_OK);
    size_t n = 0;
    char *text = (char *)iu_read(p, &n);
    cr_assert(text);
    text[n] = '\0';
    cr_assert_str_eq(text, "a,b,c\nnan,inf,-inf\n");
    free(text);
}

Test(csv, messages_stay_on_one_line)
{
    double *v;
    size_t r, c;
    static const char text[] = "1,2\n0\r\x01x,3\n"; /* a lone CR and a control byte inside a field */
    cr_assert_eq(elbo_csv_parse("mem", text, sizeof text - 1, &v, &r, &c), ELBO_ERR_FORMAT);
    cr_assert_null(strpbrk(elbo_last_error(), "\r\n"), "'%s'", elbo_last_error());
    iu_assert_msg_has("got '0??x'");
}
