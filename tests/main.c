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
        suite_layer,   suite_dense,    suite_conv2d,    suite_pool,       suite_batchnorm,
        suite_activation,
        suite_dropout, suite_shape_ops, suite_loss,     suite_torch_refs, suite_model,
        suite_optim,   suite_dataset,   suite_train,     suite_model_io,
        suite_transfer, suite_image,    suite_dataset_files, suite_onnx, suite_onnx_layers,
        suite_alloc_fail, suite_fusion,
    };
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_NORMAL);
    int run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("%d passed, %d failed\n", run - failed, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
