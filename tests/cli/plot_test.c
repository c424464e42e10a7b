/*
 * plot_test.c - the tool's line charts on values where a tick step is below
 * the spacing of doubles (diverged losses near 1e17): graftPlotLines() must
 * return, draw a few grid lines and keep its tick labels on the canvas.
 * Built and run by tests/cli_test.sh against src/cli/plot.c and font.c.
 * Exits 0 when every case passes; a hang is ended by alarm().
 */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int failures;

static int is(const graftCanvas *c, int x, int y, int r, int g, int b)
{
    const unsigned char *p = c->rgb + ((size_t)y * c->width + x) * 3;
    return p[0] == r && p[1] == g && p[2] == b;
}

/* Draws a loss chart of ys (epochs 1..n) and checks it. */
static void chart(const char *name, const double *ys, int n)
{
    double xs[16];
    for (int i = 0; i < n; i++) xs[i] = i + 1;
    graftCanvas c;
    if (graftCanvasInit(&c, 450, 420, (graftColor){255, 255, 255})) {
        printf("FAILED %s: no memory\n", name);
        failures++;
        return;
    }
    graftSeries s = {"training", xs, ys, n, graftPaletteColor(0), 0};
    alarm(10);
    graftPlotLines(&c, "LOSS", "EPOCH", "LOSS", &s, 1, 0, 0, 0);
    alarm(0);
    /* Horizontal grid lines (grey, 200) crossing the plot area: count them
     * in a column a quarter of the way across. */
    int left = 70, right = c.width - 20, top = 40, bottom = c.height - 60;
    int x = left + (right - left) / 4, grid = 0;
    for (int y = top; y <= bottom; y++) grid += is(&c, x, y, 200, 200, 200);
    /* Tick labels (dark grey, 90) right-aligned against the axis: none may
     * run off the left edge (a label too long to fit). */
    int off = 0;
    for (int y = 0; y < c.height; y++)
        for (int xx = 0; xx < 8; xx++) off += is(&c, xx, y, 90, 90, 90);
    if (grid < 2 || grid > 12 || off) {
        printf("FAILED %s: %d grid lines (want 2 to 12), %d label pixels off the left edge\n", name,
               grid, off);
        failures++;
    }
    graftCanvasDispose(&c);
}

int main(void)
{
    const double near[] = {1e17, 1e17 + 32, 1e17 + 64};  /* steps of 5 below the spacing, 16 */
    const double flat[] = {1e17, 1e17, 1e17};
    const double neg[] = {-3e17, -3e17 - 64, -3e17};
    const double diverged[] = {2.3, 1.9, 4e6, 1e17};     /* a real divergence */
    const double huge[] = {1e300, 1e300 * (1 + 4e-16), 1e300};
    const double tiny[] = {1e-300, 2e-300, 3e-300};
    const double mixed[] = {NAN, 1e17, INFINITY, 1e17 + 16};
    const double normal[] = {2.30, 1.10, 0.70, 0.52};
    chart("losses 1e17 apart by 32", near, 3);
    chart("a flat loss of 1e17", flat, 3);
    chart("negative values near -3e17", neg, 3);
    chart("a loss diverging to 1e17", diverged, 4);
    chart("values near 1e300", huge, 3);
    chart("values near 1e-300", tiny, 3);
    chart("1e17 among NaN and infinity", mixed, 4);
    chart("ordinary losses", normal, 4);
    printf("%s\n", failures ? "plot_test: FAILED" : "plot_test: ok");
    return failures != 0;
}
