/* SVG plots: ticks, rendering of every series kind, error handling. */
#include <math.h>

#include "io_util.h"
#include "models/io/svg.h"

Test(svg, nice_ticks)
{
    double t[64];
    int n = elbo_nice_ticks(0, 1, 6, t, 64);
    cr_assert_eq(n, 6);
    cr_assert_float_eq(t[1], 0.2, 1e-12);
    n = elbo_nice_ticks(-3.7, 12.2, 6, t, 64);
    cr_assert_float_eq(t[1] - t[0], 2.0, 1e-12, "step 2 for a range of 16");
    cr_assert(t[0] >= -3.7 && t[n - 1] <= 12.2);
    n = elbo_nice_ticks(-1e-9, 1e-9, 5, t, 64);
    cr_assert(n >= 3);
    n = elbo_nice_ticks(-0.3, 0.3, 6, t, 64);
    int zero = 0;
    for (int i = 0; i < n; i++)
        zero += t[i] == 0.0 && !signbit(t[i]);
    cr_assert_eq(zero, 1, "a clean 0 tick");
    cr_assert_eq(elbo_nice_ticks(1, 1, 5, t, 64), 0);
    cr_assert_eq(elbo_nice_ticks(NAN, 1, 5, t, 64), 0);
}

Test(svg, viridis_and_palette)
{
    cr_assert_eq(elbo_viridis(0), 0x440154u);
    cr_assert_eq(elbo_viridis(1), 0xfde725u);
    cr_assert_eq(elbo_viridis(-5), 0x440154u);
    cr_assert_eq(elbo_viridis(NAN), 0x440154u);
    cr_assert_eq(elbo_palette(0), elbo_palette(10));
}

static char *render(elbo_svg *fig)
{
    char *text;
    size_t len;
    cr_assert_eq(elbo_svg_render(fig, &text, &len), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(strlen(text), len);
    return text;
}

Test(svg, full_figure)
{
    double x[50], y[50], lo[50], hi[50], z[12 * 10];
    for (int i = 0; i < 50; i++) {
        x[i] = i * 0.1;
        y[i] = sin(x[i]);
        lo[i] = y[i] - 0.2;
        hi[i] = y[i] + 0.2;
    }
    y[20] = NAN; /* a gap in the line */
    for (int i = 0; i < 120; i++)
        z[i] = (i % 12) * (i / 12);
    elbo_svg *fig = elbo_svg_new(3, 1);
    elbo_svg_title(fig, "A & B <test>");
    elbo_plot *p = elbo_svg_panel(fig, 0);
    elbo_plot_title(p, "lines");
    elbo_plot_xlabel(p, "x");
    elbo_plot_ylabel(p, "sin x");
    elbo_plot_fill(p, x, lo, hi, 50, 0, &(elbo_style){.label = "band"});
    elbo_plot_line(p, x, y, 50, &(elbo_style){.label = "sin", .dash = ELBO_DASH_DASHED});
    elbo_plot_scatter(p, x, hi, 50, &(elbo_style){.label = "pts", .marker = ELBO_MARKER_TRIANGLE, .alpha = 0.5});
    elbo_plot_hline(p, 0, NULL);
    elbo_plot_legend(p, ELBO_LEGEND_BOTTOM_LEFT);
    p = elbo_svg_panel(fig, 1);
    elbo_plot_logx(p, true);
    double k[5] = {1, 10, 100, 1000, 1e5}, v[5] = {1, 0.5, 0.25, 0.1, 0.01};
    elbo_plot_line(p, k, v, 5, NULL);
    elbo_plot_fill(p, k, NULL, v, 5, 0, NULL);
    p = elbo_svg_panel(fig, 2);
    elbo_plot_heatmap(p, z, 12, 10, -3, 3, -2, 2, 0, 0, "density");
    elbo_plot_equal_aspect(p, true);
    char *text = render(fig);
    cr_assert(strstr(text, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    cr_assert(strstr(text, "A &amp; B &lt;test&gt;"), "titles are escaped");
    cr_assert(strstr(text, "stroke-dasharray"));
    cr_assert(strstr(text, "fill-opacity=\"0.300\""), "fills are translucent by default");
    cr_assert(strstr(text, "data:image/png;base64,"), "heat map raster");
    cr_assert(strstr(text, ">density</text>"), "colour bar label");
    cr_assert(strstr(text, ">10<tspan"), "decades up to 10^5 as powers of ten");
    cr_assert(strstr(text, ">band</text>") && strstr(text, ">pts</text>"), "legend entries");
    int paths = 0;
    for (const char *s = text; (s = strstr(s, "<path d=\"M")); s++)
        paths++;
    cr_assert(paths >= 4, "the NaN splits the line in two: %d paths", paths);
    cr_assert(strstr(text, "</svg>\n"));
    free(text);
    char *dir = iu_tempdir();
    cr_assert_eq(elbo_svg_save(fig, iu_path(dir, "f.svg")), ELBO_OK);
    cr_assert_eq(iu_count_entries(dir), 1);
    iu_rmdir(dir);
    elbo_svg_free(fig);
}

Test(svg, short_log_axis_uses_plain_numbers)
{
    elbo_svg *fig = elbo_svg_new(1, 1);
    double k[4] = {1, 10, 100, 1000}, v[4] = {4, 3, 2, 1};
    elbo_plot *p = elbo_svg_panel(fig, 0);
    elbo_plot_logx(p, true);
    elbo_plot_line(p, k, v, 4, NULL);
    char *text = render(fig);
    cr_assert(strstr(text, ">1000</text>") && strstr(text, ">10</text>"));
    cr_assert_null(strstr(text, "<tspan"));
    free(text);
    elbo_svg_free(fig);
}

Test(svg, degenerate_data_still_renders)
{
    elbo_svg *fig = elbo_svg_new(2, 1);
    double x[1] = {5}, y[1] = {5};
    elbo_plot_scatter(elbo_svg_panel(fig, 0), x, y, 1, NULL); /* single point */
    /* panel 1 left empty */
    char *text = render(fig);
    cr_assert(strstr(text, "<circle"));
    free(text);
    elbo_svg_free(fig);
}

Test(svg, errors_are_sticky)
{
    elbo_svg *fig = elbo_svg_new(1, 1);
    cr_assert_null(elbo_svg_panel(fig, 3));
    elbo_plot_line(NULL, NULL, NULL, 0, NULL); /* no crash on a NULL panel */
    char *text;
    size_t len;
    cr_assert_eq(elbo_svg_render(fig, &text, &len), ELBO_ERR_INVALID);
    elbo_svg_free(fig);
    fig = elbo_svg_new(1, 1);
    elbo_plot_xlim(elbo_svg_panel(fig, 0), 2, 1);
    cr_assert_eq(elbo_svg_render(fig, &text, &len), ELBO_ERR_INVALID);
    elbo_svg_free(fig);
    cr_assert_null(elbo_svg_new(0, 1));
}
