# generated from include/graft.h by python/tools/gen_api.py; do not edit
# (the layer kinds come from src/layers/kinds.h). After changing either, run
#     python3 python/tools/gen_api.py
# and commit the result; python/tests/test_abi.py fails while it is stale.
"""The C API of libgraft as data: the constants, option structs, function
pointer types and prototypes of include/graft.h, and the layer kinds.

Types are ctypes names, resolved by _lib.py: c_int, c_int64, ... for the
scalars, c_char_p for strings, c_void_p for handles and untyped memory, PP
for a pointer to handles (an out-parameter receiving one, or an array),
P(x) for a pointer to x, "x * n" for an array, the Structure classes of
_lib.py (Conv2dSpec for graft_conv2d_spec), the CFUNCTYPEs of
FUNCTION_TYPES; None is void. The mapping is python/tools/gen_api.py's.
ARGUMENT_NAMES holds the header's parameter names, which _lib.py's range
and NUL checks name in their messages.
"""

# ---- constants ---------------------------------------------------------------

# Version
GRAFT_VERSION_MAJOR = 1
GRAFT_VERSION_MINOR = 3
GRAFT_VERSION_PATCH = 0
GRAFT_VERSION_NUMBER = 10300

# Status codes and error messages
GRAFT_OK = 0
GRAFT_E_INVALID_ARG = -1
GRAFT_E_NOMEM = -2
GRAFT_E_SHAPE = -3
GRAFT_E_RANGE = -4
GRAFT_E_IO = -5
GRAFT_E_FORMAT = -6
GRAFT_E_UNSUPPORTED = -7
GRAFT_E_STATE = -8
GRAFT_E_NOT_FOUND = -9
GRAFT_E_VERSION = -10
GRAFT_E_NUMERIC = -11
GRAFT_E_CANCELLED = -12
GRAFT_E_INTERNAL = -13

# Context
GRAFT_CTX_USE_BLAS = 1
GRAFT_CTX_NUM_THREADS = 2
GRAFT_CTX_WINOGRAD = 3
GRAFT_CTX_CHECK_INPUTS = 4

# Tensors
GRAFT_MAX_DIMS = 8

# Images
GRAFT_IMAGE_MAX_PIXELS = 268435456
GRAFT_IMAGE_FORMAT_UNKNOWN = 0
GRAFT_IMAGE_FORMAT_PNG = 1
GRAFT_IMAGE_FORMAT_JPEG = 2
GRAFT_IMAGE_HWC = 1
GRAFT_IMAGE_BGR = 2
GRAFT_IMAGENET_MEAN = (0.485, 0.456, 0.406)
GRAFT_IMAGENET_STD = (0.229, 0.224, 0.225)
GRAFT_AUGMENT_PRESET_NONE = 0
GRAFT_AUGMENT_PRESET_LIGHT = 1
GRAFT_AUGMENT_PRESET_STANDARD = 2
GRAFT_AUGMENT_PRESET_STRONG = 3

# Layers
GRAFT_GELU_ERF = 0
GRAFT_GELU_TANH = 1
GRAFT_PAD_CONSTANT = 0
GRAFT_PAD_REFLECT = 1
GRAFT_PAD_EDGE = 2
GRAFT_UPSAMPLE_NEAREST = 0
GRAFT_UPSAMPLE_LINEAR = 1
GRAFT_COORD_HALF_PIXEL = 0
GRAFT_COORD_ALIGN_CORNERS = 1
GRAFT_COORD_ASYMMETRIC = 2
GRAFT_COORD_PYTORCH_HALF_PIXEL = 3
GRAFT_NEAREST_ROUND_PREFER_FLOOR = 0
GRAFT_NEAREST_ROUND_PREFER_CEIL = 1
GRAFT_NEAREST_FLOOR = 2
GRAFT_NEAREST_CEIL = 3

# Models
GRAFT_MODEL_INPUT = "input"
GRAFT_CLONE_SHARE_WEIGHTS = 1
GRAFT_TTA_FLIP = 1
GRAFT_TTA_CROPS = 2

# Optimizers and learning-rate schedules
GRAFT_OPTIM_SGD = 1
GRAFT_OPTIM_ADAM = 2
GRAFT_OPTIM_ADAMW = 3
GRAFT_OPT_LR = 1
GRAFT_OPT_MOMENTUM = 2
GRAFT_OPT_NESTEROV = 3
GRAFT_OPT_WEIGHT_DECAY = 4
GRAFT_OPT_BETA1 = 5
GRAFT_OPT_BETA2 = 6
GRAFT_OPT_EPSILON = 7
GRAFT_OPT_SCHEDULE = 8
GRAFT_OPT_STEP_EPOCHS = 9
GRAFT_OPT_GAMMA = 10
GRAFT_OPT_COSINE_EPOCHS = 11
GRAFT_OPT_MIN_LR = 12
GRAFT_OPT_WARMUP_EPOCHS = 13
GRAFT_SCHEDULE_CONSTANT = 0
GRAFT_SCHEDULE_STEP = 1
GRAFT_SCHEDULE_COSINE = 2

# Datasets from files: IDX, CSV, folders of images
GRAFT_CSV_LABEL_LAST = 0
GRAFT_CSV_LABEL_FIRST = 1
GRAFT_FOLDER_RESIZE_SHORTER_CROP = 0
GRAFT_FOLDER_RESIZE_STRETCH = 1
GRAFT_FOLDER_RESIZE_LETTERBOX = 2
GRAFT_FOLDER_NORM_SCALE = 0
GRAFT_FOLDER_NORM_IMAGENET = 1
GRAFT_FOLDER_NORM_MEAN_STD = 2
GRAFT_FOLDER_ON_ERROR_FAIL = 0
GRAFT_FOLDER_ON_ERROR_SKIP = 1
GRAFT_FOLDER_VERIFY_HEADER = 0
GRAFT_FOLDER_VERIFY_DECODE = 1
GRAFT_CALLBACK_DETERMINISTIC = 1
GRAFT_GRID_LABEL_ROW = 0
GRAFT_GRID_LABEL_COLUMN = 1
GRAFT_GRID_LABEL_ARRAY = 2

# Training, evaluation
GRAFT_PROGRESS_EVENT = 1
GRAFT_PROGRESS_EPOCH = 2
GRAFT_PROGRESS_EPOCHS = 3
GRAFT_PROGRESS_BATCH = 4
GRAFT_PROGRESS_BATCHES = 5
GRAFT_PROGRESS_LOSS = 6
GRAFT_PROGRESS_ACCURACY = 7
GRAFT_PROGRESS_LR = 8
GRAFT_PROGRESS_IMAGES_PER_SEC = 9
GRAFT_PROGRESS_VAL_LOSS = 10
GRAFT_PROGRESS_VAL_ACCURACY = 11
GRAFT_PROGRESS_LR_SCALE = 12
GRAFT_PROGRESS_BEST_EPOCH = 13
GRAFT_PROGRESS_BEST = 14
GRAFT_EVENT_BATCH_END = 1
GRAFT_EVENT_EPOCH_END = 2
GRAFT_MONITOR_AUTO = 0
GRAFT_MONITOR_VAL_LOSS = 1
GRAFT_MONITOR_VAL_ACCURACY = 2
GRAFT_MONITOR_LOSS = 3
GRAFT_MONITOR_ACCURACY = 4
GRAFT_LOSS_MSE = 0
GRAFT_LOSS_L1 = 1
GRAFT_EVAL_COUNT = 1
GRAFT_EVAL_LOSS = 2
GRAFT_EVAL_ACCURACY = 3
GRAFT_EVAL_TOPK_ACCURACY = 4
GRAFT_EVAL_F1_MACRO = 5
GRAFT_EVAL_AUC_MACRO = 6
GRAFT_EVAL_SUBSET_ACCURACY = 20
GRAFT_EVAL_HAMMING_LOSS = 21
GRAFT_EVAL_MICRO_PRECISION = 22
GRAFT_EVAL_MICRO_RECALL = 23
GRAFT_EVAL_MICRO_F1 = 24
GRAFT_EVAL_MACRO_F1 = 25
GRAFT_EVAL_MSE = 26
GRAFT_EVAL_MAE = 27
GRAFT_EVAL_R2 = 28
GRAFT_EVAL_LABEL_PRECISION = 30
GRAFT_EVAL_LABEL_RECALL = 31
GRAFT_EVAL_LABEL_F1 = 32
GRAFT_EVAL_LABEL_SUPPORT = 33
GRAFT_EVAL_LABEL_THRESHOLD = 34

# Transfer learning: freezing, surgery, staged fine-tuning, partial loads
GRAFT_MODEL_FROZEN_BN_TRAINS = 1
GRAFT_MODEL_FEATURE_CACHE = 2
GRAFT_MODEL_FEATURE_CACHE_MB = 3
GRAFT_MODEL_TASK = 4
GRAFT_TASK_CLASSIFICATION = 0
GRAFT_TASK_MULTI_LABEL = 1
GRAFT_TASK_REGRESSION = 2
GRAFT_WEIGHT_LOADED = 0
GRAFT_WEIGHT_SHAPE_MISMATCH = 1
GRAFT_WEIGHT_NOT_IN_FILE = 2
GRAFT_WEIGHT_NOT_IN_MODEL = 3


#: Every constant above, by name, in header order.
CONSTANTS = {k: v for k, v in globals().items() if k.startswith("GRAFT_")}


def named(prefix):
    """{suffix in lower case: value} of the constants named prefix*, in header
    order; named("GRAFT_PAD_") is {"constant": 0, "reflect": 1, "edge": 2}."""
    return {k[len(prefix):].lower(): v for k, v in CONSTANTS.items() if k.startswith(prefix)}


# ---- function pointer types: name -> (return type, argument types) -----------

FUNCTION_TYPES = {
    # graft_sample_fn
    "SAMPLE_FN": ("c_int", ("c_void_p", "c_int64", "c_void_p", "c_void_p")),
    # graft_progress_fn
    "PROGRESS_FN": ("c_int", ("c_void_p", "c_void_p")),
    # graft_allocator.alloc
    "ALLOC_FN": ("c_void_p", ("c_void_p", "c_size_t")),
    # graft_allocator.free
    "FREE_FN": (None, ("c_void_p", "c_void_p")),
}

# ---- option structs: name -> ((member, type), ...) ---------------------------

STRUCTS = {
    "graft_allocator": (
        ("struct_size", "c_uint32"),
        ("alloc", "ALLOC_FN"),
        ("free", "FREE_FN"),
        ("opaque", "c_void_p"),
    ),
    "graft_image_load_opts": (
        ("struct_size", "c_uint32"),
        ("channels", "c_int"),
        ("max_pixels", "c_int64"),
    ),
    "graft_augment_spec": (
        ("struct_size", "c_uint32"),
        ("seed", "c_uint64"),
        ("crop_width", "c_int"),
        ("crop_height", "c_int"),
        ("scale_min", "c_float"),
        ("scale_max", "c_float"),
        ("ratio_min", "c_float"),
        ("ratio_max", "c_float"),
        ("flip_prob", "c_float"),
        ("brightness", "c_float"),
        ("contrast", "c_float"),
        ("rotation", "c_float"),
        ("translate_x", "c_float"),
        ("translate_y", "c_float"),
        ("fill", "c_float"),
        ("saturation", "c_float"),
        ("hue", "c_float"),
        ("grayscale_prob", "c_float"),
    ),
    "graft_conv2d_spec": (
        ("struct_size", "c_uint32"),
        ("out_channels", "c_int"),
        ("kernel_h", "c_int"),
        ("kernel_w", "c_int"),
        ("stride_h", "c_int"),
        ("stride_w", "c_int"),
        ("pad_top", "c_int"),
        ("pad_left", "c_int"),
        ("pad_bottom", "c_int"),
        ("pad_right", "c_int"),
        ("dilation_h", "c_int"),
        ("dilation_w", "c_int"),
        ("groups", "c_int"),
        ("bias", "c_int"),
    ),
    "graft_pool2d_spec": (
        ("struct_size", "c_uint32"),
        ("kernel_h", "c_int"),
        ("kernel_w", "c_int"),
        ("stride_h", "c_int"),
        ("stride_w", "c_int"),
        ("pad_top", "c_int"),
        ("pad_left", "c_int"),
        ("pad_bottom", "c_int"),
        ("pad_right", "c_int"),
        ("ceil_mode", "c_int"),
        ("count_include_pad", "c_int"),
    ),
    "graft_pad2d_spec": (
        ("struct_size", "c_uint32"),
        ("pad_top", "c_int"),
        ("pad_left", "c_int"),
        ("pad_bottom", "c_int"),
        ("pad_right", "c_int"),
        ("mode", "c_int"),
        ("value", "c_float"),
    ),
    "graft_upsample2d_spec": (
        ("struct_size", "c_uint32"),
        ("scale_h", "c_float"),
        ("scale_w", "c_float"),
        ("out_h", "c_int"),
        ("out_w", "c_int"),
        ("mode", "c_int"),
        ("coord", "c_int"),
        ("nearest", "c_int"),
    ),
    "graft_conv_transpose2d_spec": (
        ("struct_size", "c_uint32"),
        ("out_channels", "c_int"),
        ("kernel_h", "c_int"),
        ("kernel_w", "c_int"),
        ("stride_h", "c_int"),
        ("stride_w", "c_int"),
        ("pad_top", "c_int"),
        ("pad_left", "c_int"),
        ("pad_bottom", "c_int"),
        ("pad_right", "c_int"),
        ("output_padding_h", "c_int"),
        ("output_padding_w", "c_int"),
        ("dilation_h", "c_int"),
        ("dilation_w", "c_int"),
        ("groups", "c_int"),
        ("bias", "c_int"),
    ),
    "graft_loss_opts": (
        ("struct_size", "c_uint32"),
        ("class_weights", "c_void_p"),
        ("sample_weights", "c_void_p"),
        ("label_smoothing", "c_float"),
        ("pos_weight", "c_void_p"),
    ),
    "graft_csv_opts": (
        ("struct_size", "c_uint32"),
        ("label_column", "c_int"),
        ("header_rows", "c_int"),
        ("scale", "c_float"),
        ("ndim", "c_int"),
        ("dims", "c_int64 * 7"),
        ("n_classes", "c_int"),
        ("delimiter", "c_int"),
        ("reserved", "c_uint32 * 4"),
        ("n_targets", "c_int"),
    ),
    "graft_folder_opts": (
        ("struct_size", "c_uint32"),
        ("channels", "c_int"),
        ("width", "c_int"),
        ("height", "c_int"),
        ("resize", "c_int"),
        ("shorter_side", "c_int"),
        ("normalize", "c_int"),
        ("scale", "c_float"),
        ("mean", "c_float * 3"),
        ("std", "c_float * 3"),
        ("augment", "c_int"),
        ("crop_scale_min", "c_float"),
        ("crop_scale_max", "c_float"),
        ("crop_ratio_min", "c_float"),
        ("crop_ratio_max", "c_float"),
        ("flip_prob", "c_float"),
        ("brightness", "c_float"),
        ("contrast", "c_float"),
        ("seed", "c_uint64"),
        ("threads", "c_int"),
        ("on_error", "c_int"),
        ("verify", "c_int"),
        ("reserved", "c_uint32 * 4"),
        ("augment_spec", "P(AugmentSpec)"),
        ("fill", "c_float"),
    ),
    "graft_grid_opts": (
        ("struct_size", "c_uint32"),
        ("cell_width", "c_int"),
        ("cell_height", "c_int"),
        ("margin", "c_int"),
        ("spacing", "c_int"),
        ("rows", "c_int"),
        ("columns", "c_int"),
        ("count", "c_int64"),
        ("label_by", "c_int"),
        ("labels", "c_void_p"),
        ("n_classes", "c_int"),
        ("channels", "c_int"),
        ("normalize", "c_int"),
        ("scale", "c_float"),
        ("mean", "c_float * 3"),
        ("std", "c_float * 3"),
        ("reserved", "c_uint32 * 4"),
    ),
    "graft_preprocess": (
        ("struct_size", "c_uint32"),
        ("channels", "c_int"),
        ("width", "c_int"),
        ("height", "c_int"),
        ("resize", "c_int"),
        ("shorter_side", "c_int"),
        ("normalize", "c_int"),
        ("scale", "c_float"),
        ("mean", "c_float * 3"),
        ("std", "c_float * 3"),
        ("reserved", "c_uint32 * 4"),
    ),
    "graft_fit_opts": (
        ("struct_size", "c_uint32"),
        ("epochs", "c_int"),
        ("batch_size", "c_int"),
        ("seed", "c_uint64"),
        ("shuffle", "c_int"),
        ("progress", "PROGRESS_FN"),
        ("user_data", "c_void_p"),
        ("class_weights", "c_void_p"),
        ("n_class_weights", "c_int"),
        ("label_smoothing", "c_float"),
        ("sample_weights", "c_void_p"),
        ("n_sample_weights", "c_int64"),
        ("pos_weight", "c_void_p"),
        ("n_pos_weight", "c_int"),
        ("regression_loss", "c_int"),
        ("clip_grad_norm", "c_float"),
        ("mixup_alpha", "c_float"),
        ("cutmix_alpha", "c_float"),
        ("monitor", "c_int"),
        ("min_delta", "c_double"),
        ("early_stop_patience", "c_int"),
        ("restore_best", "c_int"),
        ("save_best", "c_char_p"),
        ("plateau_factor", "c_double"),
        ("plateau_patience", "c_int"),
        ("plateau_threshold", "c_double"),
        ("plateau_cooldown", "c_int"),
        ("plateau_min_lr", "c_double"),
    ),
    "graft_head_spec": (
        ("struct_size", "c_uint32"),
        ("hidden_units", "c_int"),
        ("dropout", "c_float"),
        ("seed", "c_uint64"),
        ("class_names", "P(c_char_p)"),
    ),
    "graft_onnx_import_opts": (
        ("struct_size", "c_uint32"),
        ("keep_softmax", "c_int"),
        ("batch_axis", "c_int"),
        ("input_name", "c_char_p"),
        ("n_bound", "c_int"),
        ("bound_names", "P(c_char_p)"),
        ("bound_values", "PP"),
        ("seed", "c_uint64"),
        ("input_ndim", "c_int"),
        ("input_shape", "P(c_int64)"),
        ("preprocess", "P(Preprocess)"),
    ),
    "graft_onnx_export_opts": (
        ("struct_size", "c_uint32"),
        ("opset", "c_int"),
        ("fold_batch_norm", "c_int"),
        ("input_name", "c_char_p"),
        ("output_name", "c_char_p"),
    ),
}

# ---- functions: (name, return type, argument types) --------------------------

FUNCTIONS = (
    # Version
    ("graft_version_number", "c_int", ()),
    ("graft_version_string", "c_char_p", ()),
    ("graft_has_blas", "c_int", ()),
    ("graft_blas_core_name", "c_char_p", ()),
    # Status codes and error messages
    ("graft_strerror", "c_char_p", ("c_int",)),
    # Context
    ("graft_ctx_create", "c_int", ("PP",)),
    ("graft_ctx_create_advanced", "c_int", ("P(Allocator)", "PP")),
    ("graft_ctx_free", None, ("c_void_p",)),
    ("graft_ctx_set_int", "c_int", ("c_void_p", "c_int", "c_int")),
    ("graft_ctx_get_int", "c_int", ("c_void_p", "c_int", "P(c_int)")),
    ("graft_errmsg", "c_char_p", ("c_void_p",)),
    ("graft_buffer_free", None, ("c_void_p", "c_void_p")),
    # Tensors
    ("graft_tensor_create", "c_int", ("c_void_p", "c_int", "P(c_int64)", "PP")),
    ("graft_tensor_create_view", "c_int", ("c_void_p", "c_int", "P(c_int64)", "c_void_p", "PP")),
    ("graft_tensor_free", None, ("c_void_p",)),
    ("graft_tensor_ndim", "c_int", ("c_void_p",)),
    ("graft_tensor_dim", "c_int64", ("c_void_p", "c_int")),
    ("graft_tensor_numel", "c_size_t", ("c_void_p",)),
    ("graft_tensor_data", "c_void_p", ("c_void_p",)),
    ("graft_tensor_data_const", "c_void_p", ("c_void_p",)),
    ("graft_tensor_reshape", "c_int", ("c_void_p", "c_int", "P(c_int64)")),
    ("graft_tensor_copy_from", "c_int", ("c_void_p", "c_void_p", "c_size_t")),
    ("graft_tensor_copy_to", "c_int", ("c_void_p", "c_void_p", "c_size_t")),
    ("graft_tensor_fill", "c_int", ("c_void_p", "c_float")),
    # Images
    ("graft_image_load", "c_int", ("c_void_p", "c_char_p", "P(ImageLoadOpts)", "PP")),
    ("graft_image_load_buffer", "c_int",
     ("c_void_p", "c_void_p", "c_size_t", "P(ImageLoadOpts)", "PP")),
    ("graft_image_format", "c_int", ("c_void_p", "c_size_t")),
    ("graft_image_create", "c_int", ("c_void_p", "c_int", "c_int", "c_int", "PP")),
    ("graft_image_import", "c_int",
     ("c_void_p", "c_int", "c_int", "c_int", "c_int", "c_void_p", "PP")),
    ("graft_image_copy", "c_int", ("c_void_p", "PP")),
    ("graft_image_free", None, ("c_void_p",)),
    ("graft_image_width", "c_int", ("c_void_p",)),
    ("graft_image_height", "c_int", ("c_void_p",)),
    ("graft_image_channels", "c_int", ("c_void_p",)),
    ("graft_image_data", "c_void_p", ("c_void_p",)),
    ("graft_image_data_const", "c_void_p", ("c_void_p",)),
    ("graft_image_export", "c_int", ("c_void_p", "c_int", "c_void_p", "c_size_t")),
    ("graft_image_to_tensor", "c_int", ("c_void_p", "c_int", "PP")),
    ("graft_image_write_tensor", "c_int", ("c_void_p", "c_int", "c_void_p", "c_int64")),
    ("graft_image_convert", "c_int", ("c_void_p", "c_int")),
    ("graft_image_resize", "c_int", ("c_void_p", "c_int", "c_int")),
    ("graft_image_resize_shorter", "c_int", ("c_void_p", "c_int")),
    ("graft_image_crop", "c_int", ("c_void_p", "c_int", "c_int", "c_int", "c_int")),
    ("graft_image_center_crop", "c_int", ("c_void_p", "c_int", "c_int")),
    ("graft_image_pad", "c_int", ("c_void_p", "c_int", "c_int", "c_int", "c_int", "c_float")),
    ("graft_image_letterbox", "c_int", ("c_void_p", "c_int", "c_int", "c_float")),
    ("graft_image_flip_horizontal", "c_int", ("c_void_p",)),
    ("graft_image_scale", "c_int", ("c_void_p", "c_float")),
    ("graft_image_normalize", "c_int", ("c_void_p", "c_void_p", "c_void_p")),
    ("graft_image_normalize_imagenet", "c_int", ("c_void_p",)),
    ("graft_image_augment", "c_int", ("c_void_p", "P(AugmentSpec)")),
    ("graft_image_encode_png", "c_int", ("c_void_p", "PP", "P(c_size_t)")),
    ("graft_image_save_png", "c_int", ("c_void_p", "c_char_p")),
    ("graft_tensor_encode_png", "c_int",
     ("c_void_p", "c_float", "c_float", "c_int", "PP", "P(c_size_t)")),
    ("graft_tensor_save_png", "c_int", ("c_void_p", "c_char_p", "c_float", "c_float", "c_int")),
    ("graft_augment_preset", "c_int", ("c_int", "c_int", "c_int", "P(AugmentSpec)")),
    ("graft_augment_preset_name", "c_char_p", ("c_int",)),
    # Layers
    ("graft_layer_conv2d", "c_int", ("c_void_p", "P(Conv2dSpec)", "PP")),
    ("graft_layer_max_pool2d", "c_int", ("c_void_p", "P(Pool2dSpec)", "PP")),
    ("graft_layer_avg_pool2d", "c_int", ("c_void_p", "P(Pool2dSpec)", "PP")),
    ("graft_layer_global_avg_pool", "c_int", ("c_void_p", "PP")),
    ("graft_layer_dense", "c_int", ("c_void_p", "c_int", "c_int", "PP")),
    ("graft_layer_batch_norm", "c_int", ("c_void_p", "c_float", "c_float", "PP")),
    ("graft_layer_relu", "c_int", ("c_void_p", "PP")),
    ("graft_layer_clip", "c_int", ("c_void_p", "c_float", "c_float", "PP")),
    ("graft_layer_leaky_relu", "c_int", ("c_void_p", "c_float", "PP")),
    ("graft_layer_sigmoid", "c_int", ("c_void_p", "PP")),
    ("graft_layer_tanh", "c_int", ("c_void_p", "PP")),
    ("graft_layer_hard_swish", "c_int", ("c_void_p", "PP")),
    ("graft_layer_dropout", "c_int", ("c_void_p", "c_float", "c_uint64", "PP")),
    ("graft_layer_flatten", "c_int", ("c_void_p", "PP")),
    ("graft_layer_add", "c_int", ("c_void_p", "PP")),
    ("graft_layer_concat", "c_int", ("c_void_p", "PP")),
    ("graft_layer_softmax", "c_int", ("c_void_p", "PP")),
    ("graft_layer_softmax_axis", "c_int", ("c_void_p", "c_int", "PP")),
    ("graft_layer_layer_norm", "c_int", ("c_void_p", "c_int", "c_float", "c_int", "PP")),
    ("graft_layer_matmul", "c_int", ("c_void_p", "PP")),
    ("graft_layer_linear", "c_int", ("c_void_p", "c_int", "c_int", "PP")),
    ("graft_layer_mul", "c_int", ("c_void_p", "PP")),
    ("graft_layer_hard_sigmoid", "c_int", ("c_void_p", "c_float", "c_float", "PP")),
    ("graft_layer_silu", "c_int", ("c_void_p", "PP")),
    ("graft_layer_gelu", "c_int", ("c_void_p", "c_int", "PP")),
    ("graft_layer_pad2d", "c_int", ("c_void_p", "P(Pad2dSpec)", "PP")),
    ("graft_layer_upsample2d", "c_int", ("c_void_p", "P(Upsample2dSpec)", "PP")),
    ("graft_layer_conv_transpose2d", "c_int", ("c_void_p", "P(ConvTranspose2dSpec)", "PP")),
    ("graft_layer_reshape", "c_int", ("c_void_p", "c_int", "P(c_int64)", "PP")),
    ("graft_layer_transpose", "c_int", ("c_void_p", "c_int", "P(c_int)", "PP")),
    ("graft_layer_slice", "c_int", ("c_void_p", "c_int", "c_int64", "c_int64", "c_int64", "PP")),
    ("graft_layer_concat_axis", "c_int", ("c_void_p", "c_int", "PP")),
    ("graft_layer_scale_shift", "c_int", ("c_void_p", "c_int", "P(c_int64)", "PP")),
    ("graft_layer_free", None, ("c_void_p",)),
    ("graft_layer_kind", "c_char_p", ("c_void_p",)),
    ("graft_layer_build", "c_int", ("c_void_p", "c_int", "PP", "c_uint64")),
    ("graft_layer_set_training", "c_int", ("c_void_p", "c_int")),
    ("graft_layer_forward", "c_int", ("c_void_p", "c_int", "PP", "PP")),
    ("graft_layer_backward", "c_int", ("c_void_p", "c_int", "PP", "c_void_p", "PP")),
    ("graft_layer_param_count", "c_int", ("c_void_p",)),
    ("graft_layer_param", "c_int", ("c_void_p", "c_int", "P(c_char_p)", "PP", "PP", "P(c_int)")),
    # Losses
    ("graft_loss_softmax_cross_entropy", "c_int",
     ("c_void_p", "c_void_p", "c_void_p", "c_void_p")),
    ("graft_loss_mse", "c_int", ("c_void_p", "c_void_p", "c_void_p", "c_void_p")),
    ("graft_loss_cross_entropy", "c_int",
     ("c_void_p", "c_void_p", "P(LossOpts)", "c_void_p", "c_void_p")),
    ("graft_loss_bce_with_logits", "c_int",
     ("c_void_p", "c_void_p", "P(LossOpts)", "c_void_p", "c_void_p")),
    ("graft_loss_l1", "c_int", ("c_void_p", "c_void_p", "c_void_p", "c_void_p")),
    # Models
    ("graft_model_create", "c_int", ("c_void_p", "c_int", "P(c_int64)", "c_uint64", "PP")),
    ("graft_model_free", None, ("c_void_p",)),
    ("graft_model_clone", "c_int", ("c_void_p", "c_int", "PP")),
    ("graft_model_add", "c_int", ("c_void_p", "c_char_p", "c_void_p", "c_int", "P(c_char_p)")),
    ("graft_model_layer_count", "c_int", ("c_void_p",)),
    ("graft_model_find_layer", "c_int", ("c_void_p", "c_char_p")),
    ("graft_model_layer", "c_void_p", ("c_void_p", "c_int")),
    ("graft_model_layer_name", "c_char_p", ("c_void_p", "c_int")),
    ("graft_model_layer_input_count", "c_int", ("c_void_p", "c_int")),
    ("graft_model_layer_input_name", "c_char_p", ("c_void_p", "c_int", "c_int")),
    ("graft_model_layer_output_shape", "c_int", ("c_void_p", "c_int", "P(c_int)", "P(c_int64)")),
    ("graft_model_layer_param_count", "c_int64", ("c_void_p", "c_int")),
    ("graft_model_layer_trainable", "c_int", ("c_void_p", "c_int")),
    ("graft_model_param_count", "c_int64", ("c_void_p", "c_int")),
    ("graft_model_flops", "c_int64", ("c_void_p",)),
    ("graft_model_summary", "c_int", ("c_void_p", "c_char_p", "c_size_t", "P(c_size_t)")),
    ("graft_model_set_class_names", "c_int", ("c_void_p", "c_int", "P(c_char_p)")),
    ("graft_model_class_count", "c_int", ("c_void_p",)),
    ("graft_model_class_name", "c_char_p", ("c_void_p", "c_int")),
    ("graft_model_epochs_done", "c_int64", ("c_void_p",)),
    ("graft_model_forward", "c_int", ("c_void_p", "c_void_p", "PP")),
    ("graft_model_predict", "c_int", ("c_void_p", "c_void_p", "c_void_p")),
    ("graft_model_predict_topk", "c_int",
     ("c_void_p", "c_void_p", "c_int", "c_void_p", "c_void_p")),
    ("graft_model_predict_tta", "c_int", ("c_void_p", "c_void_p", "c_int", "c_void_p")),
    # Optimizers and learning-rate schedules
    ("graft_optim_create", "c_int", ("c_void_p", "c_int", "PP")),
    ("graft_optim_free", None, ("c_void_p",)),
    ("graft_optim_set", "c_int", ("c_void_p", "c_int", "c_double")),
    ("graft_optim_get", "c_int", ("c_void_p", "c_int", "P(c_double)")),
    ("graft_optim_bounds", "c_int", ("c_int", "c_int", "P(c_double)", "P(c_double)")),
    ("graft_optim_lr_at", "c_double", ("c_void_p", "c_double")),
    ("graft_optim_steps", "c_int64", ("c_void_p",)),
    # Datasets
    ("graft_dataset_from_memory", "c_int",
     ("c_void_p", "c_int64", "c_int", "P(c_int64)", "c_void_p", "c_void_p", "c_int", "c_int",
      "PP")),
    ("graft_dataset_from_memory_targets", "c_int",
     ("c_void_p", "c_int64", "c_int", "P(c_int64)", "c_void_p", "c_int", "c_void_p", "c_int",
      "PP")),
    ("graft_dataset_target_count", "c_int", ("c_void_p",)),
    ("graft_dataset_gather_targets", "c_int", ("c_void_p", "P(c_int64)", "c_int", "c_void_p")),
    ("graft_dataset_free", None, ("c_void_p",)),
    ("graft_dataset_size", "c_int64", ("c_void_p",)),
    ("graft_dataset_class_count", "c_int", ("c_void_p",)),
    ("graft_dataset_sample_shape", "c_int", ("c_void_p", "P(c_int)", "P(c_int64)")),
    ("graft_dataset_get", "c_int", ("c_void_p", "c_int64", "c_void_p", "c_void_p")),
    ("graft_dataset_split", "c_int", ("c_void_p", "c_double", "c_uint64", "PP", "PP")),
    ("graft_dataset_split_stratified", "c_int", ("c_void_p", "c_double", "c_uint64", "PP", "PP")),
    ("graft_dataset_subset_per_class", "c_int", ("c_void_p", "c_int64", "c_uint64", "PP")),
    # Datasets from files: IDX, CSV, folders of images
    ("graft_dataset_from_idx", "c_int",
     ("c_void_p", "c_char_p", "c_char_p", "c_float", "c_int", "PP")),
    ("graft_dataset_from_csv", "c_int", ("c_void_p", "c_char_p", "P(CsvOpts)", "PP")),
    ("graft_dataset_from_folder", "c_int", ("c_void_p", "c_char_p", "P(FolderOpts)", "PP")),
    ("graft_dataset_class_name", "c_char_p", ("c_void_p", "c_int")),
    ("graft_dataset_sample_path", "c_char_p", ("c_void_p", "c_int64")),
    ("graft_dataset_skipped_count", "c_int64", ("c_void_p",)),
    ("graft_dataset_skipped_path", "c_char_p", ("c_void_p", "c_int64")),
    ("graft_dataset_skipped_reason", "c_char_p", ("c_void_p", "c_int64")),
    ("graft_dataset_set_epoch", "c_int", ("c_void_p", "c_int64")),
    ("graft_dataset_is_deterministic", "c_int", ("c_void_p",)),
    ("graft_dataset_gather", "c_int", ("c_void_p", "P(c_int64)", "c_int", "c_void_p", "c_void_p")),
    ("graft_dataset_from_callback", "c_int",
     ("c_void_p", "c_int64", "c_int", "P(c_int64)", "c_int", "c_int", "SAMPLE_FN", "c_void_p",
      "PP")),
    ("graft_dataset_from_grid", "c_int", ("c_void_p", "c_char_p", "P(GridOpts)", "PP")),
    ("graft_model_set_preprocess", "c_int", ("c_void_p", "P(Preprocess)")),
    ("graft_model_get_preprocess", "c_int", ("c_void_p", "P(Preprocess)")),
    ("graft_model_folder_opts", "c_int", ("c_void_p", "P(FolderOpts)")),
    ("graft_model_predict_image", "c_int",
     ("c_void_p", "c_char_p", "c_int", "c_void_p", "c_void_p")),
    ("graft_model_predict_image_buffer", "c_int",
     ("c_void_p", "c_void_p", "c_size_t", "c_int", "c_void_p", "c_void_p")),
    ("graft_model_prepare_image", "c_int", ("c_void_p", "c_char_p", "c_void_p", "c_int64")),
    # Training, evaluation
    ("graft_progress_get", "c_double", ("c_void_p", "c_int")),
    ("graft_model_fit", "c_int", ("c_void_p", "c_void_p", "c_void_p", "c_void_p", "P(FitOpts)")),
    ("graft_model_evaluate", "c_int", ("c_void_p", "c_void_p", "c_int", "c_int", "PP")),
    ("graft_model_evaluate_targets", "c_int", ("c_void_p", "c_void_p", "c_int", "c_void_p", "PP")),
    ("graft_eval_target_count", "c_int", ("c_void_p",)),
    ("graft_eval_target_get", "c_double", ("c_void_p", "c_int", "c_int")),
    ("graft_eval_free", None, ("c_void_p",)),
    ("graft_eval_get", "c_double", ("c_void_p", "c_int")),
    ("graft_eval_class_count", "c_int", ("c_void_p",)),
    ("graft_eval_confusion", "c_int64", ("c_void_p", "c_int", "c_int")),
    ("graft_eval_precision", "c_double", ("c_void_p", "c_int")),
    ("graft_eval_recall", "c_double", ("c_void_p", "c_int")),
    ("graft_eval_f1", "c_double", ("c_void_p", "c_int")),
    ("graft_eval_auc", "c_double", ("c_void_p", "c_int")),
    ("graft_model_predict_dataset", "c_int",
     ("c_void_p", "c_void_p", "c_int", "c_void_p", "c_void_p")),
    # Transfer learning: freezing, surgery, staged fine-tuning, partial loads
    ("graft_model_set_trainable", "c_int", ("c_void_p", "c_int", "c_int", "c_int")),
    ("graft_model_set_trainable_by_name", "c_int", ("c_void_p", "c_char_p", "c_int")),
    ("graft_model_freeze_through", "c_int", ("c_void_p", "c_char_p")),
    ("graft_model_freeze_all_but_last", "c_int", ("c_void_p", "c_int")),
    ("graft_model_set_lr_scale", "c_int", ("c_void_p", "c_int", "c_int", "c_float")),
    ("graft_model_layer_lr_scale", "c_float", ("c_void_p", "c_int")),
    ("graft_model_schedule_unfreeze", "c_int", ("c_void_p", "c_char_p", "c_int", "c_float")),
    ("graft_model_clear_unfreeze_schedule", "c_int", ("c_void_p",)),
    ("graft_model_set_option", "c_int", ("c_void_p", "c_int", "c_int64")),
    ("graft_model_get_option", "c_int", ("c_void_p", "c_int", "P(c_int64)")),
    ("graft_model_cut", "c_int", ("c_void_p", "c_char_p")),
    ("graft_model_replace_head", "c_int", ("c_void_p", "c_int", "P(HeadSpec)")),
    ("graft_model_load_weights", "c_int", ("c_void_p", "c_char_p", "PP")),
    ("graft_model_reinit", "c_int", ("c_void_p", "c_uint64")),
    ("graft_model_reinit_layers", "c_int", ("c_void_p", "c_int", "c_int", "c_int", "c_uint64")),
    ("graft_load_report_count", "c_int", ("c_void_p", "c_int")),
    ("graft_load_report_entry", "c_int",
     ("c_void_p", "c_int", "P(c_char_p)", "P(c_int)", "P(c_char_p)")),
    ("graft_load_report_free", None, ("c_void_p",)),
    # Model files and checkpoints
    ("graft_model_save", "c_int", ("c_void_p", "c_char_p")),
    ("graft_model_load", "c_int", ("c_void_p", "c_char_p", "PP")),
    ("graft_model_load_buffer", "c_int", ("c_void_p", "c_void_p", "c_size_t", "PP")),
    ("graft_checkpoint_save", "c_int", ("c_void_p", "c_void_p", "c_char_p")),
    ("graft_checkpoint_load", "c_int", ("c_void_p", "c_char_p", "PP", "PP")),
    ("graft_model_save_buffer", "c_int", ("c_void_p", "PP", "P(c_size_t)")),
    ("graft_checkpoint_save_buffer", "c_int", ("c_void_p", "c_void_p", "PP", "P(c_size_t)")),
    ("graft_checkpoint_load_buffer", "c_int", ("c_void_p", "c_void_p", "c_size_t", "PP", "PP")),
    # ONNX import and export
    ("graft_onnx_import", "c_int", ("c_void_p", "c_char_p", "P(OnnxImportOpts)", "PP")),
    ("graft_onnx_import_buffer", "c_int",
     ("c_void_p", "c_void_p", "c_size_t", "P(OnnxImportOpts)", "PP")),
    ("graft_onnx_export", "c_int", ("c_void_p", "c_char_p", "P(OnnxExportOpts)")),
    ("graft_onnx_export_buffer", "c_int", ("c_void_p", "P(OnnxExportOpts)", "PP", "P(c_size_t)")),
    ("graft_onnx_buffer_free", None, ("c_void_p", "c_void_p")),
)

# ---- argument names: function -> (parameter name, ...) -----------------------

ARGUMENT_NAMES = {
    "graft_version_number": (),
    "graft_version_string": (),
    "graft_has_blas": (),
    "graft_blas_core_name": (),
    "graft_strerror": ("status",),
    "graft_ctx_create": ("out",),
    "graft_ctx_create_advanced": ("allocator", "out"),
    "graft_ctx_free": ("ctx",),
    "graft_ctx_set_int": ("ctx", "key", "value"),
    "graft_ctx_get_int": ("ctx", "key", "value"),
    "graft_errmsg": ("ctx",),
    "graft_buffer_free": ("ctx", "data"),
    "graft_tensor_create": ("ctx", "ndim", "dims", "out"),
    "graft_tensor_create_view": ("ctx", "ndim", "dims", "data", "out"),
    "graft_tensor_free": ("tensor",),
    "graft_tensor_ndim": ("tensor",),
    "graft_tensor_dim": ("tensor", "i"),
    "graft_tensor_numel": ("tensor",),
    "graft_tensor_data": ("tensor",),
    "graft_tensor_data_const": ("tensor",),
    "graft_tensor_reshape": ("tensor", "ndim", "dims"),
    "graft_tensor_copy_from": ("tensor", "src", "count"),
    "graft_tensor_copy_to": ("tensor", "dst", "count"),
    "graft_tensor_fill": ("tensor", "value"),
    "graft_image_load": ("ctx", "path", "opts", "out"),
    "graft_image_load_buffer": ("ctx", "data", "size", "opts", "out"),
    "graft_image_format": ("data", "size"),
    "graft_image_create": ("ctx", "width", "height", "channels", "out"),
    "graft_image_import": ("ctx", "width", "height", "channels", "flags", "pixels", "out"),
    "graft_image_copy": ("image", "out"),
    "graft_image_free": ("image",),
    "graft_image_width": ("image",),
    "graft_image_height": ("image",),
    "graft_image_channels": ("image",),
    "graft_image_data": ("image",),
    "graft_image_data_const": ("image",),
    "graft_image_export": ("image", "flags", "dst", "count"),
    "graft_image_to_tensor": ("image", "flags", "out"),
    "graft_image_write_tensor": ("image", "flags", "batch", "n"),
    "graft_image_convert": ("image", "channels"),
    "graft_image_resize": ("image", "width", "height"),
    "graft_image_resize_shorter": ("image", "size"),
    "graft_image_crop": ("image", "x", "y", "width", "height"),
    "graft_image_center_crop": ("image", "width", "height"),
    "graft_image_pad": ("image", "left", "top", "right", "bottom", "fill"),
    "graft_image_letterbox": ("image", "width", "height", "fill"),
    "graft_image_flip_horizontal": ("image",),
    "graft_image_scale": ("image", "factor"),
    "graft_image_normalize": ("image", "mean", "std"),
    "graft_image_normalize_imagenet": ("image",),
    "graft_image_augment": ("image", "spec"),
    "graft_image_encode_png": ("image", "data", "size"),
    "graft_image_save_png": ("image", "path"),
    "graft_tensor_encode_png": ("tensor", "lo", "hi", "columns", "data", "size"),
    "graft_tensor_save_png": ("tensor", "path", "lo", "hi", "columns"),
    "graft_augment_preset": ("preset", "crop_width", "crop_height", "out"),
    "graft_augment_preset_name": ("preset",),
    "graft_layer_conv2d": ("ctx", "spec", "out"),
    "graft_layer_max_pool2d": ("ctx", "spec", "out"),
    "graft_layer_avg_pool2d": ("ctx", "spec", "out"),
    "graft_layer_global_avg_pool": ("ctx", "out"),
    "graft_layer_dense": ("ctx", "units", "bias", "out"),
    "graft_layer_batch_norm": ("ctx", "epsilon", "momentum", "out"),
    "graft_layer_relu": ("ctx", "out"),
    "graft_layer_clip": ("ctx", "lo", "hi", "out"),
    "graft_layer_leaky_relu": ("ctx", "alpha", "out"),
    "graft_layer_sigmoid": ("ctx", "out"),
    "graft_layer_tanh": ("ctx", "out"),
    "graft_layer_hard_swish": ("ctx", "out"),
    "graft_layer_dropout": ("ctx", "rate", "seed", "out"),
    "graft_layer_flatten": ("ctx", "out"),
    "graft_layer_add": ("ctx", "out"),
    "graft_layer_concat": ("ctx", "out"),
    "graft_layer_softmax": ("ctx", "out"),
    "graft_layer_softmax_axis": ("ctx", "axis", "out"),
    "graft_layer_layer_norm": ("ctx", "axes", "epsilon", "affine", "out"),
    "graft_layer_matmul": ("ctx", "out"),
    "graft_layer_linear": ("ctx", "units", "bias", "out"),
    "graft_layer_mul": ("ctx", "out"),
    "graft_layer_hard_sigmoid": ("ctx", "alpha", "beta", "out"),
    "graft_layer_silu": ("ctx", "out"),
    "graft_layer_gelu": ("ctx", "approximate", "out"),
    "graft_layer_pad2d": ("ctx", "spec", "out"),
    "graft_layer_upsample2d": ("ctx", "spec", "out"),
    "graft_layer_conv_transpose2d": ("ctx", "spec", "out"),
    "graft_layer_reshape": ("ctx", "ndim", "dims", "out"),
    "graft_layer_transpose": ("ctx", "ndim", "perm", "out"),
    "graft_layer_slice": ("ctx", "axis", "start", "end", "step", "out"),
    "graft_layer_concat_axis": ("ctx", "axis", "out"),
    "graft_layer_scale_shift": ("ctx", "ndim", "dims", "out"),
    "graft_layer_free": ("layer",),
    "graft_layer_kind": ("layer",),
    "graft_layer_build": ("layer", "n_inputs", "inputs", "seed"),
    "graft_layer_set_training": ("layer", "training"),
    "graft_layer_forward": ("layer", "n_inputs", "inputs", "out"),
    "graft_layer_backward": ("layer", "n_inputs", "inputs", "out_grad", "input_grads"),
    "graft_layer_param_count": ("layer",),
    "graft_layer_param": ("layer", "i", "name", "value", "grad", "trainable"),
    "graft_loss_softmax_cross_entropy": ("logits", "labels", "loss", "grad"),
    "graft_loss_mse": ("pred", "target", "loss", "grad"),
    "graft_loss_cross_entropy": ("logits", "labels", "opts", "loss", "grad"),
    "graft_loss_bce_with_logits": ("logits", "targets", "opts", "loss", "grad"),
    "graft_loss_l1": ("pred", "target", "loss", "grad"),
    "graft_model_create": ("ctx", "ndim", "dims", "seed", "out"),
    "graft_model_free": ("model",),
    "graft_model_clone": ("model", "flags", "out"),
    "graft_model_add": ("model", "name", "layer", "n_inputs", "inputs"),
    "graft_model_layer_count": ("model",),
    "graft_model_find_layer": ("model", "name"),
    "graft_model_layer": ("model", "i"),
    "graft_model_layer_name": ("model", "i"),
    "graft_model_layer_input_count": ("model", "i"),
    "graft_model_layer_input_name": ("model", "i", "k"),
    "graft_model_layer_output_shape": ("model", "i", "ndim", "dims"),
    "graft_model_layer_param_count": ("model", "i"),
    "graft_model_layer_trainable": ("model", "i"),
    "graft_model_param_count": ("model", "trainable_only"),
    "graft_model_flops": ("model",),
    "graft_model_summary": ("model", "buf", "size", "needed"),
    "graft_model_set_class_names": ("model", "n_classes", "names"),
    "graft_model_class_count": ("model",),
    "graft_model_class_name": ("model", "c"),
    "graft_model_epochs_done": ("model",),
    "graft_model_forward": ("model", "input", "output"),
    "graft_model_predict": ("model", "input", "probs"),
    "graft_model_predict_topk": ("model", "input", "k", "indices", "probs"),
    "graft_model_predict_tta": ("model", "input", "views", "probs"),
    "graft_optim_create": ("ctx", "kind", "out"),
    "graft_optim_free": ("optim",),
    "graft_optim_set": ("optim", "key", "value"),
    "graft_optim_get": ("optim", "key", "value"),
    "graft_optim_bounds": ("kind", "key", "lo", "hi"),
    "graft_optim_lr_at": ("optim", "epoch"),
    "graft_optim_steps": ("optim",),
    "graft_dataset_from_memory":
     ("ctx", "count", "ndim", "dims", "features", "labels", "n_classes", "copy", "out"),
    "graft_dataset_from_memory_targets":
     ("ctx", "count", "ndim", "dims", "features", "n_targets", "targets", "copy", "out"),
    "graft_dataset_target_count": ("dataset",),
    "graft_dataset_gather_targets": ("dataset", "positions", "n", "targets"),
    "graft_dataset_free": ("dataset",),
    "graft_dataset_size": ("dataset",),
    "graft_dataset_class_count": ("dataset",),
    "graft_dataset_sample_shape": ("dataset", "ndim", "dims"),
    "graft_dataset_get": ("dataset", "i", "features", "label"),
    "graft_dataset_split": ("dataset", "val_fraction", "seed", "train", "val"),
    "graft_dataset_split_stratified": ("dataset", "val_fraction", "seed", "train", "val"),
    "graft_dataset_subset_per_class": ("dataset", "k", "seed", "out"),
    "graft_dataset_from_idx": ("ctx", "images_path", "labels_path", "scale", "n_classes", "out"),
    "graft_dataset_from_csv": ("ctx", "path", "opts", "out"),
    "graft_dataset_from_folder": ("ctx", "root", "opts", "out"),
    "graft_dataset_class_name": ("dataset", "c"),
    "graft_dataset_sample_path": ("dataset", "i"),
    "graft_dataset_skipped_count": ("dataset",),
    "graft_dataset_skipped_path": ("dataset", "i"),
    "graft_dataset_skipped_reason": ("dataset", "i"),
    "graft_dataset_set_epoch": ("dataset", "epoch"),
    "graft_dataset_is_deterministic": ("dataset",),
    "graft_dataset_gather": ("dataset", "positions", "n", "features", "labels"),
    "graft_dataset_from_callback":
     ("ctx", "count", "ndim", "dims", "n_classes", "flags", "fn", "user_data", "out"),
    "graft_dataset_from_grid": ("ctx", "path", "opts", "out"),
    "graft_model_set_preprocess": ("model", "preprocess"),
    "graft_model_get_preprocess": ("model", "out"),
    "graft_model_folder_opts": ("model", "opts"),
    "graft_model_predict_image": ("model", "path", "k", "indices", "probs"),
    "graft_model_predict_image_buffer": ("model", "data", "size", "k", "indices", "probs"),
    "graft_model_prepare_image": ("model", "path", "x", "slot"),
    "graft_progress_get": ("progress", "key"),
    "graft_model_fit": ("model", "optim", "train", "val", "opts"),
    "graft_model_evaluate": ("model", "dataset", "batch_size", "top_k", "out"),
    "graft_model_evaluate_targets": ("model", "dataset", "batch_size", "thresholds", "out"),
    "graft_eval_target_count": ("eval",),
    "graft_eval_target_get": ("eval", "j", "key"),
    "graft_eval_free": ("eval",),
    "graft_eval_get": ("eval", "key"),
    "graft_eval_class_count": ("eval",),
    "graft_eval_confusion": ("eval", "true_class", "predicted"),
    "graft_eval_precision": ("eval", "c"),
    "graft_eval_recall": ("eval", "c"),
    "graft_eval_f1": ("eval", "c"),
    "graft_eval_auc": ("eval", "c"),
    "graft_model_predict_dataset": ("model", "dataset", "batch_size", "probs", "top1"),
    "graft_model_set_trainable": ("model", "first", "last", "trainable"),
    "graft_model_set_trainable_by_name": ("model", "name", "trainable"),
    "graft_model_freeze_through": ("model", "name"),
    "graft_model_freeze_all_but_last": ("model", "n"),
    "graft_model_set_lr_scale": ("model", "first", "last", "scale"),
    "graft_model_layer_lr_scale": ("model", "i"),
    "graft_model_schedule_unfreeze": ("model", "from", "epoch", "lr_scale"),
    "graft_model_clear_unfreeze_schedule": ("model",),
    "graft_model_set_option": ("model", "key", "value"),
    "graft_model_get_option": ("model", "key", "value"),
    "graft_model_cut": ("model", "name"),
    "graft_model_replace_head": ("model", "n_classes", "spec"),
    "graft_model_load_weights": ("model", "path", "report"),
    "graft_model_reinit": ("model", "seed"),
    "graft_model_reinit_layers": ("model", "first", "last", "trainable_only", "seed"),
    "graft_load_report_count": ("report", "status"),
    "graft_load_report_entry": ("report", "i", "name", "status", "detail"),
    "graft_load_report_free": ("report",),
    "graft_model_save": ("model", "path"),
    "graft_model_load": ("ctx", "path", "out"),
    "graft_model_load_buffer": ("ctx", "data", "size", "out"),
    "graft_checkpoint_save": ("model", "optim", "path"),
    "graft_checkpoint_load": ("ctx", "path", "model", "optim"),
    "graft_model_save_buffer": ("model", "data", "size"),
    "graft_checkpoint_save_buffer": ("model", "optim", "data", "size"),
    "graft_checkpoint_load_buffer": ("ctx", "data", "size", "model", "optim"),
    "graft_onnx_import": ("ctx", "path", "opts", "out"),
    "graft_onnx_import_buffer": ("ctx", "data", "size", "opts", "out"),
    "graft_onnx_export": ("model", "path", "opts"),
    "graft_onnx_export_buffer": ("model", "opts", "data", "size"),
    "graft_onnx_buffer_free": ("ctx", "data"),
}

# ---- layer kinds, in registry order ------------------------------------------

LAYER_KINDS = (
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool",
    "dense",
    "batch_norm",
    "relu",
    "clip",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "hard_swish",
    "dropout",
    "flatten",
    "add",
    "concat",
    "softmax",
    "mul",
    "hard_sigmoid",
    "pad2d",
    "reshape",
    "scale_shift",
    "upsample2d",
    "transpose",
    "slice",
    "layer_norm",
    "matmul",
    "conv_transpose2d",
    "silu",
    "gelu",
)
