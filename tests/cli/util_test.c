/*
 * util_test.c - the tool's command-line parser keeps each parse's option
 * names: a second cliParse() must not change what the first one found; an
 * option with an optional value ("name=?") takes it only after '='.
 * Built and run by tests/cli_test.sh against src/cli/util.c and libgraft.
 */
#include "cli.h"

#include <string.h>

static int failures;

static void expect(const char *what, const char *got, const char *want)
{
    if (got == want || (got && want && strcmp(got, want) == 0)) return;
    printf("FAILED %s: got %s%s%s, want %s%s%s\n", what, got ? "\"" : "", got ? got : "NULL",
           got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
    failures++;
}

int main(void)
{
    static const char *const acc1[] = {"epochs=", "lr=", "augment", NULL};
    static const char *const acc2[] = {"top=", "json", "normalize=", NULL};
    char *argv1[] = {"base.graft", "--epochs", "3", "--lr=0.5", "--augment"};
    char *argv2[] = {"--top", "2", "--json", "--normalize", "byte", "m.graft"};
    cli_args a, b;
    if (cliParse(5, argv1, acc1, &a) || cliParse(6, argv2, acc2, &b)) {
        printf("FAILED: a parse failed\n");
        return 1;
    }
    expect("first parse, --epochs", cliOpt(&a, "epochs"), "3");
    expect("first parse, --lr", cliOpt(&a, "lr"), "0.5");
    expect("first parse, --augment", cliOpt(&a, "augment"), "");
    expect("first parse, --top (not given)", cliOpt(&a, "top"), NULL);
    expect("second parse, --top", cliOpt(&b, "top"), "2");
    expect("second parse, --json", cliOpt(&b, "json"), "");
    expect("second parse, --normalize", cliOpt(&b, "normalize"), "byte");
    expect("second parse, --epochs (not given)", cliOpt(&b, "epochs"), NULL);
    expect("first parse, positional", a.n_pos == 1 ? a.pos[0] : NULL, "base.graft");
    expect("second parse, positional", b.n_pos == 1 ? b.pos[0] : NULL, "m.graft");
    /* A third parse into a copy of the first struct's memory. */
    cli_args c = a;
    expect("a copy of the first parse, --epochs", cliOpt(&c, "epochs"), "3");
    /* "name=?": a flag, or a value given only as --name=value. */
    static const char *const acc3[] = {"augment=?", "seed=", NULL};
    char *argv3[] = {"--augment", "m.graft", "--seed", "4"};
    char *argv4[] = {"--augment=strong", "m.graft"};
    cli_args d, e;
    if (cliParse(4, argv3, acc3, &d) || cliParse(2, argv4, acc3, &e)) {
        printf("FAILED: an optional-value parse failed\n");
        return 1;
    }
    expect("--augment alone", cliOpt(&d, "augment"), "");
    expect("--augment alone leaves the next word positional", d.n_pos == 1 ? d.pos[0] : NULL,
           "m.graft");
    expect("--augment=strong", cliOpt(&e, "augment"), "strong");
    printf("%s\n", failures ? "util_test: FAILED" : "util_test: ok");
    return failures != 0;
}
