/*
 * main.c - runs every Check suite and ends with "N passed, N failed".
 * Suites run in fork mode, so a crash fails one test, not the run.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>


int main(void)
{
    Suite *(*const suites[])(void) = {
        suite_context, suite_tensor,   suite_blas,      suite_parallel,   suite_stream,
        suite_layer,   suite_kinds,    suite_dense,    suite_conv2d,    suite_pool,       suite_batchnorm,
        suite_activation,
        suite_dropout, suite_shape_ops, suite_loss,     suite_torch_refs, suite_model,
        suite_optim,   suite_dataset,   suite_train,     suite_model_io,
        suite_transfer, suite_image,    suite_dataset_files, suite_onnx, suite_onnx_layers,
        suite_alloc_fail, suite_fusion,
    };
    /* No test may depend on the machine's speed. Check's timeouts (4 s by
     * default, or a suite's tcase_set_timeout) are only hang guards here:
     * made ten times longer unless the caller chose, before any suite is
     * created, since Check reads both variables then. */
    setenv("CK_DEFAULT_TIMEOUT", "60", 0);
    setenv("CK_TIMEOUT_MULTIPLIER", "10", 0);
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_NORMAL);
    int run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("%d passed, %d failed\n", run - failed, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
