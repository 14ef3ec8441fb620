/* SVG figures: layout, axes and series rendering. */
#include "models/io/svg.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/file.h"
#include "models/io/png.h"

/* Layout in px. */
#define PANEL_W 360.0
#define PANEL_H 270.0
#define MARGIN_L 62.0
#define MARGIN_R 16.0
#define MARGIN_T 14.0
#define MARGIN_T_TITLE 32.0
#define MARGIN_B 46.0
#define FIG_TITLE_H 30.0
#define CBAR_GAP 10.0
#define CBAR_W 12.0
#define CBAR_SPACE 62.0 /* gap + bar + tick labels + label */
#define TICK_LEN 4.0
#define MINOR_TICK_LEN 2.5
#define LEGEND_PAD 6.0
#define LEGEND_ROW 16.0
#define LEGEND_SAMPLE 22.0
#define LEGEND_INSET 8.0
/* Text. */
#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
#define FONT_TICK 10.5
#define FONT_LABEL 12.0
#define FONT_TITLE 13.0
#define FONT_FIG_TITLE 15.0
#define CHAR_W 0.58 /* average glyph width / font size, to size legend boxes */
/* Colours. */
#define INK "#262626"
#define GRID "#e6e6e6"
#define REF_GREY 0x666666u
/* Defaults of elbo_style. */
#define DEF_WIDTH 1.8
#define DEF_MARKER 2.5
#define DEF_FILL_ALPHA 0.3
/* Data padding as a fraction of the range. */
#define PAD_X 0.03
#define PAD_Y 0.05
#define TARGET_TICKS 6
#define MAX_TICKS 64
#define CBAR_STEPS 256
/* Decimal magnitudes beyond which tick labels switch to %g. */
#define BIG_LABEL 1e5
#define SMALL_STEP 1e-4
/* Decades labelled as plain numbers (0.01 .. 1000) rather than 10^k. */
#define PLAIN_DECADE_MIN -2
#define PLAIN_DECADE_MAX 3

typedef enum kind { K_LINE, K_SCATTER, K_FILL, K_HEAT, K_HLINE, K_VLINE } kind;

typedef struct series {
    kind k;
    elbo_style st; /* resolved: colour set, width/alpha/size filled */
    char *label;
    size_t n;
    double *x, *y, *y2; /* y2: fill lower curve (NULL: baseline) */
    double baseline;
    /* heat map */
    double *z;
    int nx, ny;
    double x0, x1, y0, y1, zmin, zmax;
    char *cbar_label;
} series;

struct elbo_plot {
    elbo_svg *fig;
    char *title, *xlabel, *ylabel;
    double xlo, xhi, ylo, yhi;
    bool xfixed, yfixed, logx, grid, equal;
    elbo_legend_pos legend;
    int next_color;
    series *s;
    size_t ns, cap;
};

struct elbo_svg {
    int ncols, nrows;
    double pw, ph;
    char *title;
    elbo_plot *panels;
    elbo_status status;
};

static const uint32_t PALETTE[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                   0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
#define NPALETTE ((int)(sizeof PALETTE / sizeof PALETTE[0]))
/* Viridis sampled at t = i/9. */
static const uint32_t VIRIDIS[] = {0x440154, 0x482878, 0x3e4989, 0x31688e, 0x26828e,
                                   0x1f9e89, 0x35b779, 0x6ece58, 0xb5de2b, 0xfde725};
#define NVIRIDIS ((int)(sizeof VIRIDIS / sizeof VIRIDIS[0]))

uint32_t elbo_palette(int i) { return PALETTE[((i % NPALETTE) + NPALETTE) % NPALETTE]; }

uint32_t elbo_viridis(double t)
{
    if (!(t > 0)) /* also NaN */
        t = 0;
    if (t > 1)
        t = 1;
    double f = t * (NVIRIDIS - 1);
    int i = (int)f;
    if (i >= NVIRIDIS - 1)
        return VIRIDIS[NVIRIDIS - 1];
    double a = f - i;
    uint32_t c0 = VIRIDIS[i], c1 = VIRIDIS[i + 1], out = 0;
    for (int sh = 0; sh <= 16; sh += 8) {
        double v = (1 - a) * ((c0 >> sh) & 0xFF) + a * ((c1 >> sh) & 0xFF);
        out |= (uint32_t)lrint(v) << sh;
    }
    return out;
}

/* ---- construction ---- */

static void fail(elbo_svg *fig, elbo_status s, const char *what)
{
    if (fig && fig->status == ELBO_OK)
        fig->status = elbo_fail(s, "svg: %s", what);
}

static char *dup_str(elbo_svg *fig, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d)
        fail(fig, ELBO_ERR_NOMEM, "out of memory");
    else
        memcpy(d, s, n);
    return d;
}

static void set_str(elbo_svg *fig, char **dst, const char *s)
{
    free(*dst);
    *dst = dup_str(fig, s);
}

elbo_svg *elbo_svg_new(int ncols, int nrows)
{
    if (ncols < 1 || nrows < 1)
        return NULL;
    elbo_svg *fig = calloc(1, sizeof *fig);
    if (!fig)
        return NULL;
    fig->panels = calloc((size_t)ncols * (size_t)nrows, sizeof *fig->panels);
    if (!fig->panels) {
        free(fig);
        return NULL;
    }
    fig->ncols = ncols;
    fig->nrows = nrows;
    fig->pw = PANEL_W;
    fig->ph = PANEL_H;
    for (int i = 0; i < ncols * nrows; i++) {
        fig->panels[i].fig = fig;
        fig->panels[i].grid = true;
    }
    return fig;
}

static void series_free(series *s)
{
    free(s->label);
    free(s->x);
    free(s->y);
    free(s->y2);
    free(s->z);
    free(s->cbar_label);
}

void elbo_svg_free(elbo_svg *fig)
{
    if (!fig)
        return;
    for (int i = 0; i < fig->ncols * fig->nrows; i++) {
        elbo_plot *p = &fig->panels[i];
        for (size_t k = 0; k < p->ns; k++)
            series_free(&p->s[k]);
        free(p->s);
        free(p->title);
        free(p->xlabel);
        free(p->ylabel);
    }
    free(fig->panels);
    free(fig->title);
    free(fig);
}

void elbo_svg_panel_size(elbo_svg *fig, double width, double height)
{
    if (!(width > MARGIN_L + MARGIN_R) || !(height > MARGIN_T_TITLE + MARGIN_B))
        return fail(fig, ELBO_ERR_INVALID, "panel size too small for the axes");
    fig->pw = width;
    fig->ph = height;
}

void elbo_svg_title(elbo_svg *fig, const char *title) { set_str(fig, &fig->title, title); }

elbo_plot *elbo_svg_panel(elbo_svg *fig, int i)
{
    if (!fig)
        return NULL;
    if (i < 0 || i >= fig->ncols * fig->nrows) {
        fail(fig, ELBO_ERR_INVALID, "panel index out of range");
        return NULL;
    }
    return &fig->panels[i];
}

void elbo_plot_title(elbo_plot *p, const char *t) { if (p) set_str(p->fig, &p->title, t); }
void elbo_plot_xlabel(elbo_plot *p, const char *t) { if (p) set_str(p->fig, &p->xlabel, t); }
void elbo_plot_ylabel(elbo_plot *p, const char *t) { if (p) set_str(p->fig, &p->ylabel, t); }
void elbo_plot_logx(elbo_plot *p, bool on) { if (p) p->logx = on; }
void elbo_plot_legend(elbo_plot *p, elbo_legend_pos pos) { if (p) p->legend = pos; }
void elbo_plot_grid(elbo_plot *p, bool on) { if (p) p->grid = on; }
void elbo_plot_equal_aspect(elbo_plot *p, bool on) { if (p) p->equal = on; }

void elbo_plot_xlim(elbo_plot *p, double lo, double hi)
{
    if (!p)
        return;
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return fail(p->fig, ELBO_ERR_INVALID, "xlim: expected finite lo < hi");
    p->xlo = lo, p->xhi = hi, p->xfixed = true;
}

void elbo_plot_ylim(elbo_plot *p, double lo, double hi)
{
    if (!p)
        return;
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return fail(p->fig, ELBO_ERR_INVALID, "ylim: expected finite lo < hi");
    p->ylo = lo, p->yhi = hi, p->yfixed = true;
}

static series *add_series(elbo_plot *p, kind k, const elbo_style *st, double def_alpha)
{
    if (!p || p->fig->status != ELBO_OK)
        return NULL;
    if (p->ns == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 4;
        series *s = realloc(p->s, cap * sizeof *s);
        if (!s) {
            fail(p->fig, ELBO_ERR_NOMEM, "out of memory");
            return NULL;
        }
        p->s = s;
        p->cap = cap;
    }
    series *s = &p->s[p->ns];
    memset(s, 0, sizeof *s);
    s->k = k;
    if (st)
        s->st = *st;
    s->st.label = NULL;
    if (!s->st.color_set) {
        s->st.color = (k == K_HLINE || k == K_VLINE) ? REF_GREY : elbo_palette(p->next_color++);
        s->st.color_set = true;
    }
    if (s->st.width == 0)
        s->st.width = DEF_WIDTH;
    if (!(s->st.alpha > 0 && s->st.alpha <= 1))
        s->st.alpha = def_alpha;
    if (!(s->st.size > 0))
        s->st.size = DEF_MARKER;
    if (st && st->label && !(s->label = dup_str(p->fig, st->label)))
        return NULL;
    p->ns++;
    return s;
}

static double *copy_doubles(elbo_svg *fig, const double *v, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d)
        fail(fig, ELBO_ERR_NOMEM, "out of memory");
    else if (n)
        memcpy(d, v, n * sizeof *d);
    return d;
}

static void add_xy(elbo_plot *p, kind k, const double *x, const double *y, size_t n, const elbo_style *st,
                   double def_alpha)
{
    if (p && n && (!x || !y))
        return fail(p->fig, ELBO_ERR_INVALID, "series without data");
    series *s = add_series(p, k, st, def_alpha);
    if (!s)
        return;
    s->n = n;
    s->x = copy_doubles(p->fig, x, n);
    s->y = copy_doubles(p->fig, y, n);
}

void elbo_plot_line(elbo_plot *p, const double *x, const double *y, size_t n, const elbo_style *st)
{
    add_xy(p, K_LINE, x, y, n, st, 1.0);
}

void elbo_plot_scatter(elbo_plot *p, const double *x, const double *y, size_t n, const elbo_style *st)
{
    add_xy(p, K_SCATTER, x, y, n, st, 1.0);
}

void elbo_plot_fill(elbo_plot *p, const double *x, const double *y_lo, const double *y_hi, size_t n, double baseline,
                    const elbo_style *st)
{
    add_xy(p, K_FILL, x, y_hi, n, st, DEF_FILL_ALPHA);
    if (!p || p->fig->status != ELBO_OK)
        return;
    series *s = &p->s[p->ns - 1];
    s->baseline = baseline;
    if (y_lo)
        s->y2 = copy_doubles(p->fig, y_lo, n);
}

void elbo_plot_heatmap(elbo_plot *p, const double *z, int nx, int ny, double x0, double x1, double y0, double y1,
                       double zmin, double zmax, const char *cbar_label)
{
    if (!p)
        return;
    if (nx < 1 || ny < 1 || nx > ELBO_PNG_MAX_SIDE || ny > ELBO_PNG_MAX_SIDE || !z || !(x0 < x1) || !(y0 < y1))
        return fail(p->fig, ELBO_ERR_INVALID, "heatmap: expected a non-empty grid and x0 < x1, y0 < y1");
    series *s = add_series(p, K_HEAT, NULL, 1.0);
    if (!s)
        return;
    s->nx = nx, s->ny = ny;
    s->x0 = x0, s->x1 = x1, s->y0 = y0, s->y1 = y1;
    s->z = copy_doubles(p->fig, z, (size_t)nx * (size_t)ny);
    if (zmin == 0 && zmax == 0) {
        zmin = INFINITY, zmax = -INFINITY;
        for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++)
            if (isfinite(z[i])) {
                zmin = fmin(zmin, z[i]);
                zmax = fmax(zmax, z[i]);
            }
        if (!(zmin <= zmax))
            zmin = 0, zmax = 1;
    }
    if (!(zmax > zmin))
        zmax = zmin + 1;
    s->zmin = zmin, s->zmax = zmax;
    s->cbar_label = dup_str(p->fig, cbar_label ? cbar_label : "");
}

void elbo_plot_hline(elbo_plot *p, double y, const elbo_style *st)
{
    series *s = add_series(p, K_HLINE, st, 1.0);
    if (s)
        s->baseline = y;
}

void elbo_plot_vline(elbo_plot *p, double x, const elbo_style *st)
{
    series *s = add_series(p, K_VLINE, st, 1.0);
    if (s)
        s->baseline = x;
}

/* ---- ticks ---- */

static double nice_step(double range, int target)
{
    double raw = range / (target > 1 ? target : 1);
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    return nice * mag;
}

int elbo_nice_ticks(double lo, double hi, int target, double *ticks, int max)
{
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi) || max < 1)
        return 0;
    double step = nice_step(hi - lo, target);
    double eps = step * 1e-9;
    int n = 0;
    for (double k = ceil((lo - eps) / step); n < max; k++) {
        double t = k * step;
        if (t > hi + eps)
            break;
        ticks[n++] = fabs(t) < eps ? 0.0 : t; /* no "-0" */
    }
    return n;
}

static void tick_label(char *buf, size_t cap, double v, double step)
{
    if (fabs(v) >= BIG_LABEL || (step < SMALL_STEP && v != 0)) {
        snprintf(buf, cap, "%g", v);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, cap, "%.*f", dec, v);
}

/* ---- output buffer ---- */

typedef struct out {
    char *p;
    size_t n, cap;
    int failed;
} out;

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->p ? o->p + o->n : NULL, o->p ? o->cap - o->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            o->failed = 1;
            return;
        }
        if (o->p && o->n + (size_t)k < o->cap) {
            o->n += (size_t)k;
            return;
        }
        size_t cap = o->cap ? o->cap : 1 << 14;
        while (cap <= o->n + (size_t)k)
            cap *= 2;
        char *q = realloc(o->p, cap);
        if (!q) {
            o->failed = 1;
            return;
        }
        o->p = q;
        o->cap = cap;
    }
}

/* XML-escaped text. */
static void emit_text(out *o, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': emit(o, "&amp;"); break;
        case '<': emit(o, "&lt;"); break;
        case '>': emit(o, "&gt;"); break;
        case '"': emit(o, "&quot;"); break;
        default: emit(o, "%c", *s);
        }
    }
}

static void text_at(out *o, double x, double y, double size, const char *anchor, const char *extra, const char *s)
{
    emit(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"%s\"%s>", x, y, size, anchor,
         extra ? extra : "");
    emit_text(o, s);
    emit(o, "</text>\n");
}

static const char *dash_array(elbo_dash d)
{
    switch (d) {
    case ELBO_DASH_DASHED: return " stroke-dasharray=\"6,4\"";
    case ELBO_DASH_DOTTED: return " stroke-dasharray=\"1.5,3\" stroke-linecap=\"round\"";
    case ELBO_DASH_DASHDOT: return " stroke-dasharray=\"7,3,1.5,3\"";
    default: return "";
    }
}

/* ---- layout and mapping ---- */

typedef struct frame {
    double left, top, w, h; /* plot area in figure px */
    double xlo, xhi, ylo, yhi; /* data range (x in log10 units if logx) */
    bool logx;
} frame;

static double tx(const frame *f, double x)
{
    double v = f->logx ? log10(x) : x;
    return f->left + (v - f->xlo) / (f->xhi - f->xlo) * f->w;
}

static double ty(const frame *f, double y) { return f->top + f->h - (y - f->ylo) / (f->yhi - f->ylo) * f->h; }

static int x_ok(const frame *f, double x) { return isfinite(x) && (!f->logx || x > 0); }

static void widen(double *lo, double *hi, double v)
{
    if (!isfinite(v))
        return;
    if (v < *lo)
        *lo = v;
    if (v > *hi)
        *hi = v;
}

/* Data range of a panel (x in log units when logx). */
static void data_range(const elbo_plot *p, double *xlo, double *xhi, double *ylo, double *yhi, bool *tight)
{
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    *tight = false;
    for (size_t k = 0; k < p->ns; k++) {
        const series *s = &p->s[k];
        switch (s->k) {
        case K_HEAT:
            widen(xlo, xhi, p->logx ? log10(s->x0) : s->x0);
            widen(xlo, xhi, p->logx ? log10(s->x1) : s->x1);
            widen(ylo, yhi, s->y0);
            widen(ylo, yhi, s->y1);
            *tight = true;
            break;
        case K_HLINE: widen(ylo, yhi, s->baseline); break;
        case K_VLINE: widen(xlo, xhi, p->logx ? (s->baseline > 0 ? log10(s->baseline) : NAN) : s->baseline); break;
        default:
            for (size_t i = 0; i < s->n; i++) {
                if (!isfinite(s->x[i]) || (p->logx && s->x[i] <= 0))
                    continue;
                widen(xlo, xhi, p->logx ? log10(s->x[i]) : s->x[i]);
                widen(ylo, yhi, s->y[i]);
                if (s->k == K_FILL)
                    widen(ylo, yhi, s->y2 ? s->y2[i] : s->baseline);
            }
        }
    }
}

static void settle(double *lo, double *hi, double pad)
{
    if (!(*lo <= *hi)) { /* no data */
        *lo = 0;
        *hi = 1;
        return;
    }
    if (*hi == *lo) {
        double d = *lo == 0 ? 0.5 : fabs(*lo) * 0.1;
        *lo -= d;
        *hi += d;
        return;
    }
    double r = *hi - *lo;
    *lo -= pad * r;
    *hi += pad * r;
}

static bool has_heat(const elbo_plot *p)
{
    for (size_t k = 0; k < p->ns; k++)
        if (p->s[k].k == K_HEAT)
            return true;
    return false;
}

static frame make_frame(const elbo_plot *p, double ox, double oy, double pw, double ph)
{
    frame f;
    f.logx = p->logx;
    f.left = ox + MARGIN_L;
    f.top = oy + (p->title ? MARGIN_T_TITLE : MARGIN_T);
    f.w = pw - MARGIN_L - MARGIN_R - (has_heat(p) ? CBAR_SPACE : 0);
    f.h = ph - (f.top - oy) - MARGIN_B;
    bool tight;
    data_range(p, &f.xlo, &f.xhi, &f.ylo, &f.yhi, &tight);
    settle(&f.xlo, &f.xhi, tight ? 0 : PAD_X);
    settle(&f.ylo, &f.yhi, tight ? 0 : PAD_Y);
    if (p->xfixed) {
        f.xlo = p->logx ? log10(fmax(p->xlo, DBL_MIN)) : p->xlo;
        f.xhi = p->logx ? log10(fmax(p->xhi, DBL_MIN)) : p->xhi;
    }
    if (p->yfixed)
        f.ylo = p->ylo, f.yhi = p->yhi;
    if (p->equal && !p->logx) { /* widen the axis whose units are smaller on screen */
        double sx = (f.xhi - f.xlo) / f.w, sy = (f.yhi - f.ylo) / f.h;
        if (sx > sy) {
            double c = 0.5 * (f.ylo + f.yhi), half = 0.5 * sx * f.h;
            f.ylo = c - half, f.yhi = c + half;
        } else {
            double c = 0.5 * (f.xlo + f.xhi), half = 0.5 * sy * f.w;
            f.xlo = c - half, f.xhi = c + half;
        }
    }
    return f;
}

/* ---- axes ---- */

static void draw_axes(out *o, const elbo_plot *p, const frame *f)
{
    double ticks[MAX_TICKS];
    char lab[64];
    double bottom = f->top + f->h;
    /* y ticks, grid and labels */
    int ny = elbo_nice_ticks(f->ylo, f->yhi, TARGET_TICKS, ticks, MAX_TICKS);
    double ystep = ny > 1 ? ticks[1] - ticks[0] : nice_step(f->yhi - f->ylo, TARGET_TICKS);
    for (int i = 0; i < ny; i++) {
        double y = ty(f, ticks[i]);
        if (p->grid)
            emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" GRID "\" stroke-width=\"0.8\"/>\n",
                 f->left, y, f->left + f->w, y);
        emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" INK "\" stroke-width=\"0.8\"/>\n",
             f->left - TICK_LEN, y, f->left, y);
        tick_label(lab, sizeof lab, ticks[i], ystep);
        text_at(o, f->left - TICK_LEN - 3, y + FONT_TICK * 0.35, FONT_TICK, "end", NULL, lab);
    }
    /* x ticks: decades (with minor ticks) on a log axis spanning one or more, else nice linear steps */
    int nx = 0;
    double xstep = 0;
    bool decades = f->logx && f->xhi - f->xlo >= 1;
    if (decades) {
        for (double k = ceil(f->xlo - 1e-9); k <= f->xhi + 1e-9 && nx < MAX_TICKS; k++)
            ticks[nx++] = k;
        for (double k = floor(f->xlo); k <= f->xhi; k++)
            for (int m = 2; m <= 9; m++) {
                double v = k + log10(m);
                if (v < f->xlo || v > f->xhi)
                    continue;
                double x = f->left + (v - f->xlo) / (f->xhi - f->xlo) * f->w;
                emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" INK "\" stroke-width=\"0.6\"/>\n",
                     x, bottom, x, bottom + MINOR_TICK_LEN);
            }
    } else if (f->logx) {
        nx = elbo_nice_ticks(pow(10, f->xlo), pow(10, f->xhi), TARGET_TICKS, ticks, MAX_TICKS);
        xstep = nx > 1 ? ticks[1] - ticks[0] : 1;
    } else {
        nx = elbo_nice_ticks(f->xlo, f->xhi, TARGET_TICKS, ticks, MAX_TICKS);
        xstep = nx > 1 ? ticks[1] - ticks[0] : nice_step(f->xhi - f->xlo, TARGET_TICKS);
    }
    /* One style per axis: plain numbers when every decade is short to write, else powers of ten. */
    bool plain_decades = decades && nx > 0 && ticks[0] >= PLAIN_DECADE_MIN && ticks[nx - 1] <= PLAIN_DECADE_MAX;
    for (int i = 0; i < nx; i++) {
        double x = decades ? f->left + (ticks[i] - f->xlo) / (f->xhi - f->xlo) * f->w : tx(f, ticks[i]);
        if (!isfinite(x))
            continue;
        if (p->grid)
            emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" GRID "\" stroke-width=\"0.8\"/>\n",
                 x, f->top, x, bottom);
        emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" INK "\" stroke-width=\"0.8\"/>\n", x,
             bottom, x, bottom + TICK_LEN);
        double ly = bottom + TICK_LEN + FONT_TICK + 1;
        if (decades) {
            int e = (int)lrint(ticks[i]);
            if (plain_decades) {
                snprintf(lab, sizeof lab, "%g", pow(10, e));
                text_at(o, x, ly, FONT_TICK, "middle", NULL, lab);
            } else {
                emit(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"middle\">10<tspan dy=\"-4\" "
                        "font-size=\"%.1f\">%d</tspan></text>\n",
                     x, ly, FONT_TICK, FONT_TICK * 0.75, e);
            }
        } else {
            tick_label(lab, sizeof lab, ticks[i], xstep);
            text_at(o, x, ly, FONT_TICK, "middle", NULL, lab);
        }
    }
    emit(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"" INK
            "\" stroke-width=\"0.9\"/>\n",
         f->left, f->top, f->w, f->h);
    if (p->xlabel)
        text_at(o, f->left + f->w / 2, bottom + TICK_LEN + FONT_TICK + FONT_LABEL + 8, FONT_LABEL, "middle", NULL,
                p->xlabel);
    if (p->ylabel) {
        double x = f->left - MARGIN_L + FONT_LABEL, y = f->top + f->h / 2;
        char rot[64];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.1f %.1f)\"", x, y);
        text_at(o, x, y, FONT_LABEL, "middle", rot, p->ylabel);
    }
    if (p->title)
        text_at(o, f->left + f->w / 2, f->top - 10, FONT_TITLE, "middle", " font-weight=\"600\"", p->title);
}

/* ---- series ---- */

static void stroke_attrs(out *o, const series *s)
{
    emit(o, " fill=\"none\" stroke=\"#%06x\" stroke-width=\"%.2f\" stroke-linejoin=\"round\"%s", s->st.color,
         s->st.width, dash_array(s->st.dash));
    if (s->st.alpha < 1)
        emit(o, " stroke-opacity=\"%.3f\"", s->st.alpha);
}

static void draw_polyline(out *o, const frame *f, const series *s, const double *y)
{
    bool open = false;
    for (size_t i = 0; i < s->n; i++) {
        if (!x_ok(f, s->x[i]) || !isfinite(y[i])) { /* a gap */
            if (open) {
                emit(o, "\"");
                stroke_attrs(o, s);
                emit(o, "/>\n");
            }
            open = false;
            continue;
        }
        if (!open)
            emit(o, "<path d=\"M%.2f %.2f", tx(f, s->x[i]), ty(f, y[i]));
        else
            emit(o, " L%.2f %.2f", tx(f, s->x[i]), ty(f, y[i]));
        open = true;
    }
    if (open) {
        emit(o, "\"");
        stroke_attrs(o, s);
        emit(o, "/>\n");
    }
}

static void draw_marker(out *o, elbo_marker m, double x, double y, double r)
{
    switch (m) {
    case ELBO_MARKER_SQUARE:
        emit(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>", x - r, y - r, 2 * r, 2 * r);
        break;
    case ELBO_MARKER_TRIANGLE:
        emit(o, "<path d=\"M%.2f %.2fL%.2f %.2fL%.2f %.2fZ\"/>", x, y - 1.2 * r, x + 1.1 * r, y + 0.8 * r, x - 1.1 * r,
             y + 0.8 * r);
        break;
    case ELBO_MARKER_CROSS:
        emit(o, "<path d=\"M%.2f %.2fL%.2f %.2fM%.2f %.2fL%.2f %.2f\"/>", x - r, y - r, x + r, y + r, x - r, y + r,
             x + r, y - r);
        break;
    default: emit(o, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\"/>", x, y, r);
    }
}

static void marker_group_open(out *o, const series *s)
{
    if (s->st.marker == ELBO_MARKER_CROSS)
        emit(o, "<g fill=\"none\" stroke=\"#%06x\" stroke-width=\"1.2\"", s->st.color);
    else
        emit(o, "<g fill=\"#%06x\" stroke=\"none\"", s->st.color);
    if (s->st.alpha < 1)
        emit(o, " opacity=\"%.3f\"", s->st.alpha);
    emit(o, ">");
}

static void draw_scatter(out *o, const frame *f, const series *s)
{
    marker_group_open(o, s);
    emit(o, "\n");
    for (size_t i = 0; i < s->n; i++) {
        if (!x_ok(f, s->x[i]) || !isfinite(s->y[i]))
            continue;
        draw_marker(o, s->st.marker, tx(f, s->x[i]), ty(f, s->y[i]), s->st.size);
        emit(o, "\n");
    }
    emit(o, "</g>\n");
}

static void draw_fill(out *o, const frame *f, const series *s)
{
    bool first = true;
    emit(o, "<path d=\"");
    for (size_t i = 0; i < s->n; i++) {
        if (!x_ok(f, s->x[i]) || !isfinite(s->y[i]))
            continue;
        emit(o, "%s%.2f %.2f", first ? "M" : " L", tx(f, s->x[i]), ty(f, s->y[i]));
        first = false;
    }
    for (size_t i = s->n; i-- > 0;) {
        double lo = s->y2 ? s->y2[i] : s->baseline;
        if (!x_ok(f, s->x[i]) || !isfinite(s->y[i]) || !isfinite(lo))
            continue;
        emit(o, " L%.2f %.2f", tx(f, s->x[i]), ty(f, lo));
    }
    emit(o, " Z\" fill=\"#%06x\" fill-opacity=\"%.3f\" stroke=\"none\"/>\n", s->st.color, s->st.alpha);
    if (s->st.width > 0) {
        series edge = *s;
        edge.st.alpha = 1;
        draw_polyline(o, f, &edge, s->y);
    }
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void emit_base64(out *o, const uint8_t *p, size_t n)
{
    char q[5] = {0};
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        q[0] = B64[(v >> 18) & 63];
        q[1] = B64[(v >> 12) & 63];
        q[2] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? B64[v & 63] : '=';
        emit(o, "%s", q);
    }
}

/* An RGB raster (height, width) as an <image> stretched over the box, pixels kept sharp. */
static elbo_status emit_raster(out *o, const uint8_t *rgb, int w, int h, double x, double y, double bw, double bh)
{
    uint8_t *png;
    size_t len;
    elbo_status st = elbo_png_encode(rgb, w, h, 3, &png, &len);
    if (st != ELBO_OK)
        return st;
    emit(o, "<image x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" preserveAspectRatio=\"none\" "
            "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,",
         x, y, bw, bh);
    emit_base64(o, png, len);
    emit(o, "\"/>\n");
    free(png);
    return ELBO_OK;
}

static void put_rgb(uint8_t *p, uint32_t c)
{
    p[0] = (uint8_t)(c >> 16);
    p[1] = (uint8_t)(c >> 8);
    p[2] = (uint8_t)c;
}

static elbo_status draw_heat(out *o, const frame *f, const series *s)
{
    size_t cells = (size_t)s->nx * (size_t)s->ny;
    uint8_t *rgb = malloc(cells * 3);
    if (!rgb)
        return elbo_fail(ELBO_ERR_NOMEM, "svg: heatmap: out of memory");
    for (int r = 0; r < s->ny; r++) /* image row 0 is the top: data row ny-1 */
        for (int c = 0; c < s->nx; c++) {
            double z = s->z[(size_t)(s->ny - 1 - r) * (size_t)s->nx + (size_t)c];
            uint32_t col = isfinite(z) ? elbo_viridis((z - s->zmin) / (s->zmax - s->zmin)) : 0xFFFFFFu;
            put_rgb(rgb + ((size_t)r * (size_t)s->nx + (size_t)c) * 3, col);
        }
    double x0 = tx(f, s->x0), x1 = tx(f, s->x1), y0 = ty(f, s->y0), y1 = ty(f, s->y1);
    elbo_status st = emit_raster(o, rgb, s->nx, s->ny, x0, y1, x1 - x0, y0 - y1);
    free(rgb);
    return st;
}

static elbo_status draw_colorbar(out *o, const frame *f, const series *s)
{
    uint8_t rgb[CBAR_STEPS * 3];
    for (int i = 0; i < CBAR_STEPS; i++)
        put_rgb(rgb + 3 * i, elbo_viridis(1.0 - (double)i / (CBAR_STEPS - 1)));
    double x = f->left + f->w + CBAR_GAP;
    elbo_status st = emit_raster(o, rgb, 1, CBAR_STEPS, x, f->top, CBAR_W, f->h);
    if (st != ELBO_OK)
        return st;
    emit(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"" INK
            "\" stroke-width=\"0.8\"/>\n",
         x, f->top, CBAR_W, f->h);
    double ticks[MAX_TICKS];
    char lab[64];
    int n = elbo_nice_ticks(s->zmin, s->zmax, TARGET_TICKS - 1, ticks, MAX_TICKS);
    double step = n > 1 ? ticks[1] - ticks[0] : 1;
    for (int i = 0; i < n; i++) {
        double y = f->top + f->h - (ticks[i] - s->zmin) / (s->zmax - s->zmin) * f->h;
        emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" INK "\" stroke-width=\"0.8\"/>\n",
             x + CBAR_W, y, x + CBAR_W + TICK_LEN, y);
        tick_label(lab, sizeof lab, ticks[i], step);
        text_at(o, x + CBAR_W + TICK_LEN + 2, y + FONT_TICK * 0.35, FONT_TICK, "start", NULL, lab);
    }
    if (s->cbar_label && *s->cbar_label) {
        double lx = x + CBAR_SPACE - CBAR_GAP - 2, ly = f->top + f->h / 2;
        char rot[64];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.1f %.1f)\"", lx, ly);
        text_at(o, lx, ly, FONT_LABEL, "middle", rot, s->cbar_label);
    }
    return ELBO_OK;
}

static void draw_ref(out *o, const frame *f, const series *s)
{
    double x1, y1, x2, y2;
    if (s->k == K_HLINE) {
        if (!isfinite(s->baseline))
            return;
        x1 = f->left, x2 = f->left + f->w, y1 = y2 = ty(f, s->baseline);
    } else {
        if (!x_ok(f, s->baseline))
            return;
        y1 = f->top, y2 = f->top + f->h, x1 = x2 = tx(f, s->baseline);
    }
    emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", x1, y1, x2, y2);
    stroke_attrs(o, s);
    emit(o, "/>\n");
}

/* ---- legend ---- */

static void draw_legend(out *o, const elbo_plot *p, const frame *f)
{
    size_t n = 0, longest = 0;
    for (size_t k = 0; k < p->ns; k++)
        if (p->s[k].label) {
            n++;
            size_t l = strlen(p->s[k].label);
            longest = l > longest ? l : longest;
        }
    elbo_legend_pos pos = p->legend == ELBO_LEGEND_NONE ? ELBO_LEGEND_TOP_RIGHT : p->legend;
    if (n == 0 || pos == ELBO_LEGEND_HIDDEN)
        return;
    double w = 2 * LEGEND_PAD + LEGEND_SAMPLE + 6 + CHAR_W * FONT_TICK * (double)longest;
    double h = 2 * LEGEND_PAD + LEGEND_ROW * (double)n - 4;
    bool right = pos == ELBO_LEGEND_TOP_RIGHT || pos == ELBO_LEGEND_BOTTOM_RIGHT;
    bool top = pos == ELBO_LEGEND_TOP_RIGHT || pos == ELBO_LEGEND_TOP_LEFT;
    double x = right ? f->left + f->w - LEGEND_INSET - w : f->left + LEGEND_INSET;
    double y = top ? f->top + LEGEND_INSET : f->top + f->h - LEGEND_INSET - h;
    emit(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" rx=\"3\" fill=\"#ffffff\" "
            "fill-opacity=\"0.85\" stroke=\"#cccccc\" stroke-width=\"0.8\"/>\n",
         x, y, w, h);
    double row = y + LEGEND_PAD + LEGEND_ROW / 2 - 2;
    for (size_t k = 0; k < p->ns; k++) {
        const series *s = &p->s[k];
        if (!s->label)
            continue;
        double sx = x + LEGEND_PAD;
        switch (s->k) {
        case K_SCATTER:
            marker_group_open(o, s);
            draw_marker(o, s->st.marker, sx + LEGEND_SAMPLE / 2, row, s->st.size + 0.5);
            emit(o, "</g>\n");
            break;
        case K_FILL:
            emit(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"10\" fill=\"#%06x\" fill-opacity=\"%.3f\"",
                 sx, row - 5, LEGEND_SAMPLE, s->st.color, s->st.alpha);
            if (s->st.width > 0)
                emit(o, " stroke=\"#%06x\" stroke-width=\"1\"", s->st.color);
            emit(o, "/>\n");
            break;
        case K_HEAT: break;
        default:
            emit(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", sx, row, sx + LEGEND_SAMPLE, row);
            stroke_attrs(o, s);
            emit(o, "/>\n");
        }
        text_at(o, sx + LEGEND_SAMPLE + 6, row + FONT_TICK * 0.35, FONT_TICK, "start", NULL, s->label);
        row += LEGEND_ROW;
    }
}

/* ---- figure ---- */

static elbo_status draw_panel(out *o, const elbo_plot *p, int id, double ox, double oy, double pw, double ph)
{
    frame f = make_frame(p, ox, oy, pw, ph);
    emit(o, "<g>\n<clipPath id=\"clip%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath>\n",
         id, f.left, f.top, f.w, f.h);
    const series *heat = NULL;
    /* Heat maps go under the grid and the curves. */
    emit(o, "<g clip-path=\"url(#clip%d)\">\n", id);
    for (size_t k = 0; k < p->ns; k++)
        if (p->s[k].k == K_HEAT) {
            elbo_status st = draw_heat(o, &f, &p->s[k]);
            if (st != ELBO_OK)
                return st;
            heat = &p->s[k];
        }
    emit(o, "</g>\n");
    if (!heat)
        draw_axes(o, p, &f);
    emit(o, "<g clip-path=\"url(#clip%d)\">\n", id);
    for (size_t k = 0; k < p->ns; k++) {
        const series *s = &p->s[k];
        switch (s->k) {
        case K_LINE: draw_polyline(o, &f, s, s->y); break;
        case K_SCATTER: draw_scatter(o, &f, s); break;
        case K_FILL: draw_fill(o, &f, s); break;
        case K_HLINE:
        case K_VLINE: draw_ref(o, &f, s); break;
        case K_HEAT: break;
        }
    }
    emit(o, "</g>\n");
    if (heat) { /* over a heat map the grid would hide the data: axes only, no grid */
        elbo_plot q = *p;
        q.grid = false;
        draw_axes(o, &q, &f);
        elbo_status st = draw_colorbar(o, &f, heat);
        if (st != ELBO_OK)
            return st;
    }
    draw_legend(o, p, &f);
    emit(o, "</g>\n");
    return ELBO_OK;
}

elbo_status elbo_svg_render(elbo_svg *fig, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    if (!fig)
        return elbo_fail(ELBO_ERR_NOMEM, "svg: no figure (allocation failed)");
    if (fig->status != ELBO_OK)
        return fig->status;
    out o = {0};
    double top = fig->title ? FIG_TITLE_H : 0;
    double W = fig->ncols * fig->pw, H = fig->nrows * fig->ph + top;
    emit(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    emit(&o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
             "font-family=\"" FONT "\" fill=\"" INK "\">\n",
         W, H, W, H);
    emit(&o, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    if (fig->title)
        text_at(&o, W / 2, FIG_TITLE_H * 0.7, FONT_FIG_TITLE, "middle", " font-weight=\"600\"", fig->title);
    for (int r = 0; r < fig->nrows; r++)
        for (int c = 0; c < fig->ncols; c++) {
            int id = r * fig->ncols + c;
            elbo_status st = draw_panel(&o, &fig->panels[id], id, c * fig->pw, top + r * fig->ph, fig->pw, fig->ph);
            if (st != ELBO_OK) {
                free(o.p);
                return st;
            }
        }
    emit(&o, "</svg>\n");
    if (o.failed) {
        free(o.p);
        return elbo_fail(ELBO_ERR_NOMEM, "svg: out of memory while rendering");
    }
    *text = o.p;
    *len = o.n;
    return ELBO_OK;
}

elbo_status elbo_svg_save(elbo_svg *fig, const char *path)
{
    char *text;
    size_t len;
    elbo_status st = elbo_svg_render(fig, &text, &len);
    if (st != ELBO_OK)
        return st;
    st = elbo_write_file_atomic(path, text, len);
    free(text);
    return st;
}
