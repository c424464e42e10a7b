/*
 * replay.c - runs a fuzz target (LLVMFuzzerTestOneInput) as a plain
 * program over files, so corpora and crash regressions replay without
 * libFuzzer, in `make test` and under any sanitizer or valgrind.
 *
 *   replay_<target> [-q] PATH...
 *
 * Each PATH is a file or a folder whose regular files are run in name order
 * (sub-folders are not entered). Every file runs in a child process with a
 * 60-second alarm, so a crash, an abort or a hang fails that file alone and
 * names it. Ends with "<target>: N passed, N failed" and exits 1 when a file
 * failed or a PATH cannot be read. -q prints only failures and the summary.
 */
#define _GNU_SOURCE /* strsignal */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FUZZ_TARGET_NAME
#define FUZZ_TARGET_NAME "fuzz"
#endif

static int passed, failed, quiet;

/* Runs one file in a child; counts and reports the result. */
static void run_file(const char *path)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "replay: fork: %s\n", strerror(errno));
        failed++;
        return;
    }
    if (pid == 0) {
        alarm(60);
        size_t size;
        uint8_t *data = fuzz_read_file(path, &size);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        exit(0); /* runs atexit handlers (the target's temporary folder) */
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            status = -1;
            break;
        }
    if (status == 0) {
        passed++;
        if (!quiet) printf("ok     %s\n", path);
    } else {
        failed++;
        if (status != -1 && WIFSIGNALED(status))
            printf("FAILED %s: killed by signal %d (%s)\n", path, WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
        else
            printf("FAILED %s: exit status %d\n", path,
                   status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return 0;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode))
            run_file(file);
        free(names[i]);
    }
    free(names);
    return 0;
}

int main(int argc, char **argv)
{
    int bad_path = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        quiet = 1;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [-q] FILE-OR-FOLDER...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) bad_path |= run_path(argv[i]) != 0;
    printf("%s: %d passed, %d failed\n", FUZZ_TARGET_NAME, passed, failed);
    return failed || bad_path ? 1 : 0;
}
