/*
 * folder_stream.c - streams a folder of generated images through one epoch
 * of a tiny model and prints the peak resident memory, to show that a
 * folder dataset keeps only file names and at most one decoded image per
 * decoding thread, however many files there are.
 *
 *   folder_stream [count] [side] [threads]   (defaults 2000 32 2)
 *
 * It writes count PNGs of side x side pixels (RGB, 10 classes) with libpng
 * under a fresh /tmp folder, creates the dataset (graft_dataset_from_folder),
 * reads every sample once in batches of 32 through graft_dataset_gather()
 * (decoding on the dataset's threads), fits a flatten + dense model for one
 * epoch (graft_model_fit), and prints VmHWM from /proc/self/status after
 * each step, then removes the folder.
 *
 * Built and run by `make bench`.
 */
#include "graft.h"

#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident set size in KiB (VmHWM), or -1. */
static long peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

static int write_png(const char *path, int side, unsigned seed, unsigned char *buf)
{
    for (int k = 0; k < side * side * 3; k++) {
        seed = seed * 1103515245u + 12345u;
        buf[k] = (unsigned char)(seed >> 16);
    }
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)side;
    im.height = (png_uint_32)side;
    im.format = PNG_FORMAT_RGB;
    return png_image_write_to_file(&im, path, 0, buf, 0, NULL) ? 0 : -1;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

#define CHECK(call)                                                                  \
    do {                                                                             \
        int st_ = (call);                                                            \
        if (st_ != GRAFT_OK) {                                                       \
            fprintf(stderr, "%s failed: %s\n", #call, graft_errmsg(ctx));            \
            status = 1;                                                              \
            goto done;                                                               \
        }                                                                            \
    } while (0)

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 2000;
    int side = argc > 2 ? atoi(argv[2]) : 32;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    if (count < 10 || side < 4 || side > 512 || threads < 1) {
        fprintf(stderr, "usage: folder_stream [count >= 10] [side 4..512] [threads >= 1]\n");
        return 2;
    }
    char root[] = "/tmp/graft-stream-XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    unsigned char *pixels = malloc((size_t)side * side * 3);
    char path[512];
    for (int c = 0; c < 10; c++) {
        snprintf(path, sizeof path, "%s/class%d", root, c);
        mkdir(path, 0755);
    }
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/class%d/img%05d.png", root, i % 10, i);
        if (write_png(path, side, (unsigned)i, pixels) != 0) {
            fprintf(stderr, "cannot write %s\n", path);
            rm_tree(root);
            return 1;
        }
    }
    free(pixels);

    int status = 0;
    graft_ctx *ctx = NULL;
    graft_dataset *ds = NULL;
    graft_model *m = NULL;
    graft_optim *opt = NULL;
    float *batch = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 1;
    printf("%d PNGs of %d x %d written; peak RSS %ld KiB\n", count, side, side, peak_kib());

    double t0 = now();
    graft_folder_opts fo = GRAFT_FOLDER_OPTS_INIT;
    fo.width = side;
    fo.height = side;
    fo.threads = threads;
    fo.augment = 1;
    CHECK(graft_dataset_from_folder(ctx, root, &fo, &ds));
    printf("dataset created in %.2f s (%lld samples, header check); peak RSS %ld KiB\n",
           now() - t0, (long long)graft_dataset_size(ds), peak_kib());

    const int bs = 32;
    const size_t numel = (size_t)3 * side * side;
    batch = malloc(bs * numel * sizeof *batch);
    int64_t pos[32];
    t0 = now();
    for (int64_t s = 0; s < count; s += bs) {
        int n = (int)(count - s < bs ? count - s : bs);
        for (int k = 0; k < n; k++) pos[k] = s + k;
        CHECK(graft_dataset_gather(ds, pos, n, batch, NULL));
    }
    double dt = now() - t0;
    printf("graft_dataset_gather, %d threads: %.0f images/s; peak RSS %ld KiB\n", threads,
           count / dt, peak_kib());

    const int64_t in[3] = {3, side, side};
    CHECK(graft_model_create(ctx, 3, in, 1, &m));
    graft_layer *l = NULL;
    graft_layer_flatten(ctx, &l);
    CHECK(graft_model_add(m, "flat", l, 0, NULL));
    graft_layer_dense(ctx, 10, 1, &l);
    CHECK(graft_model_add(m, "fc", l, 0, NULL));
    CHECK(graft_optim_create(ctx, GRAFT_OPTIM_SGD, &opt));
    graft_fit_opts fit = GRAFT_FIT_OPTS_INIT;
    fit.batch_size = bs;
    t0 = now();
    CHECK(graft_model_fit(m, opt, ds, NULL, &fit));
    dt = now() - t0;
    printf("one epoch of graft_model_fit: %.2f s (%.0f images/s); peak RSS %ld KiB\n", dt,
           count / dt, peak_kib());
    printf("(all %d samples decoded would take %.1f MiB as float32)\n", count,
           (double)count * numel * 4 / (1024.0 * 1024.0));

done:
    free(batch);
    graft_optim_free(opt);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
    rm_tree(root);
    return status;
}
