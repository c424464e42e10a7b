/*
 * crash_safe_save.c - checks that graft_model_save() and
 * graft_checkpoint_save() never leave a damaged file, whenever the process
 * dies.
 *
 *   crash_safe_save [KILLS [SEED]]     (defaults: 200 kills, seed 1)
 *
 * The parent makes two versions of a model and a checkpoint: A (a small
 * convolutional network after one epoch of SGD with momentum) and B (a
 * larger one, after two epochs of Adam), so the versions differ in size and
 * in every byte that matters. It saves each once to learn its exact bytes,
 * and puts A at the two paths under test. Then, KILLS times: it starts a
 * child (this program again, in child mode) that builds both versions and
 * saves them in turn to the same two paths, as fast as it can, until it is
 * killed; it waits until the child has begun saving, sleeps a random time
 * (seeded) and kills the child with SIGKILL. After each kill it checks that
 * both files load (graft_model_load(), graft_checkpoint_load()) and that
 * each is byte for byte A or B: never a mixture, a truncation or a missing
 * file. Temporary files left by a killed save are counted and left where
 * they are: the next save of the same path must remove them (a save removes
 * the temporaries of its target whose writing process is dead). After the
 * kills the parent saves both files once more; then both must be A and no
 * temporary file may be left in the folder.
 * Ends with "N passed, N failed" (one test per kill, and one for the final
 * save).
 */
#include "graft.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(ctx, call)                                                                  \
    do {                                                                                  \
        int st_ = (call);                                                                 \
        if (st_ != GRAFT_OK) {                                                            \
            fprintf(stderr, "crash_safe_save: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                    graft_errmsg(ctx));                                                   \
            exit(3);                                                                      \
        }                                                                                 \
    } while (0)

/* ---- the two versions ------------------------------------------------------------- */

typedef struct version {
    graft_model *model;
    graft_optim *optim;
} version;

/* Version 0 (A) or 1 (B), built and trained the same way every time. */
static version make_version(graft_ctx *ctx, int which)
{
    const int64_t dims[3] = {1, 8, 8};
    const int channels = which ? 6 : 3, classes = which ? 4 : 3;
    version v;
    graft_layer *l;
    CHECK(ctx, graft_model_create(ctx, 3, dims, 100 + (uint64_t)which, &v.model));
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = channels;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    CHECK(ctx, graft_layer_conv2d(ctx, &cs, &l));
    CHECK(ctx, graft_model_add(v.model, "conv", l, 0, NULL));
    CHECK(ctx, graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l));
    CHECK(ctx, graft_model_add(v.model, "bn", l, 0, NULL));
    CHECK(ctx, graft_layer_relu(ctx, &l));
    CHECK(ctx, graft_model_add(v.model, "relu", l, 0, NULL));
    CHECK(ctx, graft_layer_flatten(ctx, &l));
    CHECK(ctx, graft_model_add(v.model, "flat", l, 0, NULL));
    if (which) {
        CHECK(ctx, graft_layer_dense(ctx, 32, 1, &l));
        CHECK(ctx, graft_model_add(v.model, "hidden", l, 0, NULL));
        CHECK(ctx, graft_layer_relu(ctx, &l));
        CHECK(ctx, graft_model_add(v.model, "hidden_relu", l, 0, NULL));
    }
    CHECK(ctx, graft_layer_dense(ctx, classes, 1, &l));
    CHECK(ctx, graft_model_add(v.model, "fc", l, 0, NULL));

    enum { N = 8 };
    float x[N * 64];
    int32_t y[N];
    for (int i = 0; i < N * 64; i++) x[i] = (float)((i * 31 + which * 7) % 19) / 9.0f - 1.0f;
    for (int i = 0; i < N; i++) y[i] = i % classes;
    graft_dataset *ds;
    CHECK(ctx, graft_dataset_from_memory(ctx, N, 3, dims, x, y, classes, 1, &ds));
    CHECK(ctx, graft_optim_create(ctx, which ? GRAFT_OPTIM_ADAM : GRAFT_OPTIM_SGD, &v.optim));
    if (!which) CHECK(ctx, graft_optim_set(v.optim, GRAFT_OPT_MOMENTUM, 0.9));
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = which ? 2 : 1;
    fo.batch_size = 4;
    fo.seed = 9;
    CHECK(ctx, graft_model_fit(v.model, v.optim, ds, NULL, &fo));
    graft_dataset_free(ds);
    return v;
}

static void free_version(version *v)
{
    graft_optim_free(v->optim);
    graft_model_free(v->model);
}

/* ---- files -------------------------------------------------------------------------- */

/* Reads a whole file; NULL (and errno) when it cannot. */
static unsigned char *slurp(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    ssize_t r;
    while (buf && (r = read(fd, buf + n, (size_t)st.st_size + 1 - n)) > 0) n += (size_t)r;
    close(fd);
    *size = n;
    return buf;
}

/* Names of files, as a growing array. */
typedef struct name_set {
    char **names;
    size_t n, cap;
} name_set;

/* The temporary files ("<name>.tmp.<pid>.<random>") in dir not seen before:
 * counts those not in *seen and adds them to it (they stay in dir, for the
 * next save to remove). Returns how many were new. */
static int new_temporaries(const char *dir, name_set *seen)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".tmp.")) continue;
        size_t i = 0;
        while (i < seen->n && strcmp(seen->names[i], e->d_name) != 0) i++;
        if (i < seen->n) continue;
        if (seen->n == seen->cap) {
            seen->cap = seen->cap ? seen->cap * 2 : 64;
            seen->names = realloc(seen->names, seen->cap * sizeof *seen->names);
            if (!seen->names) {
                fprintf(stderr, "crash_safe_save: out of memory\n");
                exit(3);
            }
        }
        seen->names[seen->n] = strdup(e->d_name);
        if (!seen->names[seen->n]) {
            fprintf(stderr, "crash_safe_save: out of memory\n");
            exit(3);
        }
        seen->n++;
        n++;
    }
    closedir(d);
    return n;
}

/* Names of the temporary files in dir, into list (at most size bytes);
 * returns how many there are. */
static int list_temporaries(const char *dir, char *list, size_t size)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    size_t used = 0;
    struct dirent *e;
    list[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".tmp.")) continue;
        n++;
        if (used < size) {
            int w = snprintf(list + used, size - used, "%s%s", n > 1 ? ", " : "", e->d_name);
            if (w > 0) used += (size_t)w;
        }
    }
    closedir(d);
    return n;
}

static int remove_all(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir);
}

/* ---- the child ---------------------------------------------------------------------- */

/* Builds both versions, writes one byte to fd `ready` when it is about to
 * start saving, then saves B, A, B, A, ... to both paths until killed. */
static int child_main(const char *model_path, const char *ckpt_path, int ready, int first)
{
    graft_ctx *ctx;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 3;
    CHECK(ctx, graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, 0));
    version v[2] = {make_version(ctx, 0), make_version(ctx, 1)};
    if (write(ready, "r", 1) != 1) return 3;
    close(ready);
    for (unsigned long i = 0;; i++) {
        const version *s = &v[(first + i) % 2];
        if (i % 2 == 0) {
            CHECK(ctx, graft_model_save(s->model, model_path));
            CHECK(ctx, graft_checkpoint_save(s->model, s->optim, ckpt_path));
        } else {
            CHECK(ctx, graft_checkpoint_save(s->model, s->optim, ckpt_path));
            CHECK(ctx, graft_model_save(s->model, model_path));
        }
    }
}

/* ---- the parent ----------------------------------------------------------------------- */

typedef struct expected {
    unsigned char *bytes[2];
    size_t size[2];
} expected;

static uint64_t rng_state;

static uint64_t next_random(void)
{
    /* SplitMix64: seeded, the same sequence everywhere. */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Checks one file after a kill: it must exist, equal A or B, and load.
 * Returns the version (0 or 1) or -1 with a message. */
static int check_file(graft_ctx *ctx, const char *path, const expected *e, int checkpoint,
                      char *why, size_t why_size)
{
    size_t size;
    unsigned char *data = slurp(path, &size);
    if (!data) {
        snprintf(why, why_size, "%s cannot be read: %s", path, strerror(errno));
        return -1;
    }
    int which = -1;
    for (int k = 0; k < 2; k++)
        if (size == e->size[k] && memcmp(data, e->bytes[k], size) == 0) which = k;
    free(data);
    if (which < 0) {
        snprintf(why, why_size, "%s (%zu bytes) is neither version A (%zu bytes) nor B (%zu)",
                 path, size, e->size[0], e->size[1]);
        return -1;
    }
    graft_model *m = NULL;
    graft_optim *o = NULL;
    int st = checkpoint ? graft_checkpoint_load(ctx, path, &m, &o) : graft_model_load(ctx, path, &m);
    if (st != GRAFT_OK) {
        snprintf(why, why_size, "%s equals version %c but does not load: %s", path, 'A' + which,
                 graft_errmsg(ctx));
        which = -1;
    } else if (graft_model_layer_count(m) != (which ? 7 : 5) ||
               graft_model_epochs_done(m) != (which ? 2 : 1) ||
               (checkpoint && graft_optim_steps(o) != (which ? 4 : 2))) {
        snprintf(why, why_size, "%s loads, but not as version %c", path, 'A' + which);
        which = -1;
    }
    graft_optim_free(o);
    graft_model_free(m);
    return which;
}

static void save_expected(graft_ctx *ctx, const char *dir, const version *v, expected *model,
                          expected *ckpt)
{
    char path[4096];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/ref.graft", dir);
        CHECK(ctx, graft_model_save(v[k].model, path));
        model->bytes[k] = slurp(path, &model->size[k]);
        unlink(path);
        snprintf(path, sizeof path, "%s/ref.ckpt", dir);
        CHECK(ctx, graft_checkpoint_save(v[k].model, v[k].optim, path));
        ckpt->bytes[k] = slurp(path, &ckpt->size[k]);
        unlink(path);
        if (!model->bytes[k] || !ckpt->bytes[k]) {
            fprintf(stderr, "crash_safe_save: cannot read back the reference files\n");
            exit(3);
        }
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    int kills = argc > 1 ? atoi(argv[1]) : 200;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (kills < 1) {
        fprintf(stderr, "usage: crash_safe_save [KILLS [SEED]]\n");
        return 2;
    }
    const char *base = getenv("TMPDIR");
    char dir[1024], model_path[1100], ckpt_path[1100];
    snprintf(dir, sizeof dir, "%s/graft-crash-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("crash_safe_save: mkdtemp");
        return 3;
    }
    snprintf(model_path, sizeof model_path, "%s/model.graft", dir);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/model.ckpt", dir);

    graft_ctx *ctx;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 3;
    CHECK(ctx, graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, 0));
    version v[2] = {make_version(ctx, 0), make_version(ctx, 1)};
    expected em, ec;
    save_expected(ctx, dir, v, &em, &ec);
    CHECK(ctx, graft_model_save(v[0].model, model_path));
    CHECK(ctx, graft_checkpoint_save(v[0].model, v[0].optim, ckpt_path));
    free_version(&v[1]); /* A is kept for the final save */

    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        perror("crash_safe_save: /proc/self/exe");
        return 3;
    }
    self[n] = '\0';

    int passed = 0, failed = 0, leftovers = 0, seen[2][2] = {{0, 0}, {0, 0}};
    name_set temporaries = {NULL, 0, 0};
    double start = now(), killed_after = 0;
    for (int k = 0; k < kills; k++) {
        int pipefd[2];
        if (pipe(pipefd) != 0) {
            perror("crash_safe_save: pipe");
            return 3;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("crash_safe_save: fork");
            return 3;
        }
        if (pid == 0) {
            close(pipefd[0]);
            char fd_arg[16], first_arg[16];
            snprintf(fd_arg, sizeof fd_arg, "%d", pipefd[1]);
            snprintf(first_arg, sizeof first_arg, "%d", k % 2);
            execl(self, self, "--child", model_path, ckpt_path, fd_arg, first_arg, (char *)NULL);
            _exit(127);
        }
        close(pipefd[1]);
        char c;
        ssize_t got;
        while ((got = read(pipefd[0], &c, 1)) < 0 && errno == EINTR) {
        }
        close(pipefd[0]);
        /* 0 to 40 ms after the first save starts: anywhere in the first
         * few saves of either file. */
        long delay_us = (long)(next_random() % 40000);
        if (got == 1) {
            struct timespec ts = {0, delay_us * 1000};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
        }
        kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        killed_after += (double)delay_us * 1e-6;
        char why[2][1024] = {"", ""};
        int wm = -1, wc = -1;
        if (got != 1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            snprintf(why[0], sizeof why[0], "the child did not run until killed (status %d)",
                     status);
        } else {
            wm = check_file(ctx, model_path, &em, 0, why[0], sizeof why[0]);
            wc = check_file(ctx, ckpt_path, &ec, 1, why[1], sizeof why[1]);
        }
        if (wm >= 0 && wc >= 0) {
            passed++;
            seen[0][wm]++;
            seen[1][wc]++;
        } else {
            failed++;
            printf("kill %d after %.1f ms: FAILED: %s%s%s\n", k + 1, delay_us / 1000.0, why[0],
                   why[0][0] && why[1][0] ? "; " : "", why[1]);
        }
        leftovers += new_temporaries(dir, &temporaries);
    }
    double total = now() - start;

    /* One more save of each file, by a process that is alive: it must leave
     * the files as A and remove every temporary the killed saves left. */
    char left[1024];
    int before_final = list_temporaries(dir, left, sizeof left);
    CHECK(ctx, graft_model_save(v[0].model, model_path));
    CHECK(ctx, graft_checkpoint_save(v[0].model, v[0].optim, ckpt_path));
    free_version(&v[0]);
    char why[2][1024] = {"", ""};
    int wm = check_file(ctx, model_path, &em, 0, why[0], sizeof why[0]);
    int wc = check_file(ctx, ckpt_path, &ec, 1, why[1], sizeof why[1]);
    int after_final = list_temporaries(dir, left, sizeof left);
    if (wm == 0 && wc == 0 && after_final == 0) {
        passed++;
    } else {
        failed++;
        if (wm != 0 && !why[0][0]) snprintf(why[0], sizeof why[0], "the model file is not A");
        if (wc != 0 && !why[1][0]) snprintf(why[1], sizeof why[1], "the checkpoint is not A");
        printf("final save: FAILED: %s%s%s%s%d temporary files left after one more save of each "
               "file%s%s\n",
               why[0], why[0][0] ? "; " : "", why[1], why[1][0] ? "; " : "", after_final,
               after_final ? ": " : "", after_final ? left : "");
    }
    printf("crash_safe_save: %d kills in %.1f s (mean delay %.1f ms); model file found as A %d "
           "times, B %d; checkpoint A %d, B %d; %d temporary files left by killed saves, %d "
           "still there after the kills, %d after one more save\n",
           kills, total, killed_after / kills * 1000.0, seen[0][0], seen[0][1], seen[1][0],
           seen[1][1], leftovers, before_final, after_final);
    for (size_t i = 0; i < temporaries.n; i++) free(temporaries.names[i]);
    free(temporaries.names);
    for (int k = 0; k < 2; k++) {
        free(em.bytes[k]);
        free(ec.bytes[k]);
    }
    graft_ctx_free(ctx);
    remove_all(dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
