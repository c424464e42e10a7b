"""Finding and loading libgraft.so.1, checking its version, and declaring the
C functions the binding calls.

The library is looked for, in this order:

1. ``$GRAFT_LIBRARY``: the path of the shared library, or of a folder that
   holds ``libgraft.so.1``. When the variable is set, no other place is
   tried, so a wrong setting is reported rather than silently ignored.
2. A copy inside the package (``graft/libgraft.so.1``), present when the
   wheel was built with ``GRAFT_BUNDLE_LIBRARY`` set (see pyproject.toml).
3. ``lib/libgraft.so.1`` of the source checkout the package sits in
   (``python/graft`` inside graft's repository, after ``make``).
4. The system: the dynamic loader's search path (``LD_LIBRARY_PATH``,
   ``ldconfig``'s cache), then ``/usr/local/lib`` and ``/usr/lib``, where
   ``make install`` puts it.

After loading, ``graft_version_number()`` must report the major version
this binding is written for (``_version.LIBRARY_MAJOR``); otherwise the
import fails with an ImportError naming both versions.

Structures
----------
The binding mirrors no C struct that the library keeps or reads after a
call. The versioned option structs (graft_fit_opts, graft_head_spec,
graft_conv2d_spec, graft_pool2d_spec, graft_allocator,
graft_image_load_opts, graft_augment_spec, graft_csv_opts,
graft_folder_opts, graft_pad2d_spec, graft_onnx_import_opts,
graft_onnx_export_opts) are read by graft only during the call that takes them,
so they are built as ctypes Structures at call time with
``struct_size = ctypes.sizeof(...)``. If a definition here ever disagreed
with graft.h in size, graft would refuse the call with GRAFT_E_VERSION (or
GRAFT_E_INVALID_ARG for the allocator) instead of misreading it; the test
suite also compiles a probe against include/graft.h and compares every
size and field offset (tests/test_abi.py).
"""

import ctypes
import os

from . import errors
from ._version import LIBRARY_MAJOR

SONAME = "libgraft.so.1"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# ---- C types ------------------------------------------------------------------

c_int = ctypes.c_int
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_uint32 = ctypes.c_uint32
c_size_t = ctypes.c_size_t
c_float = ctypes.c_float
c_double = ctypes.c_double
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
P = ctypes.POINTER
PP = P(c_void_p)  # an out-parameter receiving a handle

# typedef int (*graft_progress_fn)(void *user_data, const graft_progress *progress);
PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p)
# graft_allocator hooks
ALLOC_FN = ctypes.CFUNCTYPE(c_void_p, c_void_p, c_size_t)
FREE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)


class Allocator(ctypes.Structure):
    """graft_allocator (read during graft_ctx_create_advanced() only; the
    hooks it points to must outlive the context)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("alloc", ALLOC_FN),
        ("free", FREE_FN),
        ("opaque", c_void_p),
    ]


class Conv2dSpec(ctypes.Structure):
    """graft_conv2d_spec (read during graft_layer_conv2d() only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("out_channels", c_int),
        ("kernel_h", c_int),
        ("kernel_w", c_int),
        ("stride_h", c_int),
        ("stride_w", c_int),
        ("pad_top", c_int),
        ("pad_left", c_int),
        ("pad_bottom", c_int),
        ("pad_right", c_int),
        ("dilation_h", c_int),
        ("dilation_w", c_int),
        ("groups", c_int),
        ("bias", c_int),
    ]


class Pool2dSpec(ctypes.Structure):
    """graft_pool2d_spec (read during the pooling constructors only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("kernel_h", c_int),
        ("kernel_w", c_int),
        ("stride_h", c_int),
        ("stride_w", c_int),
        ("pad_top", c_int),
        ("pad_left", c_int),
        ("pad_bottom", c_int),
        ("pad_right", c_int),
        ("ceil_mode", c_int),
        ("count_include_pad", c_int),
    ]


class Pad2dSpec(ctypes.Structure):
    """graft_pad2d_spec (read during graft_layer_pad2d() only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("pad_top", c_int),
        ("pad_left", c_int),
        ("pad_bottom", c_int),
        ("pad_right", c_int),
        ("mode", c_int),
        ("value", c_float),
    ]


class FitOpts(ctypes.Structure):
    """graft_fit_opts (read during graft_model_fit() only; the callback it
    names is called during that call only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("epochs", c_int),
        ("batch_size", c_int),
        ("seed", c_uint64),
        ("shuffle", c_int),
        ("progress", PROGRESS_FN),
        ("user_data", c_void_p),
    ]


class HeadSpec(ctypes.Structure):
    """graft_head_spec (read during graft_model_replace_head() only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("hidden_units", c_int),
        ("dropout", c_float),
        ("seed", c_uint64),
        ("class_names", P(c_char_p)),
    ]


class ImageLoadOpts(ctypes.Structure):
    """graft_image_load_opts (read during the image loaders only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("channels", c_int),
        ("max_pixels", c_int64),
    ]


class AugmentSpec(ctypes.Structure):
    """graft_augment_spec (read during graft_image_augment() only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("seed", c_uint64),
        ("crop_width", c_int),
        ("crop_height", c_int),
        ("scale_min", c_float),
        ("scale_max", c_float),
        ("ratio_min", c_float),
        ("ratio_max", c_float),
        ("flip_prob", c_float),
        ("brightness", c_float),
        ("contrast", c_float),
    ]


MAX_DIMS = 8  # GRAFT_MAX_DIMS


class CsvOpts(ctypes.Structure):
    """graft_csv_opts (read during graft_dataset_from_csv() only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("label_column", c_int),
        ("header_rows", c_int),
        ("scale", c_float),
        ("ndim", c_int),
        ("dims", c_int64 * (MAX_DIMS - 1)),
        ("n_classes", c_int),
        ("delimiter", c_int),
        ("reserved", c_uint32 * 4),
    ]


class FolderOpts(ctypes.Structure):
    """graft_folder_opts (read during graft_dataset_from_folder() only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("channels", c_int),
        ("width", c_int),
        ("height", c_int),
        ("resize", c_int),
        ("shorter_side", c_int),
        ("normalize", c_int),
        ("scale", c_float),
        ("mean", c_float * 3),
        ("std", c_float * 3),
        ("augment", c_int),
        ("crop_scale_min", c_float),
        ("crop_scale_max", c_float),
        ("crop_ratio_min", c_float),
        ("crop_ratio_max", c_float),
        ("flip_prob", c_float),
        ("brightness", c_float),
        ("contrast", c_float),
        ("seed", c_uint64),
        ("threads", c_int),
        ("on_error", c_int),
        ("verify", c_int),
        ("reserved", c_uint32 * 4),
    ]


class OnnxImportOpts(ctypes.Structure):
    """graft_onnx_import_opts (read during graft_onnx_import() and
    graft_onnx_import_buffer() only; so are the names and tensors it points
    to)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("keep_softmax", c_int),
        ("batch_axis", c_int),
        ("input_name", c_char_p),
        ("n_bound", c_int),
        ("bound_names", P(c_char_p)),
        ("bound_values", P(c_void_p)),
        ("seed", c_uint64),
    ]


class OnnxExportOpts(ctypes.Structure):
    """graft_onnx_export_opts (read during graft_onnx_export() and
    graft_onnx_export_buffer() only)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("opset", c_int),
        ("fold_batch_norm", c_int),
        ("input_name", c_char_p),
        ("output_name", c_char_p),
    ]


def new_struct(cls, **fields):
    """An instance of a versioned struct with struct_size set to its size."""
    s = cls()
    s.struct_size = ctypes.sizeof(cls)
    for k, v in fields.items():
        setattr(s, k, v)
    return s


# ---- prototypes -----------------------------------------------------------------
#
# One entry per function of include/graft.h: (name, restype, argtypes).
# Handles are c_void_p. To wrap a new section of the header, add its block
# here; tests/test_abi.py checks every entry against the header and fails
# when a header function is not wrapped.

_VOID = None

PROTOTYPES = [
    # Version
    ("graft_version_number", c_int, []),
    ("graft_version_string", c_char_p, []),
    ("graft_has_blas", c_int, []),
    ("graft_blas_core_name", c_char_p, []),
    # Errors
    ("graft_strerror", c_char_p, [c_int]),
    ("graft_errmsg", c_char_p, [c_void_p]),
    # Context
    ("graft_ctx_create", c_int, [PP]),
    ("graft_ctx_create_advanced", c_int, [P(Allocator), PP]),
    ("graft_ctx_free", _VOID, [c_void_p]),
    ("graft_ctx_set_int", c_int, [c_void_p, c_int, c_int]),
    ("graft_ctx_get_int", c_int, [c_void_p, c_int, P(c_int)]),
    # Tensors
    ("graft_tensor_create", c_int, [c_void_p, c_int, P(c_int64), PP]),
    ("graft_tensor_create_view", c_int, [c_void_p, c_int, P(c_int64), c_void_p, PP]),
    ("graft_tensor_free", _VOID, [c_void_p]),
    ("graft_tensor_ndim", c_int, [c_void_p]),
    ("graft_tensor_dim", c_int64, [c_void_p, c_int]),
    ("graft_tensor_numel", c_size_t, [c_void_p]),
    ("graft_tensor_data", c_void_p, [c_void_p]),
    ("graft_tensor_data_const", c_void_p, [c_void_p]),
    ("graft_tensor_reshape", c_int, [c_void_p, c_int, P(c_int64)]),
    ("graft_tensor_copy_from", c_int, [c_void_p, c_void_p, c_size_t]),
    ("graft_tensor_copy_to", c_int, [c_void_p, c_void_p, c_size_t]),
    ("graft_tensor_fill", c_int, [c_void_p, c_float]),
    # Images
    ("graft_image_load", c_int, [c_void_p, c_char_p, P(ImageLoadOpts), PP]),
    ("graft_image_load_buffer", c_int, [c_void_p, c_void_p, c_size_t, P(ImageLoadOpts), PP]),
    ("graft_image_format", c_int, [c_void_p, c_size_t]),
    ("graft_image_create", c_int, [c_void_p, c_int, c_int, c_int, PP]),
    ("graft_image_import", c_int, [c_void_p, c_int, c_int, c_int, c_int, c_void_p, PP]),
    ("graft_image_copy", c_int, [c_void_p, PP]),
    ("graft_image_free", _VOID, [c_void_p]),
    ("graft_image_width", c_int, [c_void_p]),
    ("graft_image_height", c_int, [c_void_p]),
    ("graft_image_channels", c_int, [c_void_p]),
    ("graft_image_data", c_void_p, [c_void_p]),
    ("graft_image_data_const", c_void_p, [c_void_p]),
    ("graft_image_export", c_int, [c_void_p, c_int, c_void_p, c_size_t]),
    ("graft_image_to_tensor", c_int, [c_void_p, c_int, PP]),
    ("graft_image_write_tensor", c_int, [c_void_p, c_int, c_void_p, c_int64]),
    ("graft_image_convert", c_int, [c_void_p, c_int]),
    ("graft_image_resize", c_int, [c_void_p, c_int, c_int]),
    ("graft_image_resize_shorter", c_int, [c_void_p, c_int]),
    ("graft_image_crop", c_int, [c_void_p, c_int, c_int, c_int, c_int]),
    ("graft_image_center_crop", c_int, [c_void_p, c_int, c_int]),
    ("graft_image_flip_horizontal", c_int, [c_void_p]),
    ("graft_image_scale", c_int, [c_void_p, c_float]),
    ("graft_image_normalize", c_int, [c_void_p, P(c_float), P(c_float)]),
    ("graft_image_normalize_imagenet", c_int, [c_void_p]),
    ("graft_image_augment", c_int, [c_void_p, P(AugmentSpec)]),
    # Layers
    ("graft_layer_conv2d", c_int, [c_void_p, P(Conv2dSpec), PP]),
    ("graft_layer_max_pool2d", c_int, [c_void_p, P(Pool2dSpec), PP]),
    ("graft_layer_avg_pool2d", c_int, [c_void_p, P(Pool2dSpec), PP]),
    ("graft_layer_global_avg_pool", c_int, [c_void_p, PP]),
    ("graft_layer_dense", c_int, [c_void_p, c_int, c_int, PP]),
    ("graft_layer_batch_norm", c_int, [c_void_p, c_float, c_float, PP]),
    ("graft_layer_relu", c_int, [c_void_p, PP]),
    ("graft_layer_clip", c_int, [c_void_p, c_float, c_float, PP]),
    ("graft_layer_leaky_relu", c_int, [c_void_p, c_float, PP]),
    ("graft_layer_sigmoid", c_int, [c_void_p, PP]),
    ("graft_layer_tanh", c_int, [c_void_p, PP]),
    ("graft_layer_hard_swish", c_int, [c_void_p, PP]),
    ("graft_layer_dropout", c_int, [c_void_p, c_float, c_uint64, PP]),
    ("graft_layer_flatten", c_int, [c_void_p, PP]),
    ("graft_layer_add", c_int, [c_void_p, PP]),
    ("graft_layer_concat", c_int, [c_void_p, PP]),
    ("graft_layer_softmax", c_int, [c_void_p, PP]),
    ("graft_layer_mul", c_int, [c_void_p, PP]),
    ("graft_layer_hard_sigmoid", c_int, [c_void_p, c_float, c_float, PP]),
    ("graft_layer_pad2d", c_int, [c_void_p, P(Pad2dSpec), PP]),
    ("graft_layer_reshape", c_int, [c_void_p, c_int, P(c_int64), PP]),
    ("graft_layer_scale_shift", c_int, [c_void_p, c_int, P(c_int64), PP]),
    ("graft_layer_free", _VOID, [c_void_p]),
    ("graft_layer_kind", c_char_p, [c_void_p]),
    ("graft_layer_build", c_int, [c_void_p, c_int, PP, c_uint64]),
    ("graft_layer_set_training", c_int, [c_void_p, c_int]),
    ("graft_layer_forward", c_int, [c_void_p, c_int, PP, PP]),
    ("graft_layer_backward", c_int, [c_void_p, c_int, PP, c_void_p, PP]),
    ("graft_layer_param_count", c_int, [c_void_p]),
    ("graft_layer_param", c_int, [c_void_p, c_int, P(c_char_p), PP, PP, P(c_int)]),
    # Losses
    ("graft_loss_softmax_cross_entropy", c_int, [c_void_p, c_void_p, P(c_float), c_void_p]),
    ("graft_loss_mse", c_int, [c_void_p, c_void_p, P(c_float), c_void_p]),
    # Models
    ("graft_model_create", c_int, [c_void_p, c_int, P(c_int64), c_uint64, PP]),
    ("graft_model_free", _VOID, [c_void_p]),
    ("graft_model_add", c_int, [c_void_p, c_char_p, c_void_p, c_int, P(c_char_p)]),
    ("graft_model_layer_count", c_int, [c_void_p]),
    ("graft_model_find_layer", c_int, [c_void_p, c_char_p]),
    ("graft_model_layer", c_void_p, [c_void_p, c_int]),
    ("graft_model_layer_name", c_char_p, [c_void_p, c_int]),
    ("graft_model_layer_input_count", c_int, [c_void_p, c_int]),
    ("graft_model_layer_input_name", c_char_p, [c_void_p, c_int, c_int]),
    ("graft_model_layer_output_shape", c_int, [c_void_p, c_int, P(c_int), P(c_int64)]),
    ("graft_model_layer_param_count", c_int64, [c_void_p, c_int]),
    ("graft_model_layer_trainable", c_int, [c_void_p, c_int]),
    ("graft_model_param_count", c_int64, [c_void_p, c_int]),
    ("graft_model_flops", c_int64, [c_void_p]),
    ("graft_model_summary", c_int, [c_void_p, c_char_p, c_size_t, P(c_size_t)]),
    ("graft_model_set_class_names", c_int, [c_void_p, c_int, P(c_char_p)]),
    ("graft_model_class_count", c_int, [c_void_p]),
    ("graft_model_class_name", c_char_p, [c_void_p, c_int]),
    ("graft_model_epochs_done", c_int64, [c_void_p]),
    ("graft_model_forward", c_int, [c_void_p, c_void_p, PP]),
    ("graft_model_predict", c_int, [c_void_p, c_void_p, c_void_p]),
    ("graft_model_predict_topk", c_int, [c_void_p, c_void_p, c_int, c_void_p, c_void_p]),
    # Optimizers
    ("graft_optim_create", c_int, [c_void_p, c_int, PP]),
    ("graft_optim_free", _VOID, [c_void_p]),
    ("graft_optim_set", c_int, [c_void_p, c_int, c_double]),
    ("graft_optim_get", c_int, [c_void_p, c_int, P(c_double)]),
    ("graft_optim_bounds", c_int, [c_int, c_int, P(c_double), P(c_double)]),
    ("graft_optim_lr_at", c_double, [c_void_p, c_double]),
    ("graft_optim_steps", c_int64, [c_void_p]),
    # Datasets
    ("graft_dataset_from_memory", c_int,
     [c_void_p, c_int64, c_int, P(c_int64), c_void_p, c_void_p, c_int, c_int, PP]),
    ("graft_dataset_free", _VOID, [c_void_p]),
    ("graft_dataset_size", c_int64, [c_void_p]),
    ("graft_dataset_class_count", c_int, [c_void_p]),
    ("graft_dataset_sample_shape", c_int, [c_void_p, P(c_int), P(c_int64)]),
    ("graft_dataset_get", c_int, [c_void_p, c_int64, c_void_p, P(ctypes.c_int32)]),
    ("graft_dataset_split", c_int, [c_void_p, c_double, c_uint64, PP, PP]),
    # Datasets from files
    ("graft_dataset_from_idx", c_int, [c_void_p, c_char_p, c_char_p, c_float, c_int, PP]),
    ("graft_dataset_from_csv", c_int, [c_void_p, c_char_p, P(CsvOpts), PP]),
    ("graft_dataset_from_folder", c_int, [c_void_p, c_char_p, P(FolderOpts), PP]),
    ("graft_dataset_class_name", c_char_p, [c_void_p, c_int]),
    ("graft_dataset_sample_path", c_char_p, [c_void_p, c_int64]),
    ("graft_dataset_skipped_count", c_int64, [c_void_p]),
    ("graft_dataset_skipped_path", c_char_p, [c_void_p, c_int64]),
    ("graft_dataset_skipped_reason", c_char_p, [c_void_p, c_int64]),
    ("graft_dataset_set_epoch", c_int, [c_void_p, c_int64]),
    ("graft_dataset_is_deterministic", c_int, [c_void_p]),
    ("graft_dataset_gather", c_int, [c_void_p, P(c_int64), c_int, c_void_p, c_void_p]),
    # Training, evaluation
    ("graft_progress_get", c_double, [c_void_p, c_int]),
    ("graft_model_fit", c_int, [c_void_p, c_void_p, c_void_p, c_void_p, P(FitOpts)]),
    ("graft_model_evaluate", c_int, [c_void_p, c_void_p, c_int, c_int, PP]),
    ("graft_eval_free", _VOID, [c_void_p]),
    ("graft_eval_get", c_double, [c_void_p, c_int]),
    ("graft_eval_class_count", c_int, [c_void_p]),
    ("graft_eval_confusion", c_int64, [c_void_p, c_int, c_int]),
    ("graft_eval_precision", c_double, [c_void_p, c_int]),
    ("graft_eval_recall", c_double, [c_void_p, c_int]),
    # Transfer learning
    ("graft_model_set_trainable", c_int, [c_void_p, c_int, c_int, c_int]),
    ("graft_model_set_trainable_by_name", c_int, [c_void_p, c_char_p, c_int]),
    ("graft_model_freeze_through", c_int, [c_void_p, c_char_p]),
    ("graft_model_freeze_all_but_last", c_int, [c_void_p, c_int]),
    ("graft_model_set_lr_scale", c_int, [c_void_p, c_int, c_int, c_float]),
    ("graft_model_layer_lr_scale", c_float, [c_void_p, c_int]),
    ("graft_model_schedule_unfreeze", c_int, [c_void_p, c_char_p, c_int, c_float]),
    ("graft_model_clear_unfreeze_schedule", c_int, [c_void_p]),
    ("graft_model_set_option", c_int, [c_void_p, c_int, c_int64]),
    ("graft_model_get_option", c_int, [c_void_p, c_int, P(c_int64)]),
    ("graft_model_cut", c_int, [c_void_p, c_char_p]),
    ("graft_model_replace_head", c_int, [c_void_p, c_int, P(HeadSpec)]),
    ("graft_model_load_weights", c_int, [c_void_p, c_char_p, PP]),
    ("graft_load_report_count", c_int, [c_void_p, c_int]),
    ("graft_load_report_entry", c_int,
     [c_void_p, c_int, P(c_char_p), P(c_int), P(c_char_p)]),
    ("graft_load_report_free", _VOID, [c_void_p]),
    # Model files and checkpoints
    ("graft_model_save", c_int, [c_void_p, c_char_p]),
    ("graft_model_load", c_int, [c_void_p, c_char_p, PP]),
    ("graft_model_load_buffer", c_int, [c_void_p, c_void_p, c_size_t, PP]),
    ("graft_checkpoint_save", c_int, [c_void_p, c_void_p, c_char_p]),
    ("graft_checkpoint_load", c_int, [c_void_p, c_char_p, PP, PP]),
    # ONNX import and export
    ("graft_onnx_import", c_int, [c_void_p, c_char_p, P(OnnxImportOpts), PP]),
    ("graft_onnx_import_buffer", c_int,
     [c_void_p, c_void_p, c_size_t, P(OnnxImportOpts), PP]),
    ("graft_onnx_export", c_int, [c_void_p, c_char_p, P(OnnxExportOpts)]),
    ("graft_onnx_export_buffer", c_int, [c_void_p, P(OnnxExportOpts), PP, P(c_size_t)]),
    ("graft_onnx_buffer_free", _VOID, [c_void_p, c_void_p]),
]


# ---- loading ----------------------------------------------------------------------


def candidate_paths():
    """The places searched for the library, in order, as (path, source)
    pairs; a bare soname means the dynamic loader's own search."""
    env = os.environ.get("GRAFT_LIBRARY")
    if env:
        path = os.path.join(env, SONAME) if os.path.isdir(env) else env
        return [(path, "GRAFT_LIBRARY")]
    found = [(os.path.join(_PACKAGE_DIR, SONAME), "the package folder")]
    root = os.path.dirname(os.path.dirname(_PACKAGE_DIR))
    if os.path.isfile(os.path.join(root, "include", "graft.h")):
        found.append((os.path.join(root, "lib", SONAME), "the source checkout"))
    found.append((SONAME, "the dynamic loader's search path"))
    for d in ("/usr/local/lib", "/usr/lib"):
        found.append((os.path.join(d, SONAME), d))
    return found


def check_version(lib, path):
    """Raises ImportError unless the library's major version is the one this
    binding is written for."""
    number = int(lib.graft_version_number())
    major = number // 10000
    if major != LIBRARY_MAJOR:
        text = lib.graft_version_string()
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        raise ImportError(
            "the graft Python package is written for libgraft major version %d, but %s "
            "is version %s (major version %d); install libgraft %d.x or a graft package "
            "made for version %d" % (LIBRARY_MAJOR, path, text, major, LIBRARY_MAJOR, major))
    return number


def _declare(lib):
    """Sets restype/argtypes of every function; a missing one is an ImportError
    (the library is older than the header this binding follows)."""
    missing = []
    for name, restype, argtypes in PROTOTYPES:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    return missing


def open_library(path):
    """Loads the library at path, checks its version and declares its
    functions. Raises OSError when it cannot be loaded, ImportError when it
    is the wrong version or lacks functions."""
    lib = ctypes.CDLL(path)
    lib.graft_version_number.restype = c_int
    lib.graft_version_number.argtypes = []
    lib.graft_version_string.restype = c_char_p
    lib.graft_version_string.argtypes = []
    check_version(lib, path)
    missing = _declare(lib)
    if missing:
        raise ImportError("%s lacks %d function(s) this graft package needs: %s"
                          % (path, len(missing), ", ".join(missing)))
    return lib


def load():
    """Finds and opens the library (see the module docstring). Returns
    (lib, path)."""
    tried = []
    for path, source in candidate_paths():
        if os.path.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, source))
            continue
        try:
            return open_library(path), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, source, e))
    raise ImportError(
        "cannot load %s; tried:\n  %s\nBuild it with `make` in graft's source folder, "
        "install it with `make install`, or set GRAFT_LIBRARY to its path"
        % (SONAME, "\n  ".join(tried)))


C, PATH = load()

# ---- calling ------------------------------------------------------------------------


def errmsg():
    """The calling thread's last graft error message (graft_errmsg(NULL)),
    which every failed call sets."""
    m = C.graft_errmsg(None)
    return m.decode("utf-8", "replace") if m else ""


def strerror(code):
    """graft_strerror(): a short static description of a status code."""
    return C.graft_strerror(int(code)).decode("utf-8", "replace")


def check(status):
    """Raises the exception for a negative status, with the thread's message;
    returns status otherwise."""
    if status < 0:
        msg = errmsg() or strerror(status)
        raise errors.error_for(status, msg)
    return status


def call(fn, *args):
    """Calls a status-returning C function and raises on failure."""
    return check(fn(*args))


def encode(text, what):
    """str (or bytes) to bytes for a C string argument."""
    if isinstance(text, bytes):
        return text
    if not isinstance(text, str):
        raise TypeError("%s must be a str, not %s" % (what, type(text).__name__))
    return text.encode("utf-8")


def encode_path(path):
    """A filesystem path (str, bytes or os.PathLike) to bytes."""
    return os.fsencode(path)


def decode(raw):
    """bytes from C (or None) to str (or None)."""
    return None if raw is None else raw.decode("utf-8", "replace")


def int64_array(values):
    """A ctypes int64 array holding values."""
    values = [int(v) for v in values]
    return (c_int64 * max(len(values), 1))(*values)


def string_array(strings, what):
    """A ctypes char* array for strings, and the list that keeps them alive."""
    raw = [encode(s, what) for s in strings]
    return (c_char_p * max(len(raw), 1))(*raw), raw

