/*
 * check_file.c - whole files (src/core/file.c): reading one into memory
 * (graftReadWholeFile) and replacing one atomically (graftWriteFileAtomic).
 *
 * Stale temporaries: graftWriteFileAtomic() names its temporary file
 * "<target>.tmp.<pid>.<6 letters or digits>" and, before writing, removes the
 * temporaries of the same target whose writer is provably dead (kill(pid, 0)
 * fails with ESRCH), and nothing else: a live writer's file (this process's,
 * a running child's), names that are not exactly graft's pattern, other
 * targets' temporaries and non-regular files are kept.
 *
 * Atomic replacement: the new file keeps the replaced one's permissions (a
 * new one gets 0666 less the umask), and a failure before the rename leaves
 * the previous file and no temporary. (The ONNX decoder's arena test is
 * check_onnx_pb.c's.)
 */
#include "testutil.h"
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------ */

static char tmp_dir[256];

static void dir_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/graft-file-XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void dir_teardown(void)
{
    tu_rm_tree(tmp_dir);
}

static void make_file(const char *name, const char *content)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "cannot create %s: %s", p, strerror(errno));
    fputs(content, f);
    ck_assert_int_eq(fclose(f), 0);
}

static int exists(const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    return lstat(p, &st) == 0;
}

/* The pid of a child that has exited and been reaped, and that no process
 * has taken since (kill() says ESRCH). */
static pid_t dead_pid(void)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) _exit(0);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (kill(pid, 0) == -1 && errno == ESRCH) return pid;
    }
    ck_abort_msg("no dead pid found");
    return -1;
}

/* A child that lives until killed (it waits on a pipe that never speaks). */
static pid_t live_child(int *pipe_keep)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[1]);
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    close(fds[0]);
    *pipe_keep = fds[1];
    return pid;
}

static void end_child(pid_t pid, int pipe_keep)
{
    close(pipe_keep); /* the child's read returns 0: it exits */
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

static void save(const char *name, const char *content)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    graft_ctx *ctx = tu_ctx();
    int st = graftWriteFileAtomic(ctx, "check_file", p, (const unsigned char *)content,
                                  strlen(content));
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    graft_ctx_free(ctx);
    unsigned char *data;
    size_t size;
    graftFileFailure fail;
    ctx = tu_ctx();
    ck_assert_int_eq(graftReadWholeFile(ctx, p, SIZE_MAX, &data, &size, &fail), GRAFT_FILE_OK);
    ck_assert_uint_eq(size, strlen(content));
    ck_assert(memcmp(data, content, size) == 0);
    graftFree(ctx, data);
    graft_ctx_free(ctx);
}

/* ---- stale temporaries ------------------------------------------------------------------ */

START_TEST(test_dead_writers_temporary_is_removed_live_ones_kept)
{
    pid_t dead = dead_pid();
    int keep;
    pid_t child = live_child(&keep);
    char dead_tmp[128], own_tmp[128], child_tmp[128];
    snprintf(dead_tmp, sizeof dead_tmp, "model.graft.tmp.%ld.aB3xYz", (long)dead);
    snprintf(own_tmp, sizeof own_tmp, "model.graft.tmp.%ld.Qw9ErT", (long)getpid());
    snprintf(child_tmp, sizeof child_tmp, "model.graft.tmp.%ld.Zz0Zz0", (long)child);
    make_file("model.graft", "old");
    make_file(dead_tmp, "half a model");
    make_file(own_tmp, "this process is writing");
    make_file(child_tmp, "a child is writing");

    save("model.graft", "new contents");

    ck_assert_msg(!exists(dead_tmp), "%s (its writer is dead) was not removed", dead_tmp);
    ck_assert_msg(exists(own_tmp), "%s (this process's) was removed", own_tmp);
    ck_assert_msg(exists(child_tmp), "%s (a live child's) was removed", child_tmp);
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 3);
    end_child(child, keep);
}
END_TEST

START_TEST(test_only_graft_pattern_for_same_target_is_removed)
{
    pid_t dead = dead_pid();
    char names[16][160];
    int n = 0;
    /* Not graft's exact pattern, or another target's: all kept. */
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.AbCdEf"); /* no pid: unprovable */
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.%ld.aB3xY", (long)dead);
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.%ld.aB3xYzz", (long)dead);
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.%ld.aB3-Yz", (long)dead);
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.%ld.aB3xYz.bak", (long)dead);
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.0%ld.aB3xYz", (long)dead);
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.+%ld.aB3xYz", (long)dead);
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.0.aB3xYz");
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.-1.aB3xYz");
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.99999999999999999999.aB3xYz");
    snprintf(names[n++], sizeof names[0], "model.graft.tmp..aB3xYz");
    snprintf(names[n++], sizeof names[0], "other.graft.tmp.%ld.aB3xYz", (long)dead);
    snprintf(names[n++], sizeof names[0], "xmodel.graft.tmp.%ld.aB3xYz", (long)dead);
    snprintf(names[n++], sizeof names[0], "model.graft.tmp.tmp.%ld.aB3xYz", (long)dead);
    for (int i = 0; i < n; i++) make_file(names[i], "not graft's");
    /* Graft's pattern, dead pid, but a folder or a symbolic link: kept. */
    char dir_name[160], link_name[160], p[600];
    snprintf(dir_name, sizeof dir_name, "model.graft.tmp.%ld.DiRrrr", (long)dead);
    snprintf(p, sizeof p, "%s/%s", tmp_dir, dir_name);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(link_name, sizeof link_name, "model.graft.tmp.%ld.LiNkkk", (long)dead);
    snprintf(p, sizeof p, "%s/%s", tmp_dir, link_name);
    ck_assert_int_eq(symlink("model.graft", p), 0);
    /* The one file that is graft's and dead. */
    char stale[160];
    snprintf(stale, sizeof stale, "model.graft.tmp.%ld.aB3xYz", (long)dead);
    make_file(stale, "stale");

    save("model.graft", "contents");

    ck_assert_msg(!exists(stale), "%s was not removed", stale);
    for (int i = 0; i < n; i++) ck_assert_msg(exists(names[i]), "%s was removed", names[i]);
    ck_assert_msg(exists(dir_name), "the folder %s was removed", dir_name);
    ck_assert_msg(exists(link_name), "the link %s was removed", link_name);
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), n + 3);
}
END_TEST

/* A save in a folder other than the current one cleans that folder, and a
 * save leaves no temporary of its own. */
START_TEST(test_save_leaves_no_temporaries)
{
    pid_t dead = dead_pid();
    char stale[160];
    snprintf(stale, sizeof stale, "ckpt.tmp.%ld.000000", (long)dead);
    make_file(stale, "stale");
    save("ckpt", "first");
    save("ckpt", "second");
    ck_assert(!exists(stale));
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 1);
}
END_TEST

/* ---- whole-file reads ------------------------------------------------------------------ */

/* graftReadWholeFile: the bytes of a regular file; a device that never ends
 * read until max_bytes (the unsized path, growing its buffer); and each
 * failure reason with its details, recording no message. */
START_TEST(test_read_whole_file)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    char p[600];
    unsigned char *data = (unsigned char *)1;
    size_t size = 1;
    graftFileFailure fail;
    make_file("bytes", "0123456789");
    snprintf(p, sizeof p, "%s/bytes", tmp_dir);
    ck_assert_int_eq(graftReadWholeFile(ctx, p, SIZE_MAX, &data, &size, &fail), GRAFT_FILE_OK);
    ck_assert_uint_eq(size, 10);
    ck_assert(memcmp(data, "0123456789", 10) == 0);
    ck_assert_int_eq(fail.reason, GRAFT_FILE_OK);
    graftFree(ctx, data);
    ck_assert_int_eq(graftReadWholeFile(ctx, p, 10, &data, &size, &fail), GRAFT_FILE_OK);
    graftFree(ctx, data);
    ck_assert_int_eq(graftReadWholeFile(ctx, p, 9, &data, &size, &fail), GRAFT_FILE_TOO_LARGE);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(size, 0);
    ck_assert_int_eq(fail.file_size, 10);
    /* /dev/zero has no size: read until more than max_bytes arrived. */
    ck_assert_int_eq(graftReadWholeFile(ctx, "/dev/zero", 200000, &data, &size, &fail),
                     GRAFT_FILE_TOO_LARGE);
    ck_assert_int_eq(fail.file_size, -1);
    ck_assert_ptr_null(data);
    /* Missing, a folder, no memory. */
    snprintf(p, sizeof p, "%s/missing", tmp_dir);
    ck_assert_int_eq(graftReadWholeFile(ctx, p, SIZE_MAX, &data, &size, &fail), GRAFT_FILE_OPEN);
    ck_assert_int_eq(fail.sys_errno, ENOENT);
    ck_assert_int_eq(graftReadWholeFile(ctx, tmp_dir, SIZE_MAX, &data, &size, &fail),
                     GRAFT_FILE_IS_DIR);
    ck_assert_int_eq(fail.sys_errno, EISDIR);
    snprintf(p, sizeof p, "%s/bytes", tmp_dir);
    c.fail_at = c.allocs + 1;
    ck_assert_int_eq(graftReadWholeFile(ctx, p, SIZE_MAX, &data, &size, &fail), GRAFT_FILE_NOMEM);
    ck_assert_uint_eq(fail.bytes, 10); /* the size, never more */
    ck_assert_ptr_null(data);
    ck_assert_str_eq(graft_errmsg(ctx), "");
    graft_ctx_free(ctx);
    ck_assert_int_eq(c.allocs, c.frees);
}
END_TEST

/* ---- atomic replacement ------------------------------------------------------------------ */

static char *slurp_in_dir(const char *name, size_t *size)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    char *buf = malloc(4096);
    *size = fread(buf, 1, 4096, f);
    fclose(f);
    return buf;
}

static void assert_content(const char *name, const char *want)
{
    size_t n;
    char *got = slurp_in_dir(name, &n);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(got, want, n) == 0);
    free(got);
}

/* The new file takes the replaced file's permissions, or 0666 less the
 * umask; a bare name writes in the current folder; no temporary is left. */
START_TEST(test_atomic_replace_keeps_permissions)
{
    graft_ctx *ctx = tu_ctx();
    char p[600];
    make_file("m.graft", "old contents, longer than the new");
    snprintf(p, sizeof p, "%s/m.graft", tmp_dir);
    ck_assert_int_eq(chmod(p, 0640), 0);
    ck_assert_int_eq(graftWriteFileAtomic(ctx, "graft_test", p, (const unsigned char *)"new", 3),
                     GRAFT_OK);
    assert_content("m.graft", "new");
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0640);
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 1);

    mode_t old = umask(027);
    snprintf(p, sizeof p, "%s/fresh", tmp_dir);
    int rc = graftWriteFileAtomic(ctx, "graft_test", p, (const unsigned char *)"x", 1);
    umask(old);
    ck_assert_int_eq(rc, GRAFT_OK);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0640);
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 2);

    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmp_dir), 0);
    rc = graftWriteFileAtomic(ctx, "graft_test", "rel", (const unsigned char *)"relative", 8);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(rc, GRAFT_OK);
    assert_content("rel", "relative");
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 3);
    graft_ctx_free(ctx);
}
END_TEST

/* Every failure before the rename leaves the previous file as it was and no
 * temporary behind, and the message names the caller's function and the
 * path: a folder that does not exist, a target that is a folder (the
 * rename fails), a temporary name too long for the file system although
 * the target's is not, and a write cut short (a file size limit, as a full
 * disk would). */
START_TEST(test_atomic_failures_leave_previous_file)
{
    graft_ctx *ctx = tu_ctx();
    char p[600], want[1024];
    const unsigned char *data = (const unsigned char *)"replacement";
    snprintf(p, sizeof p, "%s/missing/m.graft", tmp_dir);
    ck_assert_int_eq(graftWriteFileAtomic(ctx, "graft_test", p, data, 11), GRAFT_E_IO);
    snprintf(want, sizeof want,
             "graft_test(): cannot create a temporary file for \"%s\": No such file or directory",
             p);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 0);
    /* Through a public save, the message names that function. */
    graft_model *m = NULL;
    graft_layer *l = NULL;
    const int64_t in[1] = {3};
    ck_assert_int_eq(graft_model_create(ctx, 1, in, 1, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_save(m, p), GRAFT_E_IO);
    snprintf(want, sizeof want, "graft_model_save(): cannot create a temporary file for \"%s\": "
             "No such file or directory", p);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    graft_model_free(m);

    snprintf(p, sizeof p, "%s/sub", tmp_dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    make_file("sub/keep", "keep");
    ck_assert_int_eq(graftWriteFileAtomic(ctx, "graft_test", p, data, 11), GRAFT_E_IO);
    snprintf(want, sizeof want, "graft_test(): cannot replace \"%s\": Is a directory", p);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 1);
    assert_content("sub/keep", "keep");
    snprintf(p, sizeof p, "%s/sub/keep", tmp_dir);
    ck_assert_int_eq(unlink(p), 0);

    char name[251];
    memset(name, 'n', 250);
    name[250] = '\0';
    make_file(name, "previous");
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    ck_assert_int_eq(graftWriteFileAtomic(ctx, "graft_test", p, data, 11), GRAFT_E_IO);
    snprintf(want, sizeof want,
             "graft_test(): cannot create a temporary file for \"%s\": File name too long", p);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    assert_content(name, "previous");
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 2);
    ck_assert_int_eq(unlink(p), 0);

    make_file("m.graft", "previous");
    snprintf(p, sizeof p, "%s/m.graft", tmp_dir);
    unsigned char *big = calloc(1, 5000);
    struct rlimit old_lim, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old_lim;
    lim.rlim_cur = 1000;
    /* No assertion while the limit holds: Check's own message file grows
     * with every one. */
    int set = setrlimit(RLIMIT_FSIZE, &lim);
    int rc = graftWriteFileAtomic(ctx, "graft_test", p, big, 5000);
    int reset = setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_handler);
    ck_assert_int_eq(set, 0);
    ck_assert_int_eq(reset, 0);
    free(big);
    ck_assert_int_eq(rc, GRAFT_E_IO);
    snprintf(want, sizeof want,
             "graft_test(): cannot write \"%s\" (through a temporary file): File too large", p);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    assert_content("m.graft", "previous");
    ck_assert_int_eq(tu_count_entries(tmp_dir, NULL), 2); /* sub and m.graft */
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_file(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("stale_temporaries");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_dead_writers_temporary_is_removed_live_ones_kept);
    tcase_add_test(tc, test_only_graft_pattern_for_same_target_is_removed);
    tcase_add_test(tc, test_save_leaves_no_temporaries);
    suite_add_tcase(s, tc);
    tc = tcase_create("whole_files");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_read_whole_file);
    tcase_add_test(tc, test_atomic_replace_keeps_permissions);
    tcase_add_test(tc, test_atomic_failures_leave_previous_file);
    suite_add_tcase(s, tc);
    return s;
}
