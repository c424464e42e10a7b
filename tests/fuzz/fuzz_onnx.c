/*
 * fuzz_onnx.c - fuzz target "onnx": graft_onnx_import_buffer() on any bytes.
 * Enabled by the line `FUZZ_TARGETS += onnx` in the Makefile. Its seeds in
 * tests/fuzz/corpus/onnx/ are small models exported with
 * graft_onnx_export_buffer() by make_corpus.c.
 *
 * A failed import must return GRAFT_E_FORMAT, GRAFT_E_UNSUPPORTED,
 * GRAFT_E_VERSION (a file that needs a newer graft: an opset above those
 * graft reads) or GRAFT_E_NOMEM with a message naming
 * graft_onnx_import_buffer() and leave
 * *out NULL. A model that imports must answer every query, run forward on a
 * small batch when that is cheap, save, load and save again to the same
 * bytes, and export to ONNX and import again. Nothing may stay allocated.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int codes[] = {GRAFT_E_FORMAT, GRAFT_E_UNSUPPORTED, GRAFT_E_VERSION,
                                GRAFT_E_NOMEM};
    graft_ctx *ctx = fuzz_ctx();
    graft_model *m = (graft_model *)&codes; /* must be overwritten */
    int st = graft_onnx_import_buffer(ctx, data, size, NULL, &m);
    if (st != GRAFT_OK) {
        if (m) fuzz_fail("a failed graft_onnx_import_buffer left *out set");
        fuzz_check_failure(ctx, st, "graft_onnx_import_buffer", codes, 4);
    } else {
        if (!m) fuzz_fail("graft_onnx_import_buffer returned GRAFT_OK and no model");
        fuzz_exercise_model(ctx, m);
        fuzz_check_resave(ctx, m, NULL);
        void *bytes = NULL;
        size_t n = 0;
        st = graft_onnx_export_buffer(m, NULL, &bytes, &n);
        if (st == GRAFT_OK) {
            graft_model *again = NULL;
            st = graft_onnx_import_buffer(ctx, bytes, n, NULL, &again);
            if (st != GRAFT_OK && st != GRAFT_E_NOMEM)
                fuzz_fail("graft exported an imported model to ONNX it cannot import: %d: %s", st,
                          graft_errmsg(ctx));
            graft_model_free(again);
            graft_onnx_buffer_free(ctx, bytes);
        } else if (st != GRAFT_E_NOMEM && st != GRAFT_E_STATE) {
            fuzz_fail("graft_onnx_export_buffer of an imported model returned %d: %s", st,
                      graft_errmsg(ctx));
        }
        graft_model_free(m);
    }
    fuzz_ctx_free(ctx);
    return 0;
}
