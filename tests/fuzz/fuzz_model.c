/*
 * fuzz_model.c - fuzz target "model": graft_model_load_buffer() on any bytes.
 *
 * Each input is loaded as it is (which exercises the header, the section
 * framing and the checksums), then once more with every section's CRC
 * recomputed, so mutated payloads reach the META, GRPH and XFER parsers and
 * the layer records. A load must fail with GRAFT_E_FORMAT, GRAFT_E_VERSION
 * or GRAFT_E_NOMEM and a message naming graft_model_load_buffer(), leaving
 * *out NULL; a model that loads must answer every query, run forward on a
 * small batch when that is cheap, and save, load and save again to the same
 * bytes and outputs. Nothing may stay allocated.
 */
#include "fuzz.h"

#include <stdlib.h>

static void load_one(const uint8_t *data, size_t size, int resave)
{
    static const int codes[] = {GRAFT_E_FORMAT, GRAFT_E_VERSION, GRAFT_E_NOMEM};
    graft_ctx *ctx = fuzz_ctx();
    graft_model *m = (graft_model *)&codes; /* must be overwritten */
    int st = graft_model_load_buffer(ctx, data, size, &m);
    if (st != GRAFT_OK) {
        if (m != NULL) fuzz_fail("a failed graft_model_load_buffer left *out set");
        fuzz_check_failure(ctx, st, "graft_model_load_buffer", codes, 3);
    } else {
        if (!m) fuzz_fail("graft_model_load_buffer returned GRAFT_OK and no model");
        fuzz_exercise_model(ctx, m);
        if (resave) fuzz_check_resave(ctx, m, NULL);
        graft_model_free(m);
    }
    fuzz_ctx_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *repaired = fuzz_repair_crcs(data, size);
    load_one(data, size, repaired == NULL);
    if (repaired) {
        load_one(repaired, size, 1);
        free(repaired);
    }
    return 0;
}
