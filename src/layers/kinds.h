/*
 * kinds.h - the one list of layer kinds.
 *
 * One line per kind: GRAFT_LAYER_KIND(ENUM, name, vtable)
 *   ENUM    the suffix of its graftLayerKind value (GRAFT_KIND_<ENUM>)
 *   name    its stable name: the tag in model files, graft_layer_kind()'s
 *           answer and the Python binding's kind name
 *   vtable  the const graftLayerVtbl its file defines
 *
 * Everything that enumerates kinds expands this list: the enum and the
 * registry (layer.h, layer.c), the vtable declarations, the per-kind test
 * table (tests/check_kinds.c, which does not compile when a kind has no
 * test entry) and the Python binding's kind list (python/tests check it).
 * Append only: the order is not stored in files (the name is), but tests
 * and the binding list kinds in this order. docs/ADDING-A-LAYER.md has the
 * steps for a new kind.
 *
 * No include guard: include it after defining GRAFT_LAYER_KIND.
 */
GRAFT_LAYER_KIND(CONV2D, conv2d, graftConv2dVtbl)
GRAFT_LAYER_KIND(MAX_POOL2D, max_pool2d, graftMaxPool2dVtbl)
GRAFT_LAYER_KIND(AVG_POOL2D, avg_pool2d, graftAvgPool2dVtbl)
GRAFT_LAYER_KIND(GLOBAL_AVG_POOL, global_avg_pool, graftGlobalAvgPoolVtbl)
GRAFT_LAYER_KIND(DENSE, dense, graftDenseVtbl)
GRAFT_LAYER_KIND(BATCH_NORM, batch_norm, graftBatchNormVtbl)
GRAFT_LAYER_KIND(RELU, relu, graftReluVtbl)
GRAFT_LAYER_KIND(CLIP, clip, graftClipVtbl)
GRAFT_LAYER_KIND(LEAKY_RELU, leaky_relu, graftLeakyReluVtbl)
GRAFT_LAYER_KIND(SIGMOID, sigmoid, graftSigmoidVtbl)
GRAFT_LAYER_KIND(TANH, tanh, graftTanhVtbl)
GRAFT_LAYER_KIND(HARD_SWISH, hard_swish, graftHardSwishVtbl)
GRAFT_LAYER_KIND(DROPOUT, dropout, graftDropoutVtbl)
GRAFT_LAYER_KIND(FLATTEN, flatten, graftFlattenVtbl)
GRAFT_LAYER_KIND(ADD, add, graftAddVtbl)
GRAFT_LAYER_KIND(CONCAT, concat, graftConcatVtbl)
GRAFT_LAYER_KIND(SOFTMAX, softmax, graftSoftmaxVtbl)
GRAFT_LAYER_KIND(MUL, mul, graftMulVtbl)
GRAFT_LAYER_KIND(HARD_SIGMOID, hard_sigmoid, graftHardSigmoidVtbl)
GRAFT_LAYER_KIND(PAD2D, pad2d, graftPad2dVtbl)
GRAFT_LAYER_KIND(RESHAPE, reshape, graftReshapeVtbl)
GRAFT_LAYER_KIND(SCALE_SHIFT, scale_shift, graftScaleShiftVtbl)
GRAFT_LAYER_KIND(UPSAMPLE2D, upsample2d, graftUpsample2dVtbl)
GRAFT_LAYER_KIND(TRANSPOSE, transpose, graftTransposeVtbl)
GRAFT_LAYER_KIND(SLICE, slice, graftSliceVtbl)
GRAFT_LAYER_KIND(LAYER_NORM, layer_norm, graftLayerNormVtbl)
GRAFT_LAYER_KIND(MATMUL, matmul, graftMatmulVtbl)
GRAFT_LAYER_KIND(CONV_TRANSPOSE2D, conv_transpose2d, graftConvTranspose2dVtbl)
GRAFT_LAYER_KIND(SILU, silu, graftSiluVtbl)
GRAFT_LAYER_KIND(GELU, gelu, graftGeluVtbl)
