#include "report.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/io/file.h"
#include "models/io/json_read.h"
#include "models/io/svg.h"

/* CSV tables the report reads: larger ones are linked, not drawn. */
#define MAX_CSV_BYTES (16u << 20)
/* Points drawn per curve (longer series are thinned evenly). */
#define MAX_POINTS 2000
/* Panels per CSV figure and per sweep flag. */
#define MAX_PANELS 12
#define PANELS_PER_ROW 3
/* Rows of a CSV shown as a table under its figure. */
#define MAX_TABLE_ROWS 100
/* Values of an array result shown in the headline table. */
#define MAX_ARRAY_SHOWN 8

/* ---- an HTML buffer ---- */

typedef struct html {
    char *p;
    size_t n, cap;
    int nomem;
} html;

static void put(html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(html *h, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = h->nomem ? 0 : vsnprintf(h->p + h->n, h->cap - h->n, fmt, ap);
        va_end(ap);
        if (h->nomem || (size_t)k < h->cap - h->n) {
            h->n += (size_t)k;
            return;
        }
        size_t cap = h->cap ? 2 * h->cap : 65536;
        while (cap < h->n + (size_t)k + 1)
            cap *= 2;
        char *q = realloc(h->p, cap);
        if (!q) {
            h->nomem = 1;
            return;
        }
        h->p = q;
        h->cap = cap;
    }
}

/* Text with HTML's special characters escaped. */
static void esc(html *h, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': put(h, "&amp;"); break;
        case '<': put(h, "&lt;"); break;
        case '>': put(h, "&gt;"); break;
        case '"': put(h, "&quot;"); break;
        case '\'': put(h, "&#39;"); break;
        default: put(h, "%c", *s);
        }
    }
}

/* A file name as a relative URL (percent-encoded beyond the safe set). */
static void url(html *h, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.~/", c))
            put(h, "%c", c);
        else
            put(h, "%%%02X", c);
    }
}

static const char *STYLE =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#262626;"
    "padding:0 1em}h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;"
    "margin-top:1.6em}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .6em;"
    "text-align:left;font-size:.9em}th{background:#f3f3f3}td.num{text-align:right;font-family:monospace}"
    "figure{display:inline-block;margin:.5em;vertical-align:top}figure img{max-width:100%;border:1px solid #eee}"
    "img.px{image-rendering:pixelated;min-width:302px}figcaption{font-size:.85em;color:#555}"
    ".meta{color:#555}details{margin:.4em 0}th.sort{cursor:pointer}th.sort:after{content:' \\2195';color:#999}"
    ".curve{max-width:100%;height:auto}.wide{overflow-x:auto}";

static void head(html *h, const char *title)
{
    put(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    esc(h, title);
    put(h, "</title><style>%s</style></head><body>\n<h1>", STYLE);
    esc(h, title);
    put(h, "</h1>\n");
}

static elbo_status finish(html *h, const char *dir)
{
    put(h, "</body></html>\n");
    if (h->nomem) {
        free(h->p);
        return elbo_fail(ELBO_ERR_NOMEM, "%s/index.html: out of memory", dir);
    }
    char path[4096];
    elbo_status st;
    if (snprintf(path, sizeof path, "%s/index.html", dir) >= (int)sizeof path)
        st = elbo_fail(ELBO_ERR_INVALID, "%s: path too long", dir);
    else
        st = elbo_write_file_atomic(path, h->p, h->n);
    free(h->p);
    return st;
}

/* ---- the folder ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct listing {
    char **name;
    size_t n;
} listing;

static void list_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->name[i]);
    free(l->name);
}

/* Regular files of dir, sorted (index.html and temp files left out). */
static void list_files(const char *dir, listing *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "index.html") || strstr(e->d_name, ".tmp."))
            continue;
        char p[4096];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (l->n == cap) {
            cap = cap ? 2 * cap : 32;
            char **q = realloc(l->name, cap * sizeof *q);
            if (!q)
                break;
            l->name = q;
        }
        if (!(l->name[l->n] = strdup(e->d_name)))
            break;
        l->n++;
    }
    closedir(d);
    if (l->n)
        qsort(l->name, l->n, sizeof *l->name, cmp_str);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* ---- a lenient CSV: a header of names, then numbers (nan and inf allowed) ---- */

typedef struct table {
    char **col;
    size_t cols, rows;
    double *v; /* (rows, cols) */
} table;

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cols; i++)
        free(t->col[i]);
    free(t->col);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static int read_table(const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    uint8_t *buf;
    size_t len;
    if (elbo_read_file(path, MAX_CSV_BYTES, &buf, &len) != ELBO_OK)
        return 0;
    char *s = (char *)buf, *save, *line = strtok_r(s, "\r\n", &save);
    int ok = line != NULL;
    for (char *c = line; ok && c;) { /* header */
        char *comma = strchr(c, ',');
        if (comma)
            *comma = '\0';
        char **q = realloc(t->col, (t->cols + 1) * sizeof *q);
        ok = q != NULL;
        if (ok) {
            t->col = q;
            t->col[t->cols] = strdup(c);
            ok = t->col[t->cols++] != NULL;
        }
        c = comma ? comma + 1 : NULL;
    }
    size_t cap = 0;
    while (ok && (line = strtok_r(NULL, "\r\n", &save))) {
        if (t->rows == cap) {
            cap = cap ? 2 * cap : 64;
            double *q = realloc(t->v, cap * t->cols * sizeof *q);
            if (!(ok = q != NULL))
                break;
            t->v = q;
        }
        char *c = line;
        for (size_t k = 0; ok && k < t->cols; k++) {
            char *end;
            double x = strtod(c, &end);
            ok = end != c && (*end == ',' ? k + 1 < t->cols : *end == '\0' && k + 1 == t->cols);
            t->v[t->rows * t->cols + k] = x;
            c = end + 1;
        }
        t->rows++;
    }
    free(buf);
    if (!ok || t->cols < 2)
        table_free(t);
    return ok && t->cols >= 2;
}

static void number(html *h, double v)
{
    if (isfinite(v))
        put(h, "%.6g", v);
    else
        put(h, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

/* Draw each column after the first against the first: an inline SVG. */
static void curves(html *h, const table *t, const char *name)
{
    size_t panels = t->cols - 1 > MAX_PANELS ? MAX_PANELS : t->cols - 1;
    int pc = panels < PANELS_PER_ROW ? (int)panels : PANELS_PER_ROW, pr = (int)((panels + PANELS_PER_ROW - 1) / PANELS_PER_ROW);
    elbo_svg *fig = elbo_svg_new(pc, pr);
    size_t step = t->rows > MAX_POINTS ? (t->rows + MAX_POINTS - 1) / MAX_POINTS : 1, np = (t->rows + step - 1) / step;
    double *x = malloc(np * sizeof(double)), *y = malloc(np * sizeof(double));
    if (!fig || !x || !y) {
        elbo_svg_free(fig), free(x), free(y);
        return;
    }
    elbo_svg_panel_size(fig, 340, 230);
    elbo_svg_title(fig, name);
    for (size_t c = 0; c < panels; c++) {
        elbo_plot *p = elbo_svg_panel(fig, (int)c);
        elbo_plot_title(p, t->col[c + 1]);
        elbo_plot_xlabel(p, t->col[0]);
        for (size_t i = 0; i < np; i++) {
            x[i] = t->v[i * step * t->cols];
            y[i] = t->v[i * step * t->cols + c + 1];
        }
        elbo_style st = elbo_style_color(elbo_palette((int)c), NULL);
        elbo_plot_line(p, x, y, np, &st);
        if (np <= 60)
            elbo_plot_scatter(p, x, y, np, &st);
    }
    char *svg;
    size_t len;
    if (elbo_svg_render(fig, &svg, &len) == ELBO_OK) {
        char *start = strstr(svg, "<svg");
        put(h, "<div class=\"curve\">%s</div>\n", start ? start : svg);
        free(svg);
    }
    elbo_svg_free(fig);
    free(x);
    free(y);
}

static void csv_table(html *h, const table *t)
{
    put(h, "<details><summary>%zu rows</summary><table><tr>", t->rows);
    for (size_t c = 0; c < t->cols; c++) {
        put(h, "<th>");
        esc(h, t->col[c]);
        put(h, "</th>");
    }
    put(h, "</tr>\n");
    for (size_t r = 0; r < t->rows && r < MAX_TABLE_ROWS; r++) {
        put(h, "<tr>");
        for (size_t c = 0; c < t->cols; c++) {
            put(h, "<td class=\"num\">");
            number(h, t->v[r * t->cols + c]);
            put(h, "</td>");
        }
        put(h, "</tr>\n");
    }
    put(h, "</table>%s</details>\n", t->rows > MAX_TABLE_ROWS ? "(first rows only: the whole table is the CSV)" : "");
}

/* ---- summary.json ---- */

static void value(html *h, const elbo_jv *v)
{
    switch (v->type) {
    case ELBO_JV_NUMBER:
        number(h, v->num);
        break;
    case ELBO_JV_STRING:
        esc(h, v->str);
        break;
    case ELBO_JV_BOOL:
        put(h, v->b ? "true" : "false");
        break;
    case ELBO_JV_NULL:
        put(h, "null");
        break;
    case ELBO_JV_ARRAY:
        put(h, "[");
        for (size_t i = 0; i < v->n && i < MAX_ARRAY_SHOWN; i++) {
            put(h, i ? ", " : "");
            value(h, &v->items[i]);
        }
        put(h, "%s]", v->n > MAX_ARRAY_SHOWN ? ", &hellip;" : "");
        if (v->n > MAX_ARRAY_SHOWN)
            put(h, " (%zu values)", v->n);
        break;
    case ELBO_JV_OBJECT:
        for (size_t i = 0; i < v->n; i++) {
            put(h, "%s", i ? "; " : "");
            esc(h, v->keys[i]);
            put(h, " ");
            value(h, &v->items[i]);
        }
        break;
    }
}

static void kv_table(html *h, const elbo_jv *obj)
{
    put(h, "<table>\n");
    for (size_t i = 0; obj && obj->type == ELBO_JV_OBJECT && i < obj->n; i++) {
        put(h, "<tr><th>");
        esc(h, obj->keys[i]);
        put(h, "</th><td%s>", obj->items[i].type == ELBO_JV_NUMBER ? " class=\"num\"" : "");
        value(h, &obj->items[i]);
        put(h, "</td></tr>\n");
    }
    put(h, "</table>\n");
}

static elbo_jv *read_summary(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    uint8_t *buf;
    size_t len;
    elbo_jv *v = NULL;
    if (elbo_read_file(path, MAX_CSV_BYTES, &buf, &len) != ELBO_OK)
        return NULL;
    if (elbo_jv_parse(path, (const char *)buf, len, &v) != ELBO_OK)
        v = NULL;
    free(buf);
    return v;
}

static const char *str_of(const elbo_jv *v, const char *key)
{
    const elbo_jv *s = elbo_jv_get(v, key);
    return s && s->type == ELBO_JV_STRING ? s->str : NULL;
}

/* The header line, headline numbers, figures, curves, configuration and files. */
static void run_sections(html *h, const char *dir, const elbo_jv *sum, const listing *files, int with_results,
                         int draw_curves)
{
    const elbo_jv *cfg = elbo_jv_get(sum, "config"), *res = elbo_jv_get(sum, "results");
    put(h, "<p class=\"meta\">");
    static const char *const meta[] = {"seed", "threads", "simd", "git_revision", "data"};
    for (size_t i = 0, shown = 0; i < sizeof meta / sizeof meta[0]; i++) {
        const elbo_jv *v = elbo_jv_get(cfg, meta[i]);
        if (!v)
            continue;
        put(h, "%s%s ", shown++ ? " &middot; " : "", meta[i]);
        value(h, v);
    }
    put(h, "</p>\n");
    if (!sum)
        put(h, "<p>No readable summary.json in this folder.</p>\n");
    if (with_results && res) {
        put(h, "<h2>Results</h2>\n");
        kv_table(h, res);
    }
    int figs = 0;
    for (size_t i = 0; i < files->n; i++) {
        const char *f = files->name[i];
        if (!ends_with(f, ".svg") && !ends_with(f, ".png"))
            continue;
        if (!figs++)
            put(h, "<h2>Figures</h2>\n");
        put(h, "<figure><img src=\"");
        url(h, f);
        put(h, "\" alt=\"");
        esc(h, f);
        put(h, "\"%s><figcaption>", ends_with(f, ".png") ? " class=\"px\"" : "");
        esc(h, f);
        put(h, "</figcaption></figure>\n");
    }
    int curves_shown = 0;
    for (size_t i = 0; i < files->n; i++) {
        const char *f = files->name[i];
        table t;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, f);
        if (!ends_with(f, ".csv") || !read_table(path, &t))
            continue;
        if (!curves_shown++)
            put(h, "<h2>Curves and tables (from the CSVs)</h2>\n");
        put(h, "<h3>");
        esc(h, f);
        put(h, "</h3>\n");
        if (draw_curves && t.rows >= 2)
            curves(h, &t, f);
        csv_table(h, &t);
        table_free(&t);
    }
    if (cfg) {
        put(h, "<h2>Configuration</h2>\n");
        kv_table(h, cfg);
    }
    put(h, "<h2>Files</h2>\n<ul>\n");
    for (size_t i = 0; i < files->n; i++) {
        put(h, "<li><a href=\"");
        url(h, files->name[i]);
        put(h, "\">");
        esc(h, files->name[i]);
        put(h, "</a></li>\n");
    }
    put(h, "</ul>\n");
}

static const char *title_of(const elbo_jv *sum, const char *dir)
{
    const char *d = str_of(sum, "driver");
    return d ? d : dir;
}

elbo_status elbo_report_write(const char *dir)
{
    elbo_jv *sum = read_summary(dir);
    listing files;
    list_files(dir, &files);
    html h = {0};
    char title[512];
    snprintf(title, sizeof title, "%s: results", title_of(sum, dir));
    head(&h, title);
    run_sections(&h, dir, sum, &files, 1, 1);
    list_free(&files);
    elbo_jv_free(sum);
    return finish(&h, dir);
}

/* ---- sweeps ---- */

/* Sorting the runs table by a column: numbers compared as numbers. */
static const char *SORT_JS =
    "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.classList.add('sort');"
    "th.addEventListener('click',function(){var tb=th.closest('table').tBodies[0];"
    "var rows=Array.prototype.slice.call(tb.rows);var up=th.dataset.dir!=='up';th.dataset.dir=up?'up':'down';"
    "rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;var p=parseFloat(x),q=parseFloat(y);"
    "var c=(isNaN(p)||isNaN(q))?String(x).localeCompare(String(y)):p-q;if(isNaN(p)&&!isNaN(q))c=1;"
    "if(!isNaN(p)&&isNaN(q))c=-1;return up?c:-c;});rows.forEach(function(r){tb.appendChild(r);});});});";

/* The relative link from dir to run_dir/index.html. */
static void run_link(html *h, const char *dir, const char *run_dir)
{
    size_t k = strlen(dir);
    const char *rel = strncmp(run_dir, dir, k) == 0 && run_dir[k] == '/' ? run_dir + k + 1 : run_dir;
    url(h, rel);
    put(h, "/index.html");
}

static void runs_table(html *h, const char *dir, const table *t, int n_flags, const char *const *run_dirs,
                       size_t n_runs)
{
    put(h, "<h2>Runs</h2>\n<p>Click a column's head to sort by it.</p>\n<div class=\"wide\"><table class=\"sortable\">"
           "<thead><tr><th>run</th>");
    for (size_t c = 0; c < t->cols; c++) {
        put(h, "<th>%s", (int)c < n_flags ? "--" : "");
        esc(h, t->col[c]);
        put(h, "</th>");
    }
    put(h, "</tr></thead><tbody>\n");
    for (size_t r = 0; r < t->rows; r++) {
        const char *rd = r < n_runs ? run_dirs[r] : NULL;
        const char *base = rd ? strrchr(rd, '/') : NULL;
        put(h, "<tr><td data-v=\"%zu\">", r);
        if (rd) {
            put(h, "<a href=\"");
            run_link(h, dir, rd);
            put(h, "\">");
            esc(h, base ? base + 1 : rd);
            put(h, "</a>");
        } else {
            put(h, "%zu", r);
        }
        put(h, "</td>");
        for (size_t c = 0; c < t->cols; c++) {
            double v = t->v[r * t->cols + c];
            put(h, "<td class=\"num\" data-v=\"");
            number(h, v);
            put(h, "\">");
            number(h, v);
            put(h, "</td>");
        }
        put(h, "</tr>\n");
    }
    put(h, "</tbody></table></div>\n");
}

/* Each metric against flag f: every run a point, the mean per flag value a line. */
static void flag_plots(html *h, const table *t, int n_flags, int f)
{
    size_t metrics = t->cols - (size_t)n_flags;
    if (metrics == 0)
        return;
    double *vals = malloc(t->rows * sizeof(double)), *xs = malloc(t->rows * sizeof(double)),
           *ys = malloc(t->rows * sizeof(double)), *mx = malloc(t->rows * sizeof(double)),
           *my = malloc(t->rows * sizeof(double));
    if (!vals || !xs || !ys || !mx || !my)
        goto done;
    size_t nv = 0; /* the flag's distinct values, ascending */
    for (size_t r = 0; r < t->rows; r++) {
        double v = t->v[r * t->cols + (size_t)f];
        size_t k = 0;
        while (k < nv && vals[k] != v)
            k++;
        if (k == nv)
            vals[nv++] = v;
    }
    for (size_t i = 1; i < nv; i++)
        for (size_t j = i; j > 0 && vals[j] < vals[j - 1]; j--) {
            double tmp = vals[j];
            vals[j] = vals[j - 1], vals[j - 1] = tmp;
        }
    for (size_t start = 0; start < metrics; start += MAX_PANELS) {
        size_t panels = metrics - start < MAX_PANELS ? metrics - start : MAX_PANELS;
        int pc = panels < PANELS_PER_ROW ? (int)panels : PANELS_PER_ROW;
        int pr = (int)((panels + PANELS_PER_ROW - 1) / PANELS_PER_ROW);
        elbo_svg *fig = elbo_svg_new(pc, pr);
        if (!fig)
            break;
        elbo_svg_panel_size(fig, 340, 230);
        char title[256];
        snprintf(title, sizeof title, "metrics against --%s", t->col[f]);
        elbo_svg_title(fig, title);
        for (size_t m = 0; m < panels; m++) {
            size_t c = (size_t)n_flags + start + m, n = 0, nm = 0;
            elbo_plot *p = elbo_svg_panel(fig, (int)m);
            elbo_plot_title(p, t->col[c]);
            elbo_plot_xlabel(p, t->col[f]);
            for (size_t r = 0; r < t->rows; r++)
                if (isfinite(t->v[r * t->cols + c]))
                    xs[n] = t->v[r * t->cols + (size_t)f], ys[n] = t->v[r * t->cols + c], n++;
            for (size_t k = 0; k < nv; k++) {
                double s = 0;
                int cnt = 0;
                for (size_t i = 0; i < n; i++)
                    if (xs[i] == vals[k])
                        s += ys[i], cnt++;
                if (cnt)
                    mx[nm] = vals[k], my[nm] = s / cnt, nm++;
            }
            elbo_style pts = elbo_style_color(elbo_palette(0), NULL), line = elbo_style_color(elbo_palette(1), NULL);
            pts.alpha = 0.6;
            if (n)
                elbo_plot_scatter(p, xs, ys, n, &pts);
            if (nm > 1)
                elbo_plot_line(p, mx, my, nm, &line);
        }
        char *svg;
        size_t len;
        if (elbo_svg_render(fig, &svg, &len) == ELBO_OK) {
            char *s0 = strstr(svg, "<svg");
            put(h, "<div class=\"curve\">%s</div>\n", s0 ? s0 : svg);
            free(svg);
        }
        elbo_svg_free(fig);
    }
done:
    free(vals), free(xs), free(ys), free(mx), free(my);
}

elbo_status elbo_report_sweep(const char *dir, int n_flags, const char *const *run_dirs, size_t n_runs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sweep.csv", dir);
    table t;
    if (!read_table(path, &t))
        return elbo_fail(ELBO_ERR_FORMAT, "%s: cannot read the sweep table for the report", path);
    if (n_flags < 0 || (size_t)n_flags > t.cols) {
        table_free(&t);
        return elbo_fail(ELBO_ERR_INVALID, "%s: %d flag columns, the table has %zu", path, n_flags, t.cols);
    }
    elbo_jv *sum = read_summary(dir);
    listing files;
    list_files(dir, &files);
    html h = {0};
    char title[512];
    snprintf(title, sizeof title, "%s: sweep", title_of(sum, dir));
    head(&h, title);
    runs_table(&h, dir, &t, n_flags, run_dirs, n_runs);
    /* Seeds are repetitions, not a setting: plotted against only when nothing else is swept. */
    int plotted = 0;
    for (int pass = 0; pass < 2 && !plotted; pass++)
        for (int f = 0; f < n_flags; f++) {
            if (pass == 0 && strcmp(t.col[f], "seed") == 0)
                continue;
            if (!plotted++)
                put(&h, "<h2>Each metric against each swept flag</h2>\n");
            flag_plots(&h, &t, n_flags, f);
        }
    if (sum) {
        put(&h, "<h2>Sweep</h2>\n");
        kv_table(&h, elbo_jv_get(sum, "results"));
    }
    run_sections(&h, dir, sum, &files, 0, 0); /* the tables; the flag plots above are their curves */
    put(&h, "<script>%s</script>\n", SORT_JS);
    list_free(&files);
    elbo_jv_free(sum);
    table_free(&t);
    return finish(&h, dir);
}
