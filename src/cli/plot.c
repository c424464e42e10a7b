/*
 * plot.c - see plot.h.
 */
#include "plot.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const graftColor black = {0, 0, 0}, grey = {200, 200, 200}, dark = {90, 90, 90};

graftColor graftPaletteColor(int i)
{
    static const graftColor p[] = {{31, 119, 180}, {214, 39, 40},  {44, 160, 44},
                                   {255, 127, 14}, {148, 103, 189}, {140, 86, 75}};
    return p[i % 6];
}

int graftCanvasInit(graftCanvas *c, int width, int height, graftColor bg)
{
    c->width = width;
    c->height = height;
    c->rgb = malloc((size_t)width * height * 3);
    if (!c->rgb) return -1;
    for (size_t i = 0; i < (size_t)width * height; i++) {
        c->rgb[3 * i] = bg.r;
        c->rgb[3 * i + 1] = bg.g;
        c->rgb[3 * i + 2] = bg.b;
    }
    return 0;
}

void graftCanvasDispose(graftCanvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
}

static void put(graftCanvas *c, int x, int y, graftColor col)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height) return;
    unsigned char *p = c->rgb + ((size_t)y * c->width + x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

void graftCanvasRect(graftCanvas *c, int x, int y, int w, int h, graftColor col)
{
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) put(c, i, j, col);
}

void graftCanvasLine(graftCanvas *c, int x0, int y0, int x1, int y1, graftColor col, int thick)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        graftCanvasRect(c, x0 - thick / 2, y0 - thick / 2, thick, thick, col);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

int graftTextWidth(const char *text, int scale) { return (int)strlen(text) * 6 * scale; }

void graftCanvasText(graftCanvas *c, int x, int y, const char *text, graftColor col, int scale)
{
    for (; *text; text++, x += 6 * scale) {
        const unsigned char *g = graftFontGlyph(*text);
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (g[r] & (0x10 >> b)) graftCanvasRect(c, x + b * scale, y + r * scale, scale, scale, col);
    }
}

/* Text rotated a quarter turn (reading upwards), for the y-axis label. */
static void text_up(graftCanvas *c, int x, int y_bottom, const char *text, graftColor col, int scale)
{
    int y = y_bottom;
    for (; *text; text++, y -= 6 * scale) {
        const unsigned char *g = graftFontGlyph(*text);
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (g[r] & (0x10 >> b))
                    graftCanvasRect(c, x + r * scale, y - b * scale, scale, scale, col);
    }
}

typedef struct png_failure {
    jmp_buf jump;
    char message[200];
} png_failure;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", msg);
    longjmp(f->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* All of libpng's jumps stay inside this function. */
static int write_png(FILE *fp, const graftCanvas *c, png_failure *f)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, f, on_png_error, on_png_warning);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(f->jump)) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)c->width, (png_uint_32)c->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->height; y++) png_write_row(png, c->rgb + (size_t)y * c->width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int graftCanvasSavePng(const graftCanvas *c, const char *path, char *why, size_t why_size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        snprintf(why, why_size, "cannot create %s", path);
        return -1;
    }
    png_failure f;
    f.message[0] = '\0';
    int st = write_png(fp, c, &f);
    if (fclose(fp) != 0 && st == 0) st = -1;
    if (st != 0) snprintf(why, why_size, "cannot write %s: %s", path, f.message[0] ? f.message : "write error");
    return st;
}

/* A "nice" tick step for a range: 1, 2 or 5 times a power of ten. */
static double tick_step(double range, int ticks)
{
    double raw = range / ticks, p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

int graftAxisTicks(double lo, double hi, int target, double *ticks, int max, double *step_out)
{
    if (step_out) *step_out = NAN;
    if (!(lo < hi) || !isfinite(hi - lo) || target < 1 || max < 1) return 0;
    double step = tick_step(hi - lo, target);
    if (!isfinite(step) || !(step > 0)) return 0;
    if (step_out) *step_out = step;
    /* Tick i is (k0 + i) * step, counted with an integer: adding a step
     * below the spacing of doubles at lo (1e17 + 0.5 == 1e17) would not
     * move; values that do not advance are left out. */
    double k0 = ceil(lo / step), limit = hi + step * 1e-6;
    int n = 0;
    for (int i = 0; i < 4 * max && n < max; i++) {
        double v = (k0 + i) * step;
        if (v > limit) break;
        if (v == 0) v = 0; /* no "-0" */
        if (n > 0 && !(v > ticks[n - 1])) continue;
        ticks[n++] = v;
    }
    return n;
}

void graftAxisRange(double *lo, double *hi)
{
    double a = *lo, b = *hi;
    if (!isfinite(a) || !isfinite(b) || a > b) {
        /* no finite data: a unit range */
        a = isfinite(a) ? a : isfinite(b) ? b : 0;
        b = a;
    }
    /* Keep the span representable and finite. */
    a = fmax(a, -0x1p1020);
    b = fmin(b, 0x1p1020);
    double mag = fmax(fabs(a), fabs(b));
    if (!(b - a > mag * 1e-6)) {
        /* One value, or values closer than the chart can show apart: a
         * range around them, +-1 for small values, +-10% for large ones. */
        double c = a / 2 + b / 2, half = fmax(1.0, fabs(c) * 0.1);
        a = c - half;
        b = c + half;
    }
    *lo = a;
    *hi = b;
}

/* The label of tick v on an axis whose ticks are step apart: as many digits
 * as tell neighbouring ticks apart, scientific (1.05E17) for large and tiny
 * values. */
void graftFormatTick(double v, double step, char *buf, size_t size)
{
    double av = fabs(v);
    if (!(step > 0) || !isfinite(step)) step = av > 0 ? av : 1;
    if (av >= 1e6 || (av > 0 && av < 1e-3)) {
        int digits = (int)(floor(log10(av)) - floor(log10(step)));
        digits = digits < 0 ? 0 : digits > 6 ? 6 : digits;
        char tmp[48], mant[40];
        snprintf(tmp, sizeof tmp, "%.*e", digits, v);
        char *e = strchr(tmp, 'e');
        if (!e) {
            snprintf(buf, size, "%s", tmp);
            return;
        }
        snprintf(mant, sizeof mant, "%.*s", (int)(e - tmp), tmp);
        if (strchr(mant, '.')) { /* 1.50 -> 1.5, 1.00 -> 1 */
            size_t n = strlen(mant);
            while (n > 0 && mant[n - 1] == '0') mant[--n] = '\0';
            if (n > 0 && mant[n - 1] == '.') mant[--n] = '\0';
        }
        int exp10 = atoi(e + 1);
        snprintf(buf, size, "%sE%d", mant, exp10);
    } else if (fabs(v - round(v)) <= step * 1e-6) {
        snprintf(buf, size, "%.0f", v == 0 ? 0.0 : v);
    } else {
        int decimals = (int)-floor(log10(step) + 1e-9);
        decimals = decimals < 1 ? 1 : decimals > 9 ? 9 : decimals;
        snprintf(buf, size, "%.*f", decimals, v);
    }
}

/* The pixel at fraction t of the way from a to b (t clamped near [0, 1]). */
static int lerp_px(double t, int a, int b)
{
    if (!(t >= -0.5)) t = -0.5; /* also NaN */
    if (t > 1.5) t = 1.5;
    return a + (int)(t * (b - a));
}

void graftPlotLines(graftCanvas *c, const char *title, const char *x_label, const char *y_label,
                    const graftSeries *s, int n, double y_min, double y_max, int log_x)
{
    int left = 70, right = c->width - 20, top = 40, bottom = c->height - 60;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < s[k].n; i++) {
            double xv = log_x ? log10(s[k].x[i]) : s[k].x[i];
            if (!isfinite(xv) || !isfinite(s[k].y[i])) continue;
            x0 = fmin(x0, xv);
            x1 = fmax(x1, xv);
            y0 = fmin(y0, s[k].y[i]);
            y1 = fmax(y1, s[k].y[i]);
        }
    if (y_min < y_max) {
        y0 = y_min;
        y1 = y_max;
    }
    graftAxisRange(&x0, &x1);
    graftAxisRange(&y0, &y1);
    graftCanvasText(c, (c->width - graftTextWidth(title, 2)) / 2, 10, title, black, 2);
    /* grid and ticks */
    double ticks[32], step;
    char buf[48];
    int nt = graftAxisTicks(y0, y1, 5, ticks, 32, &step);
    for (int i = 0; i < nt; i++) {
        int py = lerp_px((ticks[i] - y0) / (y1 - y0), bottom, top);
        graftCanvasLine(c, left, py, right, py, grey, 1);
        graftFormatTick(ticks[i], step, buf, sizeof buf);
        graftCanvasText(c, left - 6 - graftTextWidth(buf, 1), py - 3, buf, dark, 1);
    }
    if (log_x) {
        /* decades from floor(x0) to ceil(x1), with 1, 2 and 5 labelled */
        double first = floor(x0);
        for (int dec = 0; dec < 64 && first + dec <= x1; dec++) {
            double d = pow(10, first + dec);
            for (int m = 1; m <= 9; m++) {
                double v = log10(d * m);
                if (!isfinite(v) || v < x0 - 1e-9 || v > x1 + 1e-9) continue;
                int px = lerp_px((v - x0) / (x1 - x0), left, right);
                graftCanvasLine(c, px, top, px, bottom, grey, 1);
                if (m == 1 || m == 2 || m == 5) {
                    graftFormatTick(d * m, d * m, buf, sizeof buf);
                    graftCanvasText(c, px - graftTextWidth(buf, 1) / 2, bottom + 6, buf, dark, 1);
                }
            }
        }
    } else {
        nt = graftAxisTicks(x0, x1, 8, ticks, 32, &step);
        for (int i = 0; i < nt; i++) {
            int px = lerp_px((ticks[i] - x0) / (x1 - x0), left, right);
            graftCanvasLine(c, px, top, px, bottom, grey, 1);
            graftFormatTick(ticks[i], step, buf, sizeof buf);
            graftCanvasText(c, px - graftTextWidth(buf, 1) / 2, bottom + 6, buf, dark, 1);
        }
    }
    graftCanvasLine(c, left, bottom, right, bottom, black, 1);
    graftCanvasLine(c, left, top, left, bottom, black, 1);
    graftCanvasText(c, (left + right - graftTextWidth(x_label, 1)) / 2, bottom + 24, x_label, black, 1);
    text_up(c, 12, (top + bottom + graftTextWidth(y_label, 1)) / 2, y_label, black, 1);
    /* series */
    for (int k = 0; k < n; k++) {
        int have = 0, px0 = 0, py0 = 0;
        for (int i = 0; i < s[k].n; i++) {
            double xv = log_x ? log10(s[k].x[i]) : s[k].x[i], yv = s[k].y[i];
            if (!isfinite(xv) || !isfinite(yv)) {
                have = 0;
                continue;
            }
            yv = fmin(fmax(yv, y0), y1);
            int px = lerp_px((xv - x0) / (x1 - x0), left, right);
            int py = lerp_px((yv - y0) / (y1 - y0), bottom, top);
            if (have && (!s[k].dashed || i % 2)) graftCanvasLine(c, px0, py0, px, py, s[k].color, 2);
            graftCanvasRect(c, px - 2, py - 2, 5, 5, s[k].color);
            have = 1;
            px0 = px;
            py0 = py;
        }
    }
    /* legend, top right */
    int ly = top + 8, lw = 0;
    for (int k = 0; k < n; k++) {
        int w = graftTextWidth(s[k].label, 1);
        if (w > lw) lw = w;
    }
    int lx = right - lw - 34;
    graftCanvasRect(c, lx - 6, ly - 6, lw + 40, 14 * n + 8, (graftColor){255, 255, 255});
    for (int k = 0; k < n; k++, ly += 14) {
        graftCanvasRect(c, lx, ly + 2, 20, 3, s[k].color);
        graftCanvasText(c, lx + 26, ly, s[k].label, black, 1);
    }
}

void graftPlotConfusion(graftCanvas *c, const char *title, const int64_t *counts, int n,
                        const char *const *names)
{
    int label_w = 0;
    for (int i = 0; i < n; i++) {
        int w = graftTextWidth(names[i], 1);
        if (w > label_w) label_w = w;
    }
    int left = label_w + 90, top = 60;
    int cell = (c->width - left - 20) / (n > 0 ? n : 1);
    int ch = (c->height - top - label_w - 60) / (n > 0 ? n : 1);
    if (ch < cell) cell = ch;
    if (cell < 8) cell = 8;
    graftCanvasText(c, (c->width - graftTextWidth(title, 2)) / 2, 10, title, black, 2);
    graftCanvasText(c, left, top - 16, "PREDICTED", dark, 1);
    text_up(c, 10, top + n * cell, "TRUE CLASS", dark, 1);
    for (int t = 0; t < n; t++) {
        int64_t row = 0;
        for (int p = 0; p < n; p++) row += counts[(size_t)t * n + p];
        graftCanvasText(c, left - 8 - graftTextWidth(names[t], 1), top + t * cell + cell / 2 - 3,
                        names[t], black, 1);
        for (int p = 0; p < n; p++) {
            int64_t v = counts[(size_t)t * n + p];
            double f = row ? (double)v / (double)row : 0;
            graftColor col = {(unsigned char)(255 - 200 * f), (unsigned char)(255 - 150 * f), 255};
            graftCanvasRect(c, left + p * cell, top + t * cell, cell - 1, cell - 1, col);
            char buf[24];
            snprintf(buf, sizeof buf, "%lld", (long long)v);
            if (graftTextWidth(buf, 1) < cell - 2)
                graftCanvasText(c, left + p * cell + (cell - graftTextWidth(buf, 1)) / 2,
                                top + t * cell + cell / 2 - 3, buf, f > 0.6 ? (graftColor){255, 255, 255} : black, 1);
        }
    }
    for (int p = 0; p < n; p++)
        text_up(c, left + p * cell + cell / 2 - 3, top + n * cell + 8 + graftTextWidth(names[p], 1),
                names[p], black, 1);
}
