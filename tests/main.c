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
        /* core */
        suite_context, suite_version, suite_error, suite_options, suite_rng, suite_crc32, suite_finite,
        suite_protobuf, suite_tensor, suite_blas, suite_parallel, suite_stream, suite_file,
        /* layers */
        suite_layer, suite_kinds, suite_registry, suite_dense, suite_conv2d, suite_conv_depthwise,
        suite_conv_winograd, suite_conv_epilogue, suite_pool, suite_batchnorm, suite_activation,
        suite_dropout, suite_flatten, suite_softmax, suite_merge, suite_mul, suite_pad2d,
        suite_reshape, suite_scale_shift, suite_upsample2d, suite_transpose, suite_slice,
        suite_layer_norm, suite_matmul, suite_conv_transpose2d, suite_loss, suite_onnx_node,
        suite_torch_refs,
        /* data */
        suite_dataset, suite_dataset_idx, suite_dataset_csv, suite_dataset_folder, suite_dataset_subset,
        suite_file_reader, suite_image, suite_image_png, suite_image_jpeg, suite_image_handle,
        suite_image_transform, suite_image_augment, suite_image_png_write, suite_dataset_callback,
        suite_dataset_grid,
        /* model */
        suite_model, suite_freeze, suite_model_io, suite_optim, suite_optim_sgd, suite_optim_adam,
        suite_train, suite_transfer, suite_evaluate, suite_fit_callbacks, suite_reinit,
        suite_predict_dataset, suite_predict_tta, suite_clone, suite_preprocess, suite_losses,
        /* onnx */
        suite_onnx_pb, suite_onnx_import, suite_onnx_import_helpers, suite_onnx_fold,
        suite_onnx_ops_nn, suite_onnx_ops_elementwise, suite_onnx_ops_shape, suite_onnx_export, suite_onnx_meta,
        /* across modules */
        suite_alloc_fail, suite_bounded_reads, suite_onnx_zoo,
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
