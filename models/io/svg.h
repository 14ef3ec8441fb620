/* SVG figures for the book: one or more panels side by side, each with axes,
 * "nice" ticks (1-2-5 steps, or decades on a log-x axis), labels, title,
 * legend, line series (solid/dashed/dotted), scatter, filled areas (between
 * two curves or down to a baseline, with alpha) and 2-D heat maps (viridis)
 * with a colour bar. Series data are copied; errors (bad arguments, NOMEM)
 * are sticky and returned by elbo_svg_save, which writes atomically.
 *
 *     elbo_svg *fig = elbo_svg_new(2, 1);          // 2 panels in a row
 *     elbo_plot *p = elbo_svg_panel(fig, 0);
 *     elbo_plot_title(p, "ELBO"); elbo_plot_xlabel(p, "epoch");
 *     elbo_plot_line(p, x, y, n, &(elbo_style){.label = "train"});
 *     elbo_status st = elbo_svg_save(fig, "out/elbo.svg");
 *     elbo_svg_free(fig); */
#ifndef ELBO_IO_SVG_H
#define ELBO_IO_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

typedef struct elbo_svg elbo_svg;
typedef struct elbo_plot elbo_plot;

/* 0xRRGGBB; ELBO_COLOR_AUTO picks the next colour of the panel's palette. */
#define ELBO_COLOR_AUTO 0xFFFFFFFFu

typedef enum elbo_dash { ELBO_DASH_SOLID, ELBO_DASH_DASHED, ELBO_DASH_DOTTED, ELBO_DASH_DASHDOT } elbo_dash;
typedef enum elbo_marker { ELBO_MARKER_CIRCLE, ELBO_MARKER_SQUARE, ELBO_MARKER_TRIANGLE, ELBO_MARKER_CROSS } elbo_marker;
typedef enum elbo_legend_pos {
    ELBO_LEGEND_NONE, /* default: shown top-right if any series has a label */
    ELBO_LEGEND_TOP_RIGHT,
    ELBO_LEGEND_TOP_LEFT,
    ELBO_LEGEND_BOTTOM_RIGHT,
    ELBO_LEGEND_BOTTOM_LEFT,
    ELBO_LEGEND_HIDDEN,
} elbo_legend_pos;

/* Style of one series; a zeroed struct (or NULL) gives sensible defaults:
 * auto colour (zero means black only when color_set is true), width 1.8,
 * solid, marker radius 2.5, alpha 1 for lines/markers and 0.3 for fills. */
typedef struct elbo_style {
    const char *label; /* legend entry; NULL: none */
    uint32_t color;    /* 0xRRGGBB, used when color_set */
    bool color_set;
    double width;  /* stroke width in px; 0: default */
    elbo_dash dash;
    double alpha;  /* opacity in (0,1]; 0: default */
    elbo_marker marker;
    double size;   /* marker radius in px; 0: default */
} elbo_style;

/* Shorthand: a style with a fixed colour. */
static inline elbo_style elbo_style_color(uint32_t rgb, const char *label)
{
    elbo_style s = {0};
    s.label = label;
    s.color = rgb;
    s.color_set = true;
    return s;
}

/* The i-th colour of the default (colour-blind safe) palette. */
uint32_t elbo_palette(int i);
/* Viridis-like colour map at t in [0,1] (clamped). */
uint32_t elbo_viridis(double t);

/* A figure of ncols x nrows panels, each 360x270 px by default. NULL on NOMEM. */
elbo_svg *elbo_svg_new(int ncols, int nrows);
void elbo_svg_free(elbo_svg *fig);
/* Panel size in px (before margins are shared out). */
void elbo_svg_panel_size(elbo_svg *fig, double width, double height);
/* Overall title above the panels. */
void elbo_svg_title(elbo_svg *fig, const char *title);
/* Panel i in row-major order (NULL if out of range: the error is sticky). */
elbo_plot *elbo_svg_panel(elbo_svg *fig, int i);

void elbo_plot_title(elbo_plot *p, const char *title);
void elbo_plot_xlabel(elbo_plot *p, const char *label);
void elbo_plot_ylabel(elbo_plot *p, const char *label);
/* Fix the axis range (default: data range with a little padding; lo < hi). */
void elbo_plot_xlim(elbo_plot *p, double lo, double hi);
void elbo_plot_ylim(elbo_plot *p, double lo, double hi);
/* Logarithmic x axis (data x must be > 0; others are skipped). */
void elbo_plot_logx(elbo_plot *p, bool on);
void elbo_plot_legend(elbo_plot *p, elbo_legend_pos pos);
/* Light grid lines at the ticks (default on). */
void elbo_plot_grid(elbo_plot *p, bool on);
/* Same scale on both axes (for 2-D latent plots). */
void elbo_plot_equal_aspect(elbo_plot *p, bool on);

/* Polyline through (x[i], y[i]); non-finite points break the line. */
void elbo_plot_line(elbo_plot *p, const double *x, const double *y, size_t n, const elbo_style *st);
/* Markers at (x[i], y[i]). */
void elbo_plot_scatter(elbo_plot *p, const double *x, const double *y, size_t n, const elbo_style *st);
/* Area between y_lo and y_hi over x; y_lo NULL fills down to baseline. The
 * outline of y_hi is drawn with st's width unless st->width < 0. */
void elbo_plot_fill(elbo_plot *p, const double *x, const double *y_lo, const double *y_hi, size_t n, double baseline,
                    const elbo_style *st);
/* Heat map of z (ny, nx), row 0 at y0 (bottom), cells spanning [x0,x1]x[y0,y1];
 * colour range [zmin, zmax] (both 0: data range); a colour bar titled
 * cbar_label is drawn at the right (NULL label: still drawn, untitled). */
void elbo_plot_heatmap(elbo_plot *p, const double *z, int nx, int ny, double x0, double x1, double y0, double y1,
                       double zmin, double zmax, const char *cbar_label);
/* A horizontal or vertical reference line across the panel. */
void elbo_plot_hline(elbo_plot *p, double y, const elbo_style *st);
void elbo_plot_vline(elbo_plot *p, double x, const elbo_style *st);

/* Render the whole figure to an SVG string (malloc'd). */
elbo_status elbo_svg_render(elbo_svg *fig, char **out, size_t *len);
/* Render and write atomically. */
elbo_status elbo_svg_save(elbo_svg *fig, const char *path);

/* Nice ticks over [lo, hi]: step is 1, 2 or 5 x 10^k giving about target
 * ticks; fills up to max ticks, returns the count (exposed for tests). */
int elbo_nice_ticks(double lo, double hi, int target, double *ticks, int max);

#endif
