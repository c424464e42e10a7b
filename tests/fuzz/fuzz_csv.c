/*
 * fuzz_csv.c - fuzz target "csv": graft_dataset_from_csv() on any bytes.
 *
 * Each input is written to a temporary file and read twice: with the
 * default options (',' between fields, the label last), and with ';', the
 * label first and one header row. A failure must be GRAFT_E_FORMAT,
 * GRAFT_E_RANGE, GRAFT_E_NUMERIC or GRAFT_E_NOMEM with a message naming
 * graft_dataset_from_csv() and *out NULL. A dataset that loads must give
 * every sample with a label below its class count and finite features.
 * Nothing may stay allocated.
 */
#include "fuzz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int codes[] = {GRAFT_E_FORMAT, GRAFT_E_RANGE, GRAFT_E_NUMERIC, GRAFT_E_NOMEM};
    static char path[600];
    if (!path[0]) snprintf(path, sizeof path, "%s/input.csv", fuzz_tmp_dir());
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fuzz_fail("cannot write %s", path);

    for (int variant = 0; variant < 2; variant++) {
        graft_ctx *ctx = fuzz_ctx();
        graft_csv_opts opts = GRAFT_CSV_OPTS_INIT;
        if (variant) {
            opts.delimiter = ';';
            opts.label_column = GRAFT_CSV_LABEL_FIRST;
            opts.header_rows = 1;
        }
        graft_dataset *ds = (graft_dataset *)&opts; /* must be overwritten */
        int st = graft_dataset_from_csv(ctx, path, &opts, &ds);
        if (st != GRAFT_OK) {
            if (ds) fuzz_fail("a failed graft_dataset_from_csv left *out set");
            fuzz_check_failure(ctx, st, "graft_dataset_from_csv", codes, 4);
        } else {
            /* A row has fewer features than the file has bytes. */
            float *features = malloc((size + 1) * sizeof *features);
            if (!features) fuzz_fail("out of memory");
            for (size_t i = 0; i <= size; i++) features[i] = NAN;
            int64_t count = graft_dataset_size(ds);
            int classes = graft_dataset_class_count(ds);
            if (count < 1 || classes < 1)
                fuzz_fail("%lld samples of %d classes", (long long)count, classes);
            for (int64_t i = 0; i < count && i < 64; i++) {
                int32_t label = -1;
                st = graft_dataset_get(ds, i, features, &label);
                if (st != GRAFT_OK || label < 0 || label >= classes)
                    fuzz_fail("sample %lld: status %d, label %d of %d classes", (long long)i, st,
                              (int)label, classes);
                if (!isfinite(features[0])) fuzz_fail("sample %lld: feature 0 is %g", (long long)i,
                                                      features[0]);
            }
            free(features);
            graft_dataset_free(ds);
        }
        fuzz_ctx_free(ctx);
    }
    unlink(path);
    return 0;
}
