/*
 * dataset_folder.c - datasets of image files laid out as
 * root/<class name>/<image file>, decoded when samples are read.
 *
 * Creation lists the class folders and their image files (sorted in byte
 * order), checks each file (its header, or a full decode), and keeps only
 * the paths and labels. Reading a batch hands its samples to a small pool
 * of threads owned by the source; each decodes, transforms and writes one
 * sample at a time straight into the caller's batch buffer, so at most one
 * decoded image per thread exists at any moment. Every sample's result
 * depends only on its file, the options, and for augmentation on (seed,
 * epoch, source index), never on which thread did it or in which order.
 *
 * The image functions record errors in the context they are given, and a
 * context may be used by one thread at a time, so each thread has its own
 * context whose allocator forwards to the dataset context's allocator under
 * a mutex (the caller's hooks need not be thread-safe). The calling thread
 * waits while the pool works, so it never allocates concurrently with it.
 */
#include "dataset.h"
#include "core/options.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/crc32.h"

#define MAX_THREADS 64

typedef struct folder_source folder_source;

typedef struct folder_worker {
    pthread_t thread;
    int started;
    graft_ctx *ctx; /* this thread's context */
    folder_source *fs;
} folder_worker;

struct folder_source {
    graft_ctx *ctx; /* the dataset's context */
    graft_folder_opts o; /* its augment_spec is NULL: the spec is copied below */
    int has_spec;
    graft_augment_spec spec; /* opts->augment_spec, read and checked */
    int shorter_side; /* resolved */
    size_t numel;     /* channels * height * width */
    int n_classes;
    char **class_names;
    int64_t count;
    char **paths;
    int32_t *labels;
    int64_t n_skipped;
    char **skipped_paths, **skipped_reasons;
    int64_t epoch;

    /* Reading on the calling thread. */
    graft_ctx *main_ctx;

    /* The pool (threads > 1). */
    int n_workers;
    folder_worker *workers;
    pthread_mutex_t alloc_lock; /* serialises the forwarding allocator */
    pthread_mutex_t lock;       /* guards the job fields below */
    pthread_cond_t work_cv, done_cv;
    int locks_ready;
    int shutdown;
    const int64_t *job_map, *job_order;
    float *job_x;
    int job_n, job_next, job_done;
    int err_k, err_status;
    char err_msg[GRAFT_ERRMSG_SIZE];
};

/* ---- the forwarding allocator ------------------------------------------------ */

static void *locked_alloc(void *opaque, size_t size)
{
    folder_source *fs = opaque;
    pthread_mutex_lock(&fs->alloc_lock);
    void *p = graftAlloc(fs->ctx, size);
    pthread_mutex_unlock(&fs->alloc_lock);
    return p;
}

static void locked_free(void *opaque, void *ptr)
{
    folder_source *fs = opaque;
    pthread_mutex_lock(&fs->alloc_lock);
    graftFree(fs->ctx, ptr);
    pthread_mutex_unlock(&fs->alloc_lock);
}

static int forwarding_ctx(folder_source *fs, graft_ctx **out)
{
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = locked_alloc;
    a.free = locked_free;
    a.opaque = fs;
    int st = graft_ctx_create_advanced(&a, out);
    if (st == GRAFT_OK) (*out)->use_blas = fs->ctx->use_blas;
    return st;
}

/* ---- one sample ------------------------------------------------------------ */

/* The augmentation seed of source sample i in epoch e (documented in the
 * header; fixed). */
static uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t i)
{
    graftRng r;
    graftRngSeed(&r, seed ^ (0x9E3779B97F4A7C15ull * ((uint64_t)epoch + 1)));
    uint64_t s1 = graftRngNext(&r);
    graftRngSeed(&r, s1 ^ (0xC2B2AE3D27D4EB4Full * ((uint64_t)i + 1)));
    return graftRngNext(&r);
}

/* The message of ctx without its leading "function(): ". */
static const char *cause_of(const graft_ctx *ctx)
{
    const char *m = graft_errmsg(ctx);
    const char *p = strstr(m, "(): ");
    return p && p - m < 48 ? p + 4 : m;
}

/* Resizes a decoded image as opts->resize says, without augmentation. */
static int resize_plain(folder_source *fs, graft_image *img)
{
    const graft_folder_opts *o = &fs->o;
    if (o->resize == GRAFT_FOLDER_RESIZE_STRETCH)
        return graft_image_resize(img, o->width, o->height);
    if (o->resize == GRAFT_FOLDER_RESIZE_LETTERBOX)
        return graft_image_letterbox(img, o->width, o->height, o->fill);
    GRAFT_FORWARD_IF_ERROR(graft_image_resize_shorter(img, fs->shorter_side));
    return graft_image_center_crop(img, o->width, o->height);
}

/* Transforms a decoded image as the options say. */
static int transform(folder_source *fs, graft_image *img, int64_t idx, int64_t epoch)
{
    const graft_folder_opts *o = &fs->o;
    if (o->augment && fs->has_spec) {
        graft_augment_spec a = fs->spec;
        a.seed = sample_seed(o->seed, epoch, idx);
        if (a.crop_width == 0) GRAFT_FORWARD_IF_ERROR(resize_plain(fs, img));
        GRAFT_FORWARD_IF_ERROR(graft_image_augment(img, &a));
    } else if (o->augment) {
        graft_augment_spec a = GRAFT_AUGMENT_SPEC_INIT;
        a.seed = sample_seed(o->seed, epoch, idx);
        a.crop_width = o->width;
        a.crop_height = o->height;
        a.scale_min = o->crop_scale_min;
        a.scale_max = o->crop_scale_max;
        a.ratio_min = o->crop_ratio_min;
        a.ratio_max = o->crop_ratio_max;
        a.flip_prob = o->flip_prob;
        a.brightness = o->brightness;
        a.contrast = o->contrast;
        GRAFT_FORWARD_IF_ERROR(graft_image_augment(img, &a));
    } else {
        GRAFT_FORWARD_IF_ERROR(resize_plain(fs, img));
    }
    switch (o->normalize) {
    case GRAFT_FOLDER_NORM_IMAGENET: return graft_image_normalize_imagenet(img);
    case GRAFT_FOLDER_NORM_MEAN_STD: return graft_image_normalize(img, o->mean, o->std);
    default: return o->scale == 1.0f ? GRAFT_OK : graft_image_scale(img, o->scale);
    }
}

/* Decodes and transforms source sample idx into dst (numel floats; NULL:
 * decode and transform only). On failure writes "sample i: <why>" to msg. */
static int load_sample(folder_source *fs, graft_ctx *ctx, int64_t idx, int64_t epoch,
                       float *dst, char *msg, size_t msg_size)
{
    graft_image_load_opts lo = GRAFT_IMAGE_LOAD_OPTS_INIT;
    lo.channels = fs->o.channels;
    graft_image *img = NULL;
    int st = graft_image_load(ctx, fs->paths[idx], &lo, &img);
    if (st != GRAFT_OK) {
        /* graft_image_load's cause already names the file. */
        snprintf(msg, msg_size, "cannot read sample %lld (class '%s'): %s", (long long)idx,
                 fs->class_names[fs->labels[idx]], cause_of(ctx));
        return st;
    }
    st = transform(fs, img, idx, epoch);
    if (st == GRAFT_OK && dst) st = graft_image_export(img, 0, dst, fs->numel);
    if (st != GRAFT_OK)
        snprintf(msg, msg_size, "cannot transform sample %lld (class '%s', '%s'): %s",
                 (long long)idx, fs->class_names[fs->labels[idx]], fs->paths[idx],
                 cause_of(ctx));
    graft_image_free(img);
    return st;
}

/* ---- the pool ------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    folder_worker *w = arg;
    folder_source *fs = w->fs;
    char msg[GRAFT_ERRMSG_SIZE];
    pthread_mutex_lock(&fs->lock);
    for (;;) {
        while (!fs->shutdown && fs->job_next >= fs->job_n)
            pthread_cond_wait(&fs->work_cv, &fs->lock);
        if (fs->shutdown) break;
        int k = fs->job_next++;
        int64_t pos = fs->job_order[k];
        int64_t idx = fs->job_map ? fs->job_map[pos] : pos;
        int64_t epoch = fs->epoch;
        float *dst = fs->job_x + (size_t)k * fs->numel;
        pthread_mutex_unlock(&fs->lock);
        int st = load_sample(fs, w->ctx, idx, epoch, dst, msg, sizeof msg);
        pthread_mutex_lock(&fs->lock);
        if (st != GRAFT_OK && (fs->err_k < 0 || k < fs->err_k)) {
            fs->err_k = k;
            fs->err_status = st;
            memcpy(fs->err_msg, msg, sizeof msg);
        }
        if (++fs->job_done == fs->job_n) pthread_cond_signal(&fs->done_cv);
    }
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

static void pool_stop(folder_source *fs)
{
    if (!fs->workers) return;
    pthread_mutex_lock(&fs->lock);
    fs->shutdown = 1;
    pthread_cond_broadcast(&fs->work_cv);
    pthread_mutex_unlock(&fs->lock);
    for (int t = 0; t < fs->n_workers; t++) {
        if (fs->workers[t].started) pthread_join(fs->workers[t].thread, NULL);
        graft_ctx_free(fs->workers[t].ctx);
    }
    graftFree(fs->ctx, fs->workers);
    fs->workers = NULL;
}

static int pool_start(folder_source *fs, int threads, const char *func)
{
    graft_ctx *ctx = fs->ctx;
    fs->workers = graftCalloc(ctx, (size_t)threads, sizeof *fs->workers);
    GRAFT_RETURN_IF_AT(!fs->workers, ctx, GRAFT_E_NOMEM, func, "cannot allocate %d threads",
                       threads);
    fs->n_workers = threads;
    for (int t = 0; t < threads; t++) {
        folder_worker *w = &fs->workers[t];
        w->fs = fs;
        if (forwarding_ctx(fs, &w->ctx) != GRAFT_OK)
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a thread's context");
        int err = pthread_create(&w->thread, NULL, worker_main, w);
        GRAFT_RETURN_IF_AT(err != 0, ctx, GRAFT_E_NOMEM, func,
                           "cannot start decoding thread %d of %d: %s", t + 1, threads,
                           strerror(err));
        w->started = 1;
    }
    return GRAFT_OK;
}

/* Reads samples map[order[k]] (order[k] without a map) for k < n. */
static int folder_read(folder_source *fs, const int64_t *map, const int64_t *order, int n,
                       float *x, int32_t *labels, const char *func)
{
    for (int k = 0; k < n && labels; k++) labels[k] = fs->labels[map ? map[order[k]] : order[k]];
    if (!x || n == 0) return GRAFT_OK;
    if (!fs->workers || n == 1) {
        char msg[GRAFT_ERRMSG_SIZE];
        for (int k = 0; k < n; k++) {
            int64_t idx = map ? map[order[k]] : order[k];
            int st = load_sample(fs, fs->main_ctx, idx, fs->epoch, x + (size_t)k * fs->numel,
                                 msg, sizeof msg);
            if (st != GRAFT_OK) return graftError(fs->ctx, st, func, "%s", msg);
        }
        return GRAFT_OK;
    }
    pthread_mutex_lock(&fs->lock);
    fs->job_map = map;
    fs->job_order = order;
    fs->job_x = x;
    fs->job_next = 0;
    fs->job_done = 0;
    fs->err_k = -1;
    fs->job_n = n;
    pthread_cond_broadcast(&fs->work_cv);
    while (fs->job_done < fs->job_n) pthread_cond_wait(&fs->done_cv, &fs->lock);
    fs->job_n = 0;
    fs->job_next = 0;
    int err_k = fs->err_k, st = fs->err_status;
    pthread_mutex_unlock(&fs->lock);
    if (err_k >= 0) return graftError(fs->ctx, st, func, "%s", fs->err_msg);
    return GRAFT_OK;
}

/* ---- the source ----------------------------------------------------------------- */

static int folder_get(graftSource *src, int64_t i, float *features, int32_t *label)
{
    return folder_read(src->impl, NULL, &i, 1, features, label, "graft_dataset_get");
}

static void free_strings(graft_ctx *ctx, char **s, int64_t n)
{
    if (!s) return;
    for (int64_t k = 0; k < n; k++) graftFree(ctx, s[k]);
    graftFree(ctx, s);
}

static void folder_free(folder_source *fs)
{
    graft_ctx *ctx = fs->ctx;
    pool_stop(fs);
    graft_ctx_free(fs->main_ctx);
    if (fs->locks_ready) {
        pthread_mutex_destroy(&fs->alloc_lock);
        pthread_mutex_destroy(&fs->lock);
        pthread_cond_destroy(&fs->work_cv);
        pthread_cond_destroy(&fs->done_cv);
    }
    free_strings(ctx, fs->class_names, fs->n_classes);
    free_strings(ctx, fs->paths, fs->count);
    free_strings(ctx, fs->skipped_paths, fs->n_skipped);
    free_strings(ctx, fs->skipped_reasons, fs->n_skipped);
    graftFree(ctx, fs->labels);
    graftFree(ctx, fs);
}

static void folder_destroy(graftSource *src)
{
    if (src->impl) folder_free(src->impl);
    src->impl = NULL;
}

static const graftSourceVtbl folder_vtbl = {
    .get = folder_get,
    .destroy = folder_destroy,
};

static folder_source *folder_of(const graft_dataset *ds)
{
    return ds && ds->src->vtbl == &folder_vtbl ? ds->src->impl : NULL;
}

/* ---- header checks ------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the PNG signature and IHDR chunk at the start of head (n bytes). */
static int check_png(const unsigned char *head, size_t n, char *why, size_t size)
{
    if (n < 33) {
        snprintf(why, size, "PNG header: truncated (%zu bytes)", n);
        return GRAFT_E_FORMAT;
    }
    if (be32(head + 8) != 13 || memcmp(head + 12, "IHDR", 4) != 0) {
        snprintf(why, size, "PNG header: the first chunk is not a 13-byte IHDR");
        return GRAFT_E_FORMAT;
    }
    if (graftCrc32(0, head + 12, 17) != be32(head + 29)) {
        snprintf(why, size, "PNG header: bad CRC");
        return GRAFT_E_FORMAT;
    }
    uint32_t w = be32(head + 16), h = be32(head + 20);
    int depth = head[24], type = head[25];
    if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu) {
        snprintf(why, size, "PNG header: bad size %lu x %lu", (unsigned long)w,
                 (unsigned long)h);
        return GRAFT_E_FORMAT;
    }
    int ok;
    switch (type) {
    case 0: ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16; break;
    case 3: ok = depth == 1 || depth == 2 || depth == 4 || depth == 8; break;
    case 2: case 4: case 6: ok = depth == 8 || depth == 16; break;
    default: ok = 0;
    }
    if (!ok || head[26] != 0 || head[27] != 0 || head[28] > 1) {
        snprintf(why, size, "PNG header: invalid colour type %d, bit depth %d or method", type,
                 depth);
        return GRAFT_E_FORMAT;
    }
    if ((uint64_t)w * h > (uint64_t)GRAFT_IMAGE_MAX_PIXELS) {
        snprintf(why, size, "image too large (%lu x %lu pixels)", (unsigned long)w,
                 (unsigned long)h);
        return GRAFT_E_FORMAT;
    }
    return GRAFT_OK;
}

/* Walks the JPEG markers of f up to the frame header (SOFn) and checks it. */
static int check_jpeg(FILE *f, char *why, size_t size)
{
    if (fseek(f, 2, SEEK_SET) != 0) goto truncated;
    for (;;) {
        int c = fgetc(f);
        if (c == EOF) goto truncated;
        if (c != 0xFF) {
            snprintf(why, size, "JPEG header: a marker was expected, found byte 0x%02x", c);
            return GRAFT_E_FORMAT;
        }
        int m;
        do m = fgetc(f);
        while (m == 0xFF);
        if (m == EOF) goto truncated;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* no length */
        if (m == 0xD8 || m == 0xD9 || m == 0xDA || m == 0x00) {
            snprintf(why, size, "JPEG header: marker 0x%02x before the frame header", m);
            return GRAFT_E_FORMAT;
        }
        unsigned char len_bytes[2];
        if (fread(len_bytes, 1, 2, f) != 2) goto truncated;
        long len = (long)len_bytes[0] << 8 | len_bytes[1];
        if (len < 2) {
            snprintf(why, size, "JPEG header: segment 0x%02x has length %ld", m, len);
            return GRAFT_E_FORMAT;
        }
        int sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (!sof) {
            if (fseek(f, len - 2, SEEK_CUR) != 0) goto truncated;
            continue;
        }
        unsigned char fr[6];
        if (len < 8 || fread(fr, 1, 6, f) != 6) goto truncated;
        int precision = fr[0], h = fr[1] << 8 | fr[2], w = fr[3] << 8 | fr[4], comps = fr[5];
        if (m != 0xC0 && m != 0xC1 && m != 0xC2 && m != 0xC9 && m != 0xCA) {
            snprintf(why, size, "JPEG header: unsupported coding process (marker 0x%02x)", m);
            return GRAFT_E_UNSUPPORTED;
        }
        if (precision != 8) {
            snprintf(why, size, "JPEG header: unsupported sample precision %d", precision);
            return GRAFT_E_UNSUPPORTED;
        }
        if (w == 0 || h == 0) {
            snprintf(why, size, "JPEG header: bad size %d x %d", w, h);
            return GRAFT_E_FORMAT;
        }
        if (comps != 1 && comps != 3 && comps != 4) {
            snprintf(why, size, "JPEG header: unsupported number of components %d", comps);
            return GRAFT_E_UNSUPPORTED;
        }
        return GRAFT_OK;
    }
truncated:
    snprintf(why, size, "JPEG header: truncated before the frame header");
    return GRAFT_E_FORMAT;
}

/* Checks the file's header. Returns GRAFT_OK or a status with why filled. */
static int check_header(const char *path, char *why, size_t size)
{
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, size, "cannot open: %s", strerror(errno ? errno : ENOENT));
        return GRAFT_E_IO;
    }
    unsigned char head[33];
    size_t n = fread(head, 1, sizeof head, f);
    int st;
    if (ferror(f)) {
        snprintf(why, size, "cannot read: %s", strerror(errno ? errno : EIO));
        st = GRAFT_E_IO;
    } else if (n == 0) {
        snprintf(why, size, "empty file");
        st = GRAFT_E_FORMAT;
    } else {
        switch (graft_image_format(head, n)) {
        case GRAFT_IMAGE_FORMAT_PNG: st = check_png(head, n, why, size); break;
        case GRAFT_IMAGE_FORMAT_JPEG: st = check_jpeg(f, why, size); break;
        default:
            snprintf(why, size, "not a PNG or JPEG file");
            st = GRAFT_E_FORMAT;
        }
    }
    fclose(f);
    return st;
}

/* ---- scanning ------------------------------------------------------------------- */

/* A growable array of owned strings. */
typedef struct str_list {
    char **items;
    int64_t n, cap;
} str_list;

static int list_push(graft_ctx *ctx, str_list *l, char *s)
{
    if (!s) return GRAFT_E_NOMEM;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        char **p = graftAlloc(ctx, (size_t)cap * sizeof *p);
        if (!p) {
            graftFree(ctx, s);
            return GRAFT_E_NOMEM;
        }
        if (l->n) memcpy(p, l->items, (size_t)l->n * sizeof *p);
        graftFree(ctx, l->items);
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return GRAFT_OK;
}

static void list_free(graft_ctx *ctx, str_list *l)
{
    free_strings(ctx, l->items, l->n);
    memset(l, 0, sizeof *l);
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(graft_ctx *ctx, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    int slash = na > 0 && a[na - 1] != '/';
    char *p = graftAlloc(ctx, na + slash + nb + 1);
    if (!p) return NULL;
    memcpy(p, a, na);
    if (slash) p[na] = '/';
    memcpy(p + na + slash, b, nb + 1);
    return p;
}

static int has_image_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    return strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
           strcasecmp(dot, ".jpeg") == 0;
}

/* Lists the names in folder that are not hidden and for which keep(path)
 * holds (want_dirs: folders; else regular files with an image extension),
 * sorted. */
static int list_folder(graft_ctx *ctx, const char *func, const char *folder, int want_dirs,
                       str_list *out)
{
    errno = 0;
    DIR *d = opendir(folder);
    GRAFT_RETURN_IF_AT(!d, ctx, GRAFT_E_IO, func, "cannot list folder '%s': %s", folder,
                       strerror(errno ? errno : ENOENT));
    int st = GRAFT_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                st = graftError(ctx, GRAFT_E_IO, func, "cannot list folder '%s': %s", folder,
                                strerror(errno));
            break;
        }
        if (e->d_name[0] == '.') continue;
        if (!want_dirs && !has_image_extension(e->d_name)) continue;
        char *path = join(ctx, folder, e->d_name);
        if (!path) {
            st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a path");
            break;
        }
        struct stat sb;
        int keep = stat(path, &sb) == 0 &&
                   (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        graftFree(ctx, path);
        if (!keep) continue;
        if (list_push(ctx, out, graftStrdup(ctx, e->d_name)) != GRAFT_OK) {
            st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a file name");
            break;
        }
    }
    closedir(d);
    if (st == GRAFT_OK && out->n > 1) qsort(out->items, (size_t)out->n, sizeof *out->items,
                                            compare_str);
    return st;
}

/* Checks one file as the options say; fills why on failure. */
static int verify_file(folder_source *fs, const char *path, char *why, size_t size)
{
    int st = check_header(path, why, size);
    if (st != GRAFT_OK || fs->o.verify != GRAFT_FOLDER_VERIFY_DECODE) return st;
    graft_image_load_opts lo = GRAFT_IMAGE_LOAD_OPTS_INIT;
    lo.channels = fs->o.channels;
    graft_image *img = NULL;
    st = graft_image_load(fs->main_ctx, path, &lo, &img);
    if (st == GRAFT_OK) st = transform(fs, img, 0, 0);
    if (st != GRAFT_OK) {
        const char *cause = cause_of(fs->main_ctx);
        /* graft_image_load's cause starts with the path; drop it. */
        size_t np = strlen(path);
        if (strncmp(cause, path, np) == 0 && strncmp(cause + np, ": ", 2) == 0)
            cause += np + 2;
        snprintf(why, size, "%s", cause);
    }
    graft_image_free(img);
    return st;
}

/* Lists classes and files under root into fs. */
static int scan(folder_source *fs, const char *root, const char *func)
{
    graft_ctx *ctx = fs->ctx;
    str_list classes = {0}, paths = {0}, skipped = {0}, reasons = {0}, files = {0};
    int32_t *labels = NULL;
    int64_t cap = 0;
    int st = list_folder(ctx, func, root, 1, &classes);
    if (st == GRAFT_OK && classes.n == 0)
        st = graftError(ctx, GRAFT_E_NOT_FOUND, func,
                        "'%s' has no class folders (expected root/<class>/<image>)", root);
    if (st == GRAFT_OK && classes.n > 0x7fffffff)
        st = graftError(ctx, GRAFT_E_RANGE, func, "'%s' has too many class folders", root);
    for (int64_t c = 0; st == GRAFT_OK && c < classes.n; c++) {
        char *folder = join(ctx, root, classes.items[c]);
        if (!folder) {
            st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a path");
            break;
        }
        st = list_folder(ctx, func, folder, 0, &files);
        for (int64_t k = 0; st == GRAFT_OK && k < files.n; k++) {
            char *path = join(ctx, folder, files.items[k]);
            if (!path) {
                st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a path");
                break;
            }
            char why[256];
            int vs = verify_file(fs, path, why, sizeof why);
            if (vs == GRAFT_E_NOMEM) {
                graftFree(ctx, path);
                st = graftError(ctx, GRAFT_E_NOMEM, func, "out of memory checking '%s'",
                                files.items[k]);
                break;
            }
            if (vs != GRAFT_OK && fs->o.on_error == GRAFT_FOLDER_ON_ERROR_FAIL) {
                st = graftError(ctx, vs, func, "'%s': %s", path, why);
                graftFree(ctx, path);
                break;
            }
            if (vs != GRAFT_OK) {
                if (list_push(ctx, &skipped, path) != GRAFT_OK ||
                    list_push(ctx, &reasons, graftStrdup(ctx, why)) != GRAFT_OK)
                    st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a file name");
                continue;
            }
            if (paths.n == cap) {
                int64_t ncap = cap ? 2 * cap : 64;
                int32_t *p = graftAlloc(ctx, (size_t)ncap * sizeof *p);
                if (!p) {
                    graftFree(ctx, path);
                    st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate labels");
                    break;
                }
                if (paths.n) memcpy(p, labels, (size_t)paths.n * sizeof *p);
                graftFree(ctx, labels);
                labels = p;
                cap = ncap;
            }
            labels[paths.n] = (int32_t)c;
            if (list_push(ctx, &paths, path) != GRAFT_OK)
                st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a file name");
        }
        graftFree(ctx, folder);
        list_free(ctx, &files);
    }
    if (st == GRAFT_OK && paths.n == 0)
        st = graftError(ctx, GRAFT_E_NOT_FOUND, func,
                        "no readable .png, .jpg or .jpeg file in the %lld class folders of '%s'"
                        " (%lld skipped)", (long long)classes.n, root, (long long)skipped.n);
    if (st != GRAFT_OK) {
        list_free(ctx, &classes);
        list_free(ctx, &paths);
        list_free(ctx, &skipped);
        list_free(ctx, &reasons);
        graftFree(ctx, labels);
        return st;
    }
    fs->class_names = classes.items;
    fs->n_classes = (int)classes.n;
    fs->paths = paths.items;
    fs->count = paths.n;
    fs->labels = labels;
    fs->skipped_paths = skipped.items;
    fs->skipped_reasons = reasons.items;
    fs->n_skipped = skipped.n;
    return GRAFT_OK;
}

/* ---- creation ------------------------------------------------------------------- */

static int in01(float v) { return v >= 0.0f && v <= 1.0f; }

static int check_opts(graft_ctx *ctx, const graft_folder_opts *o, const char *func)
{
    GRAFT_RETURN_IF_AT(o->channels != 1 && o->channels != 3, ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->channels is %d, must be 1 or 3", o->channels);
    GRAFT_RETURN_IF_AT(o->width < 1 || o->width > 65535 || o->height < 1 || o->height > 65535,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->width and opts->height are %d and %d, must be 1 to 65535",
                       o->width, o->height);
    GRAFT_RETURN_IF_AT((int64_t)o->width * o->height > GRAFT_IMAGE_MAX_PIXELS, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "opts->width * opts->height is above GRAFT_IMAGE_MAX_PIXELS");
    GRAFT_RETURN_IF_AT(o->resize != GRAFT_FOLDER_RESIZE_SHORTER_CROP &&
                           o->resize != GRAFT_FOLDER_RESIZE_STRETCH &&
                           o->resize != GRAFT_FOLDER_RESIZE_LETTERBOX,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->resize is %d, must be a GRAFT_FOLDER_RESIZE_* value", o->resize);
    int longer = o->width > o->height ? o->width : o->height;
    GRAFT_RETURN_IF_AT(o->shorter_side != 0 &&
                           (o->shorter_side < longer || o->shorter_side > 65535),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->shorter_side is %d, must be 0 or %d (max(width, height)) to "
                       "65535", o->shorter_side, longer);
    GRAFT_RETURN_IF_AT(o->normalize != GRAFT_FOLDER_NORM_SCALE &&
                           o->normalize != GRAFT_FOLDER_NORM_IMAGENET &&
                           o->normalize != GRAFT_FOLDER_NORM_MEAN_STD,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->normalize is %d, must be a GRAFT_FOLDER_NORM_* value",
                       o->normalize);
    GRAFT_RETURN_IF_AT(o->normalize == GRAFT_FOLDER_NORM_IMAGENET && o->channels != 3, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "opts->normalize GRAFT_FOLDER_NORM_IMAGENET needs opts->channels 3");
    GRAFT_RETURN_IF_AT(!isfinite(o->scale) || o->scale == 0.0f, ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->scale is %g, must be finite and not 0", (double)o->scale);
    if (o->normalize == GRAFT_FOLDER_NORM_MEAN_STD)
        for (int c = 0; c < o->channels; c++)
            GRAFT_RETURN_IF_AT(!isfinite(o->mean[c]) || !isfinite(o->std[c]) ||
                                   !(o->std[c] > 0.0f),
                               ctx, GRAFT_E_INVALID_ARG, func,
                               "opts->mean[%d] and opts->std[%d] are %g and %g; must be finite, "
                               "std > 0", c, c, (double)o->mean[c], (double)o->std[c]);
    /* Pixels reach normalisation in [0, 1] (decoding, resizing and the
     * jitter keep them there, up to a rounding), and (v - mean) / std, in
     * float as graft_image_normalize() computes it, is monotonic in v:
     * finite at both ends of [0, 1], widened by 1/1024 for those roundings,
     * means finite for every sample. */
    if (o->normalize == GRAFT_FOLDER_NORM_MEAN_STD)
        for (int c = 0; c < o->channels; c++) {
            const float at0 = (-1.0f / 1024 - o->mean[c]) / o->std[c];
            const float at1 = (1.0f + 1.0f / 1024 - o->mean[c]) / o->std[c];
            GRAFT_RETURN_IF_AT(!isfinite(at0) || !isfinite(at1), ctx, GRAFT_E_INVALID_ARG, func,
                               "opts->mean[%d] and opts->std[%d] are %g and %g: (v - mean) / std "
                               "overflows float for pixel values v in [0, 1] (it reaches %g); "
                               "std must be larger",
                               c, c, (double)o->mean[c], (double)o->std[c],
                               (double)(isfinite(at0) ? at1 : at0));
        }
    GRAFT_RETURN_IF_AT(o->augment != 0 && o->augment != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->augment is %d, must be 0 or 1", o->augment);
    GRAFT_RETURN_IF_AT(!(o->crop_scale_min > 0.0f && o->crop_scale_min <= o->crop_scale_max &&
                         o->crop_scale_max <= 1.0f),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->crop_scale_min and _max are %g and %g, must satisfy "
                       "0 < min <= max <= 1", (double)o->crop_scale_min,
                       (double)o->crop_scale_max);
    GRAFT_RETURN_IF_AT(!(o->crop_ratio_min > 0.0f && o->crop_ratio_min <= o->crop_ratio_max &&
                         isfinite(o->crop_ratio_max)),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->crop_ratio_min and _max are %g and %g, must satisfy "
                       "0 < min <= max, finite", (double)o->crop_ratio_min,
                       (double)o->crop_ratio_max);
    GRAFT_RETURN_IF_AT(!in01(o->flip_prob), ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->flip_prob is %g, must be in [0, 1]", (double)o->flip_prob);
    GRAFT_RETURN_IF_AT(!in01(o->brightness), ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->brightness is %g, must be in [0, 1]", (double)o->brightness);
    GRAFT_RETURN_IF_AT(!in01(o->contrast), ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->contrast is %g, must be in [0, 1]", (double)o->contrast);
    GRAFT_RETURN_IF_AT(o->threads < 1 || o->threads > MAX_THREADS, ctx, GRAFT_E_INVALID_ARG,
                       func, "opts->threads is %d, must be 1 to %d", o->threads, MAX_THREADS);
    GRAFT_RETURN_IF_AT(o->on_error != GRAFT_FOLDER_ON_ERROR_FAIL &&
                           o->on_error != GRAFT_FOLDER_ON_ERROR_SKIP,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->on_error is %d, must be a GRAFT_FOLDER_ON_ERROR_* value",
                       o->on_error);
    GRAFT_RETURN_IF_AT(o->verify != GRAFT_FOLDER_VERIFY_HEADER &&
                           o->verify != GRAFT_FOLDER_VERIFY_DECODE,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->verify is %d, must be a GRAFT_FOLDER_VERIFY_* value", o->verify);
    for (int k = 0; k < 4; k++)
        GRAFT_RETURN_IF_AT(o->reserved[k] != 0, ctx, GRAFT_E_INVALID_ARG, func,
                           "opts->reserved[%d] is %u, must be 0", k, (unsigned)o->reserved[k]);
    GRAFT_RETURN_IF_AT(!isfinite(o->fill), ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->fill is %g, must be finite", (double)o->fill);
    return GRAFT_OK;
}

/* Reads opts->augment_spec (augment 1 only) into *spec: it replaces the 1.0
 * augmentation fields, which must keep their defaults; its crop is off or
 * the samples' size; its seed 0. *has is 0 without one. */
static int read_spec(graft_ctx *ctx, const graft_folder_opts *o, const char *func, int *has,
                     graft_augment_spec *spec)
{
    *has = 0;
    if (!o->augment || !o->augment_spec) return GRAFT_OK;
    const graft_folder_opts d = GRAFT_FOLDER_OPTS_INIT;
    GRAFT_RETURN_IF_AT(o->crop_scale_min != d.crop_scale_min ||
                           o->crop_scale_max != d.crop_scale_max ||
                           o->crop_ratio_min != d.crop_ratio_min ||
                           o->crop_ratio_max != d.crop_ratio_max || o->flip_prob != d.flip_prob ||
                           o->brightness != d.brightness || o->contrast != d.contrast,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->augment_spec is given, so opts->crop_scale_*, crop_ratio_*, "
                       "flip_prob, brightness and contrast must keep their defaults: set them "
                       "in the spec");
    GRAFT_FORWARD_IF_ERROR(graftAugmentSpecRead(ctx, func, o->augment_spec, spec));
    GRAFT_RETURN_IF_AT(spec->crop_width != 0 &&
                           (spec->crop_width != o->width || spec->crop_height != o->height),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->augment_spec crops to %dx%d: must be 0x0 (no random crop) or "
                       "the samples' %dx%d",
                       spec->crop_width, spec->crop_height, o->width, o->height);
    GRAFT_RETURN_IF_AT(spec->seed != 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->augment_spec->seed is %llu, must be 0 (opts->seed seeds the "
                       "samples)", (unsigned long long)spec->seed);
    *has = 1;
    return GRAFT_OK;
}

/* 1.0's sizeof(graft_folder_opts): its fields up to augment_spec, padded to
 * the struct's alignment (the same offset on the usual ABIs). */
#define FOLDER_1_0_END offsetof(graft_folder_opts, augment_spec)
#define FOLDER_ALIGN _Alignof(graft_folder_opts)
#define FOLDER_1_0_SIZE ((FOLDER_1_0_END + FOLDER_ALIGN - 1) / FOLDER_ALIGN * FOLDER_ALIGN)

/* The sizes graft_folder_opts has had: 1.0, 1.3 (augment_spec, fill; the
 * reserved words are check_opts's). */
static const uint32_t folder_opts_sizes[] = {(uint32_t)FOLDER_1_0_SIZE,
                                             (uint32_t)sizeof(graft_folder_opts)};
static const graftOptionsKind folder_opts_kind = {"opts", "GRAFT_FOLDER_OPTS_INIT", folder_opts_sizes,
                                          GRAFT_OPTIONS_COUNT(folder_opts_sizes), 0, 0};

GRAFT_API int graft_dataset_from_folder(graft_ctx *ctx, const char *root,
                                        const graft_folder_opts *opts, graft_dataset **out)
{
    const char *func = __func__;
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!root, ctx, GRAFT_E_INVALID_ARG, "root is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    graft_folder_opts o = GRAFT_FOLDER_OPTS_INIT;
    if (opts) {
        GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &folder_opts_kind, opts, &o));
        if (opts->struct_size < sizeof o) {
            const graft_folder_opts d = GRAFT_FOLDER_OPTS_INIT;
            memcpy((char *)&o + FOLDER_1_0_END, (const char *)&d + FOLDER_1_0_END,
                   sizeof o - FOLDER_1_0_END);
        }
    }
    GRAFT_FORWARD_IF_ERROR(check_opts(ctx, &o, func));
    int has_spec;
    graft_augment_spec spec;
    GRAFT_FORWARD_IF_ERROR(read_spec(ctx, &o, func, &has_spec, &spec));
    o.augment_spec = NULL; /* the caller's; not kept */

    folder_source *fs = graftCalloc(ctx, 1, sizeof *fs);
    GRAFT_RETURN_IF(!fs, ctx, GRAFT_E_NOMEM, "cannot allocate a dataset");
    fs->ctx = ctx;
    fs->o = o;
    fs->has_spec = has_spec;
    if (has_spec) fs->spec = spec;
    int longer = o.width > o.height ? o.width : o.height;
    fs->shorter_side = o.shorter_side ? o.shorter_side : (int)lround(longer * 256.0 / 224.0);
    fs->numel = (size_t)o.channels * (size_t)o.width * (size_t)o.height;
    int st = GRAFT_OK;
    if (pthread_mutex_init(&fs->alloc_lock, NULL) != 0) {
        graftFree(ctx, fs);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot create a mutex");
    }
    if (pthread_mutex_init(&fs->lock, NULL) != 0) {
        pthread_mutex_destroy(&fs->alloc_lock);
        graftFree(ctx, fs);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot create a mutex");
    }
    if (pthread_cond_init(&fs->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&fs->alloc_lock);
        pthread_mutex_destroy(&fs->lock);
        graftFree(ctx, fs);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot create a condition variable");
    }
    if (pthread_cond_init(&fs->done_cv, NULL) != 0) {
        pthread_mutex_destroy(&fs->alloc_lock);
        pthread_mutex_destroy(&fs->lock);
        pthread_cond_destroy(&fs->work_cv);
        graftFree(ctx, fs);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot create a condition variable");
    }
    fs->locks_ready = 1;
    if (forwarding_ctx(fs, &fs->main_ctx) != GRAFT_OK)
        st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a context");
    if (st == GRAFT_OK) st = scan(fs, root, func);
    if (st == GRAFT_OK && o.threads > 1) st = pool_start(fs, o.threads, func);
    if (st != GRAFT_OK) {
        folder_free(fs);
        return st;
    }
    const int64_t dims[3] = {o.channels, o.height, o.width};
    graft_dataset *ds = NULL;
    GRAFT_FORWARD_IF_ERROR(graftDatasetWrap(ctx, func, &folder_vtbl, fs, fs->count, 3, dims,
                                            fs->n_classes, &ds));
    ds->src->randomized = o.augment && !(has_spec && graftAugmentSpecIsIdentity(&spec));
    *out = ds;
    return GRAFT_OK;
}

/* ---- accessors ------------------------------------------------------------------ */

GRAFT_API const char *graft_dataset_class_name(const graft_dataset *dataset, int c)
{
    const folder_source *fs = folder_of(dataset);
    return fs && c >= 0 && c < fs->n_classes ? fs->class_names[c] : NULL;
}

GRAFT_API const char *graft_dataset_sample_path(const graft_dataset *dataset, int64_t i)
{
    const folder_source *fs = folder_of(dataset);
    if (!fs || i < 0 || i >= dataset->count) return NULL;
    return fs->paths[dataset->indices ? dataset->indices[i] : i];
}

GRAFT_API int64_t graft_dataset_skipped_count(const graft_dataset *dataset)
{
    const folder_source *fs = folder_of(dataset);
    return fs ? fs->n_skipped : 0;
}

GRAFT_API const char *graft_dataset_skipped_path(const graft_dataset *dataset, int64_t i)
{
    const folder_source *fs = folder_of(dataset);
    return fs && i >= 0 && i < fs->n_skipped ? fs->skipped_paths[i] : NULL;
}

GRAFT_API const char *graft_dataset_skipped_reason(const graft_dataset *dataset, int64_t i)
{
    const folder_source *fs = folder_of(dataset);
    return fs && i >= 0 && i < fs->n_skipped ? fs->skipped_reasons[i] : NULL;
}

GRAFT_API int graft_dataset_set_epoch(graft_dataset *dataset, int64_t epoch)
{
    graftClearError(dataset ? dataset->ctx : NULL);
    GRAFT_RETURN_IF(!dataset, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    GRAFT_RETURN_IF(epoch < 0, dataset->ctx, GRAFT_E_INVALID_ARG, "epoch is %lld, must be >= 0",
                    (long long)epoch);
    folder_source *fs = folder_of(dataset);
    if (fs) fs->epoch = epoch;
    return GRAFT_OK;
}

GRAFT_API int graft_dataset_is_deterministic(const graft_dataset *dataset)
{
    if (!dataset) return -1;
    return dataset->src->randomized ? 0 : 1;
}

GRAFT_API int graft_dataset_gather(graft_dataset *dataset, const int64_t *positions, int n,
                                   float *features, int32_t *labels)
{
    graftClearError(dataset ? dataset->ctx : NULL);
    GRAFT_RETURN_IF(!dataset, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    graft_ctx *ctx = dataset->ctx;
    GRAFT_RETURN_IF(n < 0, ctx, GRAFT_E_INVALID_ARG, "n is %d, must be >= 0", n);
    GRAFT_RETURN_IF(n > 0 && !positions, ctx, GRAFT_E_INVALID_ARG, "positions is NULL");
    for (int k = 0; k < n; k++)
        GRAFT_RETURN_IF(positions[k] < 0 || positions[k] >= dataset->count, ctx, GRAFT_E_RANGE,
                        "positions[%d] is %lld, must be in [0, %lld)", k,
                        (long long)positions[k], (long long)dataset->count);
    folder_source *fs = folder_of(dataset);
    if (fs) return folder_read(fs, dataset->indices, positions, n, features, labels, __func__);
    return graftDatasetGather(dataset, positions, n, features, labels);
}
