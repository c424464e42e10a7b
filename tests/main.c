/*
 * main.c - runs every Check suite and ends with "N passed, N failed".
 * Suites run in fork mode, so a crash fails one test, not the run.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#pragma weak suite_context
#pragma weak suite_tensor
#pragma weak suite_blas
#pragma weak suite_stream
#pragma weak suite_layer
#pragma weak suite_conv2d
#pragma weak suite_pool
#pragma weak suite_batchnorm
#pragma weak suite_activation
#pragma weak suite_dropout
#pragma weak suite_shape_ops
#pragma weak suite_loss
#pragma weak suite_torch_refs

int main(void)
{
    Suite *(*const suites[])(void) = {
        suite_context, suite_tensor,   suite_blas,      suite_stream,     suite_layer,
        suite_dense,   suite_conv2d,   suite_pool,      suite_batchnorm,  suite_activation,
        suite_dropout, suite_shape_ops, suite_loss,     suite_torch_refs,
    };
    SRunner *sr = srunner_create(NULL);
    int missing = 0;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        if (suites[i]) srunner_add_suite(sr, suites[i]());
        else missing++;
    }
    srunner_run_all(sr, CK_NORMAL);
    int run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr) + missing;
    srunner_free(sr);
    printf("%d passed, %d failed\n", run - failed, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
