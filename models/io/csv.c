#include "models/io/csv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/excerpt.h"
#include "models/io/numfmt.h"

/* Longest numeric field accepted (a double needs at most ~25 characters). */
#define FIELD_MAX 127
/* Initial capacity of the value array, in doubles. */
#define INITIAL_CAP 1024

typedef struct line_view {
    const char *p;
    size_t len;
} line_view;

static int is_blank_char(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int line_is_blank(line_view l)
{
    for (size_t i = 0; i < l.len; i++)
        if (!is_blank_char(l.p[i]))
            return 0;
    return 1;
}

typedef enum field_kind { FIELD_NUMBER, FIELD_NONFINITE, FIELD_EMPTY, FIELD_JUNK, FIELD_LONG } field_kind;

/* Classify p[0..n) (already trimmed) and parse it into *v. */
static field_kind parse_field(const char *p, size_t n, double *v)
{
    if (n == 0)
        return FIELD_EMPTY;
    if (n > FIELD_MAX)
        return FIELD_LONG;
    char buf[FIELD_MAX + 1];
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (memchr(buf, '\0', n))
        return FIELD_JUNK; /* an embedded NUL would silently end strtod early */
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (end == buf || *end != '\0')
        return FIELD_JUNK;
    *v = x;
    if (!isfinite(x))
        return FIELD_NONFINITE; /* "nan", "inf", or a literal that overflows (1e999) */
    return FIELD_NUMBER;
}

/* Split at commas outside double quotes (header names may be quoted). */
static size_t count_header_fields(line_view l)
{
    size_t fields = 1;
    int quoted = 0;
    for (size_t i = 0; i < l.len; i++) {
        if (l.p[i] == '"')
            quoted = !quoted;
        else if (l.p[i] == ',' && !quoted)
            fields++;
    }
    return fields;
}

/* A header has no numeric field and at least one word; anything else is data
 * (so a typo in the first data row is reported, not skipped as a header). */
static int line_is_header(line_view l)
{
    size_t i = 0;
    int words = 0;
    for (;;) {
        size_t s = i;
        while (i < l.len && l.p[i] != ',')
            i++;
        size_t a = s, b = i;
        while (a < b && is_blank_char(l.p[a]))
            a++;
        while (b > a && is_blank_char(l.p[b - 1]))
            b--;
        double v;
        field_kind k = parse_field(l.p + a, b - a, &v);
        if (k == FIELD_NUMBER || k == FIELD_NONFINITE)
            return 0;
        words += k != FIELD_EMPTY;
        if (i == l.len)
            return words > 0;
        i++;
    }
}

typedef struct table {
    double *v;
    size_t n, cap;
} table;

static int table_push(table *t, double x)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : INITIAL_CAP;
        if (cap < t->cap || cap > SIZE_MAX / sizeof(double))
            return 0;
        double *v = realloc(t->v, cap * sizeof(double));
        if (!v)
            return 0;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = x;
    return 1;
}

/* Parse one data line into t; returns its field count or sets an error. */
static elbo_status parse_data_line(const char *name, size_t lineno, line_view l, table *t, size_t *fields)
{
    size_t i = 0, count = 0;
    for (;;) {
        size_t s = i;
        while (i < l.len && l.p[i] != ',')
            i++;
        size_t a = s, b = i;
        while (a < b && is_blank_char(l.p[a]))
            a++;
        while (b > a && is_blank_char(l.p[b - 1]))
            b--;
        size_t col = a + 1;
        double v = 0;
        char quote[ELBO_EXCERPT_MAX + 1];
        switch (parse_field(l.p + a, b - a, &v)) {
        case FIELD_NUMBER:
            break;
        case FIELD_NONFINITE:
            return elbo_fail(ELBO_ERR_NONFINITE, "%s:%zu:%zu: expected a finite number, got '%s'", name, lineno, col,
                             elbo_excerpt(quote, sizeof quote, l.p + a, b - a));
        case FIELD_EMPTY:
            return elbo_fail(ELBO_ERR_FORMAT, "%s:%zu:%zu: expected a number, got an empty field", name, lineno,
                             s + 1);
        case FIELD_LONG:
            return elbo_fail(ELBO_ERR_FORMAT, "%s:%zu:%zu: expected a number, got a field of %zu characters", name,
                             lineno, col, b - a);
        case FIELD_JUNK:
            return elbo_fail(ELBO_ERR_FORMAT, "%s:%zu:%zu: expected a number, got '%s'", name, lineno, col,
                             elbo_excerpt(quote, sizeof quote, l.p + a, b - a));
        }
        if (!table_push(t, v))
            return elbo_fail(ELBO_ERR_NOMEM, "%s:%zu: out of memory", name, lineno);
        count++;
        if (i == l.len)
            break;
        i++;
    }
    *fields = count;
    return ELBO_OK;
}

elbo_status elbo_csv_parse(const char *name, const char *text, size_t len, double **out, size_t *rows,
                           size_t *cols)
{
    *out = NULL;
    *rows = *cols = 0;
    table t = {0};
    size_t ncols = 0, nrows = 0, lineno = 0, shape_line = 0; /* line that fixed the column count */
    int seen_first = 0;
    size_t pos = 0;
    elbo_status st = ELBO_OK;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line_view l = {text + pos, end - pos};
        if (l.len && l.p[l.len - 1] == '\r')
            l.len--; /* CRLF */
        lineno++;
        pos = end + 1;
        if (line_is_blank(l))
            continue;
        if (!seen_first) {
            seen_first = 1;
            if (line_is_header(l)) {
                shape_line = lineno;
                ncols = count_header_fields(l);
                continue;
            }
        }
        size_t fields = 0;
        if ((st = parse_data_line(name, lineno, l, &t, &fields)) != ELBO_OK)
            goto fail;
        if (ncols == 0) {
            ncols = fields;
            shape_line = lineno;
        } else if (fields != ncols) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s:%zu:1: ragged row: expected %zu fields (as on line %zu), got %zu",
                           name, lineno, ncols, shape_line, fields);
            goto fail;
        }
        nrows++;
    }
    if (!seen_first) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: empty file: expected at least one row of numbers", name);
        goto fail;
    }
    if (nrows == 0) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: expected at least one row of numbers after the header, got none", name);
        goto fail;
    }
    *out = t.v;
    *rows = nrows;
    *cols = ncols;
    return ELBO_OK;
fail:
    free(t.v);
    return st;
}

elbo_status elbo_csv_read(const char *path, double **out, size_t *rows, size_t *cols)
{
    uint8_t *buf;
    size_t n;
    *out = NULL;
    *rows = *cols = 0;
    elbo_status st = elbo_read_file(path, 0, &buf, &n);
    if (st != ELBO_OK)
        return st;
    st = elbo_csv_parse(path, (const char *)buf, n, out, rows, cols);
    free(buf);
    return st;
}

/* A header name, quoted when it holds a comma, quote or line break. */
static void write_name(elbo_afile *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        elbo_afile_write(f, s, strlen(s));
        return;
    }
    elbo_afile_write(f, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            elbo_afile_write(f, "\"", 1);
        elbo_afile_write(f, p, 1);
    }
    elbo_afile_write(f, "\"", 1);
}

elbo_status elbo_csv_open(elbo_csv_writer *w, const char *path, size_t cols, const char *const *header)
{
    memset(w, 0, sizeof *w);
    if (cols == 0)
        return elbo_fail(ELBO_ERR_INVALID, "%s: csv writer: expected at least one column, got 0", path);
    elbo_status st = elbo_afile_open(&w->file, path);
    if (st != ELBO_OK)
        return st;
    w->cols = cols;
    if (header) {
        for (size_t c = 0; c < cols; c++) {
            if (c)
                elbo_afile_write(&w->file, ",", 1);
            write_name(&w->file, header[c] ? header[c] : "");
        }
        elbo_afile_write(&w->file, "\n", 1);
    }
    return w->file.status;
}

elbo_status elbo_csv_row(elbo_csv_writer *w, const double *values)
{
    char buf[ELBO_NUMFMT_LEN];
    for (size_t c = 0; c < w->cols; c++) {
        if (c)
            elbo_afile_write(&w->file, ",", 1);
        double v = values[c];
        const char *s = buf;
        int n;
        if (isnan(v))
            s = "nan", n = 3;
        else if (isinf(v))
            s = v > 0 ? "inf" : "-inf", n = v > 0 ? 3 : 4;
        else
            n = elbo_fmt_double(buf, v);
        elbo_afile_write(&w->file, s, (size_t)n);
    }
    return elbo_afile_write(&w->file, "\n", 1);
}

elbo_status elbo_csv_close(elbo_csv_writer *w) { return elbo_afile_commit(&w->file); }

void elbo_csv_abort(elbo_csv_writer *w) { elbo_afile_abort(&w->file); }

elbo_status elbo_csv_write(const char *path, const char *const *header, const double *data, size_t rows,
                           size_t cols)
{
    elbo_csv_writer w;
    elbo_status st = elbo_csv_open(&w, path, cols, header);
    if (st != ELBO_OK) {
        elbo_csv_abort(&w);
        return st;
    }
    for (size_t r = 0; r < rows; r++)
        elbo_csv_row(&w, data + r * cols);
    return elbo_csv_close(&w);
}
