/*
 * plot.h - small raster charts written as PNG: line charts with axes and a
 * legend, a confusion matrix, and a grid of labelled images. Used by the
 * graft command-line tool; not part of the library.
 */
#ifndef GRAFT_PLOT_H
#define GRAFT_PLOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct graftCanvas {
    int width, height;
    unsigned char *rgb; /* width * height * 3 */
} graftCanvas;

typedef struct graftColor {
    unsigned char r, g, b;
} graftColor;

/* The glyph of c: 7 rows of 5 bits (bit 4 leftmost). */
const unsigned char *graftFontGlyph(char c);

int graftCanvasInit(graftCanvas *c, int width, int height, graftColor background);
void graftCanvasDispose(graftCanvas *c);
void graftCanvasRect(graftCanvas *c, int x, int y, int w, int h, graftColor color);
void graftCanvasLine(graftCanvas *c, int x0, int y0, int x1, int y1, graftColor color, int thick);
/* Text at (x, y) (top-left), each font pixel drawn as scale x scale. */
void graftCanvasText(graftCanvas *c, int x, int y, const char *text, graftColor color, int scale);
int graftTextWidth(const char *text, int scale);
/* Writes the canvas as an 8-bit RGB PNG; returns 0 or -1 with errno-like text in why. */
int graftCanvasSavePng(const graftCanvas *c, const char *path, char *why, size_t why_size);

/* One line of a chart. */
typedef struct graftSeries {
    const char *label;
    const double *x, *y;
    int n;
    graftColor color;
    int dashed;
} graftSeries;

/* Axis helpers used by graftPlotLines(), exposed for tests.
 * graftAxisRange() turns the data's [*lo, *hi] into a drawable range: a span
 * the chart can show (one value, or values too close together for doubles
 * to tell apart at their magnitude, get +-1 or +-10% around them; no data
 * gives [-1, 1]). graftAxisTicks() writes at most max tick values, the
 * multiples of a round step (1, 2 or 5 times a power of ten; *step, may be
 * NULL) in [lo, hi] giving about target ticks, increasing; it returns how
 * many (0 for a range with no room for ticks) and always terminates.
 * graftFormatTick() writes tick v's label for ticks step apart. */
void graftAxisRange(double *lo, double *hi);
int graftAxisTicks(double lo, double hi, int target, double *ticks, int max, double *step);
void graftFormatTick(double v, double step, char *buf, size_t size);

/* Draws a line chart filling the canvas: title, axis labels, ticks, legend.
 * y_min/y_max fix the y range when y_min < y_max; otherwise it fits the data. */
void graftPlotLines(graftCanvas *c, const char *title, const char *x_label, const char *y_label,
                    const graftSeries *series, int n_series, double y_min, double y_max, int log_x);

/* Draws a confusion matrix (counts[t * n + p]) with class names. */
void graftPlotConfusion(graftCanvas *c, const char *title, const int64_t *counts, int n,
                        const char *const *names);

/* The palette used for series, by index. */
graftColor graftPaletteColor(int i);

#endif
