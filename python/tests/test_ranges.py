"""Nothing reaches graft but the value given: an integer out of the range of
its C type raises OverflowError (ctypes would keep its low bits, so
``layers.dense(2**32 + 3)`` built 3 units), and a path or name holding a NUL
byte raises ValueError (C would read it up to the NUL, so
``save("victim\\x00.graft")`` wrote "victim"), in both cases before graft is
called, so nothing is created, changed or written.

Three layers of tests:

* CallLayer: every prototype of _api.FUNCTIONS with an integer or string
  parameter, called through _lib.C with each such argument out of range or
  holding a NUL (the foreign function replaced by a recorder, so a missing
  check cannot call graft with made-up arguments); every integer, array
  and string member of every option struct of _api.STRUCTS likewise.
* Coverage: every integer parameter and struct member of the header is
  either driven through the public API below (PUBLIC) or listed with the
  reason no caller's integer reaches it (INTERNAL); a parameter new in
  graft.h fails here until it is classified.
* The public API end to end: the examples of the issue, one test per
  PUBLIC entry, and a NUL byte in every path and name argument.
"""

import ctypes
import os
import pathlib
import unittest
from unittest import mock

import graft_testutil as tu
from graft_testutil import graft, layers

import gen_api
from test_model import flat
from graft import _api, _lib


def _ranges():
    """type name -> (lowest, highest, description), worked out here rather
    than taken from _lib."""
    found = {}
    for name, what in (("c_int", "a C int"), ("c_int32", "an int32_t"),
                       ("c_int64", "an int64_t")):
        bits = 8 * ctypes.sizeof(getattr(ctypes, name))
        found[name] = (-2 ** (bits - 1), 2 ** (bits - 1) - 1, what)
    for name, what in (("c_uint32", "a uint32_t"), ("c_uint64", "a uint64_t"),
                       ("c_size_t", "a size_t")):
        found[name] = (0, 2 ** (8 * ctypes.sizeof(getattr(ctypes, name))) - 1, what)
    return found


RANGES = _ranges()

#: Out-of-range values per type: just outside either end, and the values
#: whose low bits look harmless (2**32 + 3 is 3 as an int, 2**64 is 0).
BAD = {
    "c_int": (2 ** 31, -2 ** 31 - 1, 2 ** 32 + 3, -2 ** 63 - 1, 2 ** 64),
    "c_int32": (2 ** 31, -2 ** 31 - 1, 2 ** 32 + 3),
    "c_int64": (2 ** 63, -2 ** 63 - 1, 2 ** 64 + 3),
    "c_uint32": (2 ** 32, -1, 2 ** 32 + 3),
    "c_uint64": (2 ** 64, -1, 2 ** 64 + 3, -2 ** 63 - 1),
    "c_size_t": (2 ** 64, -1, 2 ** 64 + 3),
}


def out_of_range_message(what, value, type_name):
    lo, hi, desc = RANGES[type_name]
    return "%s: %d is out of range for %s (%d to %d)" % (what, value, desc, lo, hi)


def dummy(type_name):
    """A harmless argument of a type (never passed to graft here)."""
    if type_name in RANGES:
        return 0
    if type_name in ("c_float", "c_double"):
        return 0.0
    return None


#: function -> its argument types, as _api.py names them
ARG_TYPES = {name: args for name, _, args in _api.FUNCTIONS}


def integer_parameters():
    """(function, index, parameter name, type) of every integer parameter."""
    for name, _, args in _api.FUNCTIONS:
        for k, t in enumerate(args):
            if t in RANGES:
                yield name, k, _api.ARGUMENT_NAMES[name][k], t


def string_parameters():
    for name, _, args in _api.FUNCTIONS:
        for k, t in enumerate(args):
            if t == "c_char_p":
                yield name, k, _api.ARGUMENT_NAMES[name][k]


def struct_class(c_name):
    return _lib.ctype(gen_api.class_name(c_name))


def struct_members():
    """(struct, member, type, array length or None) of every member of an
    integer type or an array of one, and of every char * member."""
    for c_name, members in _api.STRUCTS.items():
        for member, t in members:
            base, _, count = t.partition(" * ")
            if base in RANGES or t == "c_char_p":
                yield c_name, member, base, int(count) if count else None


class _Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)
        return 0


class CallLayer(unittest.TestCase):
    def checked(self, name):
        """_lib.C's function name, failing (without calling it) when it is the
        unchecked foreign function."""
        fn = getattr(_lib.C, name)
        self.assertNotIsInstance(fn, ctypes._CFuncPtr,
                                 "_lib.C.%s is the foreign function itself, unchecked" % name)
        return fn

    def test_every_integer_argument_is_range_checked(self):
        count = 0
        for name, k, what, t in integer_parameters():
            args = [dummy(a) for a in ARG_TYPES[name]]
            for bad in BAD[t]:
                with self.subTest(function=name, argument=what, value=bad):
                    fn = self.checked(name)
                    rec = _Recorder()
                    args[k] = bad
                    with mock.patch.object(_lib.RAW, name, rec):
                        with self.assertRaises(OverflowError) as cm:
                            fn(*args)
                    self.assertEqual(str(cm.exception), out_of_range_message(what, bad, t))
                    self.assertEqual(rec.calls, [], "%s was called" % name)
                    count += 1
        self.assertGreater(count, 200)

    def test_in_range_integers_and_bools_pass_unchanged(self):
        for name, k, what, t in integer_parameters():
            types = ARG_TYPES[name]
            lo, hi, _ = RANGES[t]
            for good in (lo, hi, 0, 1, True, False):
                with self.subTest(function=name, argument=what, value=good):
                    fn = self.checked(name)
                    args = [dummy(a) for a in types]
                    args[k] = good
                    rec = _Recorder()
                    with mock.patch.object(_lib.RAW, name, rec):
                        fn(*args)
                    self.assertEqual(len(rec.calls), 1)
                    self.assertIs(rec.calls[0][k], good)

    def test_values_of_other_types_are_left_to_ctypes(self):
        # A float where C takes an int is ctypes' ArgumentError, as before.
        with self.assertRaises(ctypes.ArgumentError):
            _lib.C.graft_strerror(1.5)
        self.assertEqual(_lib.C.graft_strerror(_api.GRAFT_E_SHAPE), graft.strerror(-3).encode())

    def test_every_string_argument_is_nul_checked(self):
        count = 0
        for name, k, what in string_parameters():
            types = ARG_TYPES[name]
            for bad in (b"victim\x00.graft", "victim\x00.graft", b"\x00", "a\x00"):
                with self.subTest(function=name, argument=what, value=bad):
                    fn = self.checked(name)
                    args = [dummy(a) for a in types]
                    args[k] = bad
                    rec = _Recorder()
                    with mock.patch.object(_lib.RAW, name, rec):
                        with self.assertRaises(ValueError) as cm:
                            fn(*args)
                    self.assertEqual(str(cm.exception), "%s: embedded null byte" % what)
                    self.assertEqual(rec.calls, [])
                    count += 1
            args = [dummy(a) for a in types]
            args[k] = b"fine.graft"
            rec = _Recorder()
            with mock.patch.object(_lib.RAW, name, rec):
                self.checked(name)(*args)
            self.assertEqual(rec.calls, [tuple(args)])
        self.assertGreater(count, 40)

    def test_functions_without_such_arguments_are_the_foreign_functions(self):
        for name, _, args in _api.FUNCTIONS:
            if not any(a in RANGES or a == "c_char_p" for a in args):
                self.assertIs(getattr(_lib.C, name), getattr(_lib.RAW, name), name)

    def test_every_integer_struct_member_is_range_checked(self):
        count = 0
        for c_name, member, t, length in struct_members():
            if t == "c_char_p" or length is not None:
                continue
            cls = struct_class(c_name)
            for bad in BAD[t]:
                with self.subTest(struct=c_name, member=member, value=bad):
                    message = out_of_range_message(member, bad, t)
                    with self.assertRaises(OverflowError) as cm:
                        _lib.new_struct(cls, **{member: bad})
                    self.assertEqual(str(cm.exception), message)
                    with self.assertRaises(OverflowError):
                        cls(**{member: bad})
                    s = _lib.new_struct(cls)
                    before = getattr(s, member)
                    with self.assertRaises(OverflowError) as cm:
                        setattr(s, member, bad)
                    self.assertEqual(str(cm.exception), message)
                    self.assertEqual(getattr(s, member), before, "the member was written")
                    count += 1
            lo, hi, _ = RANGES[t]
            for good in (lo, hi, True):
                s = _lib.new_struct(cls, **{member: good})
                self.assertEqual(getattr(s, member), int(good), (c_name, member))
        self.assertGreater(count, 150)

    def test_integer_array_members(self):
        count = 0
        for c_name, member, t, length in struct_members():
            if length is None:
                continue
            cls = struct_class(c_name)
            lo, hi, _ = RANGES[t]
            with self.subTest(struct=c_name, member=member):
                s = _lib.new_struct(cls)
                for bad in BAD[t]:
                    with self.assertRaises(OverflowError) as cm:
                        setattr(s, member, [1] * (length - 1) + [bad])
                    self.assertEqual(str(cm.exception), out_of_range_message(
                        "%s[%d]" % (member, length - 1), bad, t))
                    self.assertEqual(list(getattr(s, member)), [0] * length)
                with self.assertRaises(ValueError):
                    setattr(s, member, [1] * (length + 1))
                setattr(s, member, (hi, lo))
                self.assertEqual(list(getattr(s, member)), [hi, lo] + [0] * (length - 2))
                count += 1
        self.assertGreaterEqual(count, 3)

    def test_every_string_struct_member_is_nul_checked(self):
        count = 0
        for c_name, member, t, _ in struct_members():
            if t != "c_char_p":
                continue
            cls = struct_class(c_name)
            with self.subTest(struct=c_name, member=member):
                s = _lib.new_struct(cls)
                with self.assertRaises(ValueError) as cm:
                    setattr(s, member, b"in\x00put")
                self.assertEqual(str(cm.exception), "%s: embedded null byte" % member)
                self.assertIsNone(getattr(s, member))
                with self.assertRaises(ValueError):
                    _lib.new_struct(cls, **{member: b"in\x00put"})
                setattr(s, member, b"input")
                self.assertEqual(getattr(s, member), b"input")
                count += 1
        self.assertGreaterEqual(count, 3)

    def test_new_struct_refuses_unknown_members(self):
        with self.assertRaises(TypeError):
            _lib.new_struct(_lib.FitOpts, epoch=3)  # the member is "epochs"

    def test_converters(self):
        with self.assertRaises(OverflowError) as cm:
            _lib.int64_array([1, 2 ** 63], "shape")
        self.assertEqual(str(cm.exception), out_of_range_message("shape[1]", 2 ** 63, "c_int64"))
        with self.assertRaises(OverflowError):
            _lib.int64_array([-2 ** 63 - 1])
        self.assertEqual(list(_lib.int64_array([2 ** 63 - 1, -2 ** 63])), [2 ** 63 - 1, -2 ** 63])
        for bad in ("a\x00b", b"a\x00b"):
            with self.assertRaises(ValueError):
                _lib.encode(bad, "name")
            with self.assertRaises(ValueError):
                _lib.encode_path(bad)
            with self.assertRaises(ValueError):
                _lib.string_array(["ok", bad], "class names")
        with self.assertRaises(ValueError):
            _lib.encode_path(pathlib.Path("victim\x00.graft"))


# ---- coverage: which public call drives each integer parameter ---------------------------

#: "function:parameter" or "struct.member" -> the PublicIntegers test that
#: passes it an out-of-range value through the public API.
PUBLIC = {
    "graft_strerror:status": "test_strerror",
    "graft_ctx_set_int:value": "test_context_settings",
    "graft_image_create:width": "test_image_new",
    "graft_image_create:height": "test_image_new",
    "graft_image_create:channels": "test_image_new",
    "graft_image_import:width": "test_image_from_array",
    "graft_image_import:height": "test_image_from_array",
    "graft_image_import:channels": "test_image_from_array",
    "graft_image_write_tensor:n": "test_image_write_to",
    "graft_image_convert:channels": "test_image_transforms",
    "graft_image_resize:width": "test_image_transforms",
    "graft_image_resize:height": "test_image_transforms",
    "graft_image_resize_shorter:size": "test_image_transforms",
    "graft_image_crop:x": "test_image_transforms",
    "graft_image_crop:y": "test_image_transforms",
    "graft_image_crop:width": "test_image_transforms",
    "graft_image_crop:height": "test_image_transforms",
    "graft_image_center_crop:width": "test_image_transforms",
    "graft_image_center_crop:height": "test_image_transforms",
    "graft_layer_dense:units": "test_dense",
    "graft_layer_slice:axis": "test_slice",
    "graft_layer_slice:start": "test_slice",
    "graft_layer_slice:end": "test_slice",
    "graft_layer_slice:step": "test_slice",
    "graft_layer_concat_axis:axis": "test_concat_axis",
    "graft_layer_linear:units": "test_linear",
    "graft_layer_softmax_axis:axis": "test_softmax_axis",
    "graft_layer_layer_norm:axes": "test_layer_norm",
    "graft_layer_dropout:seed": "test_dropout",
    "graft_model_create:seed": "test_model_create",
    "graft_model_predict_topk:k": "test_predict_topk",
    "graft_model_predict_tta:views": "test_predict_tta",
    "graft_image_pad:left": "test_image_pad_letterbox",
    "graft_image_pad:top": "test_image_pad_letterbox",
    "graft_image_pad:right": "test_image_pad_letterbox",
    "graft_image_pad:bottom": "test_image_pad_letterbox",
    "graft_image_letterbox:width": "test_image_pad_letterbox",
    "graft_image_letterbox:height": "test_image_pad_letterbox",
    "graft_augment_preset:preset": "test_augment_preset",
    "graft_augment_preset:crop_width": "test_augment_preset",
    "graft_augment_preset:crop_height": "test_augment_preset",
    "graft_dataset_from_memory:n_classes": "test_from_memory",
    "graft_dataset_split:seed": "test_split",
    "graft_dataset_split_stratified:seed": "test_split_stratified",
    "graft_dataset_subset_per_class:k": "test_subset_per_class",
    "graft_dataset_subset_per_class:seed": "test_subset_per_class",
    "graft_dataset_from_idx:n_classes": "test_from_idx",
    "graft_dataset_sample_path:i": "test_dataset_positions",
    "graft_dataset_set_epoch:epoch": "test_dataset_positions",
    "graft_model_evaluate:batch_size": "test_evaluate",
    "graft_model_evaluate_targets:batch_size": "test_evaluate_targets",
    "graft_model_evaluate:top_k": "test_evaluate",
    "graft_model_set_trainable:first": "test_set_trainable",
    "graft_model_set_trainable:last": "test_set_trainable",
    "graft_model_freeze_all_but_last:n": "test_freeze_all_but_last",
    "graft_model_set_lr_scale:first": "test_set_lr_scale",
    "graft_model_set_lr_scale:last": "test_set_lr_scale",
    "graft_model_schedule_unfreeze:epoch": "test_schedule_unfreeze",
    "graft_model_set_option:value": "test_model_option",
    "graft_model_replace_head:n_classes": "test_replace_head",
    # option structs
    "graft_image_load_opts.channels": "test_image_load",
    "graft_image_load_opts.max_pixels": "test_image_load",
    "graft_augment_spec.seed": "test_augment",
    "graft_augment_spec.crop_width": "test_augment",
    "graft_augment_spec.crop_height": "test_augment",
    "graft_conv2d_spec.out_channels": "test_conv2d",
    "graft_conv2d_spec.kernel_h": "test_conv2d",
    "graft_conv2d_spec.kernel_w": "test_conv2d",
    "graft_conv2d_spec.stride_h": "test_conv2d",
    "graft_conv2d_spec.stride_w": "test_conv2d",
    "graft_conv2d_spec.pad_top": "test_conv2d",
    "graft_conv2d_spec.pad_left": "test_conv2d",
    "graft_conv2d_spec.pad_bottom": "test_conv2d",
    "graft_conv2d_spec.pad_right": "test_conv2d",
    "graft_conv2d_spec.dilation_h": "test_conv2d",
    "graft_conv2d_spec.dilation_w": "test_conv2d",
    "graft_conv2d_spec.groups": "test_conv2d",
    "graft_pool2d_spec.kernel_h": "test_pooling",
    "graft_pool2d_spec.kernel_w": "test_pooling",
    "graft_pool2d_spec.stride_h": "test_pooling",
    "graft_pool2d_spec.stride_w": "test_pooling",
    "graft_pool2d_spec.pad_top": "test_pooling",
    "graft_pool2d_spec.pad_left": "test_pooling",
    "graft_pool2d_spec.pad_bottom": "test_pooling",
    "graft_pool2d_spec.pad_right": "test_pooling",
    "graft_pad2d_spec.pad_top": "test_pad2d",
    "graft_pad2d_spec.pad_left": "test_pad2d",
    "graft_pad2d_spec.pad_bottom": "test_pad2d",
    "graft_pad2d_spec.pad_right": "test_pad2d",
    "graft_upsample2d_spec.out_h": "test_upsample2d",
    "graft_upsample2d_spec.out_w": "test_upsample2d",
    "graft_conv_transpose2d_spec.out_channels": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.kernel_h": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.kernel_w": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.stride_h": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.stride_w": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.pad_top": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.pad_left": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.pad_bottom": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.pad_right": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.output_padding_h": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.output_padding_w": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.dilation_h": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.dilation_w": "test_conv_transpose2d",
    "graft_conv_transpose2d_spec.groups": "test_conv_transpose2d",
    "graft_csv_opts.header_rows": "test_from_csv",
    "graft_csv_opts.dims": "test_from_csv",
    "graft_csv_opts.n_classes": "test_from_csv",
    "graft_csv_opts.n_targets": "test_from_csv",
    "graft_folder_opts.channels": "test_from_folder",
    "graft_folder_opts.width": "test_from_folder",
    "graft_folder_opts.height": "test_from_folder",
    "graft_folder_opts.shorter_side": "test_from_folder",
    "graft_folder_opts.seed": "test_from_folder",
    "graft_folder_opts.threads": "test_from_folder",
    "graft_fit_opts.epochs": "test_fit",
    "graft_fit_opts.batch_size": "test_fit",
    "graft_fit_opts.seed": "test_fit",
    "graft_fit_opts.early_stop_patience": "test_fit_callbacks",
    "graft_fit_opts.plateau_patience": "test_fit_callbacks",
    "graft_fit_opts.plateau_cooldown": "test_fit_callbacks",
    "graft_head_spec.hidden_units": "test_replace_head",
    "graft_head_spec.seed": "test_replace_head",
    "graft_onnx_import_opts.seed": "test_import_onnx",
    "graft_onnx_export_opts.opset": "test_export_onnx",
    "graft_tensor_encode_png:columns": "test_tensor_png",
    "graft_tensor_save_png:columns": "test_tensor_png",
    "graft_dataset_from_callback:count": "test_from_callback",
    "graft_dataset_from_callback:n_classes": "test_from_callback",
    "graft_model_predict_dataset:batch_size": "test_predict_dataset",
    "graft_model_reinit:seed": "test_reinit",
    "graft_model_reinit_layers:first": "test_reinit",
    "graft_model_reinit_layers:last": "test_reinit",
    "graft_model_reinit_layers:seed": "test_reinit",
    "graft_grid_opts.cell_width": "test_from_grid",
    "graft_grid_opts.cell_height": "test_from_grid",
    "graft_grid_opts.margin": "test_from_grid",
    "graft_grid_opts.spacing": "test_from_grid",
    "graft_grid_opts.rows": "test_from_grid",
    "graft_grid_opts.columns": "test_from_grid",
    "graft_grid_opts.count": "test_from_grid",
    "graft_grid_opts.n_classes": "test_from_grid",
    "graft_grid_opts.channels": "test_from_grid",
    "graft_model_predict_image:k": "test_predict_image",
    "graft_model_predict_image_buffer:k": "test_predict_image",
    "graft_preprocess.channels": "test_preprocess",
    "graft_preprocess.width": "test_preprocess",
    "graft_preprocess.height": "test_preprocess",
    "graft_preprocess.shorter_side": "test_preprocess",
}

_COUNT = "a count the binding takes from len() of what it passes"
_INDEX = "an index the binding computes (from a name, or a loop over a count)"
_KEY = "a GRAFT_* key or code the binding picks from its own table"
_FLAG = "a flag the binding passes as 1 if value else 0"
_SIZE = "the size of a buffer the binding passes"
_UNUSED = "the binding never calls this function"

#: "function:parameter" or "struct.member" -> why no caller's integer reaches it.
INTERNAL = {
    "graft_augment_preset_name:preset": _INDEX,
    "graft_model_prepare_image:slot": _UNUSED,
    "graft_ctx_set_int:key": _KEY,
    "graft_ctx_get_int:key": _KEY,
    "graft_tensor_create:ndim": _COUNT,
    "graft_tensor_create_view:ndim": _COUNT,
    "graft_tensor_dim:i": _INDEX,
    "graft_tensor_reshape:ndim": _COUNT,
    "graft_tensor_copy_from:count": _SIZE,
    "graft_tensor_copy_to:count": _UNUSED,
    "graft_image_load_buffer:size": _SIZE,
    "graft_image_format:size": _SIZE,
    "graft_image_import:flags": _KEY,
    "graft_image_export:flags": _KEY,
    "graft_image_export:count": _SIZE,
    "graft_image_to_tensor:flags": _KEY,
    "graft_image_write_tensor:flags": _KEY,
    "graft_model_clone:flags": _FLAG,
    "graft_layer_dense:bias": _FLAG,
    "graft_layer_linear:bias": _FLAG,
    "graft_layer_layer_norm:affine": _FLAG,
    "graft_layer_gelu:approximate": _KEY,
    "graft_layer_reshape:ndim": _COUNT,
    "graft_layer_transpose:ndim": _COUNT,
    "graft_layer_scale_shift:ndim": _COUNT,
    "graft_layer_build:n_inputs": _UNUSED,
    "graft_layer_build:seed": _UNUSED,
    "graft_layer_set_training:training": _UNUSED,
    "graft_layer_forward:n_inputs": _UNUSED,
    "graft_layer_backward:n_inputs": _UNUSED,
    "graft_layer_param:i": _INDEX,
    "graft_model_create:ndim": _COUNT,
    "graft_model_add:n_inputs": _COUNT,
    "graft_model_layer:i": _INDEX,
    "graft_model_layer_name:i": _INDEX + "; model[i] checks i against len(model)",
    "graft_model_layer_input_count:i": _INDEX,
    "graft_model_layer_input_name:i": _INDEX,
    "graft_model_layer_input_name:k": _INDEX,
    "graft_model_layer_output_shape:i": _INDEX,
    "graft_model_layer_param_count:i": _INDEX,
    "graft_model_layer_trainable:i": _INDEX,
    "graft_model_param_count:trainable_only": _FLAG,
    "graft_model_summary:size": _SIZE,
    "graft_model_set_class_names:n_classes": _COUNT,
    "graft_model_class_name:c": _INDEX,
    "graft_optim_create:kind": _KEY,
    "graft_optim_set:key": _KEY,
    "graft_optim_get:key": _KEY,
    "graft_optim_bounds:kind": _KEY,
    "graft_optim_bounds:key": _KEY,
    "graft_dataset_from_memory:count": _COUNT,
    "graft_dataset_from_memory:ndim": _COUNT,
    "graft_dataset_from_memory:copy": _FLAG,
    "graft_dataset_get:i": _INDEX + "; dataset[i] checks i against len(dataset)",
    "graft_dataset_class_name:c": _INDEX,
    "graft_dataset_skipped_path:i": _INDEX,
    "graft_dataset_skipped_reason:i": _INDEX,
    "graft_dataset_gather:n": _COUNT,
    "graft_progress_get:key": _KEY,
    "graft_eval_get:key": _KEY,
    "graft_eval_confusion:true_class": _INDEX,
    "graft_eval_confusion:predicted": _INDEX,
    "graft_eval_precision:c": _INDEX,
    "graft_eval_recall:c": _INDEX,
    "graft_eval_f1:c": _INDEX,
    "graft_eval_auc:c": _INDEX,
    "graft_model_set_trainable:trainable": _FLAG,
    "graft_model_set_trainable_by_name:trainable": _FLAG,
    "graft_model_layer_lr_scale:i": _INDEX,
    "graft_model_set_option:key": _KEY,
    "graft_model_get_option:key": _KEY,
    "graft_load_report_count:status": _KEY,
    "graft_load_report_entry:i": _INDEX,
    "graft_model_load_buffer:size": _SIZE,
    "graft_checkpoint_load_buffer:size": _SIZE,
    "graft_model_predict_image_buffer:size": _SIZE,
    "graft_preprocess.resize": _KEY,
    "graft_preprocess.normalize": _KEY,
    "graft_preprocess.reserved": "reserved, left zero",
    "graft_onnx_import_buffer:size": _SIZE,
    # option structs
    "graft_conv2d_spec.bias": _FLAG,
    "graft_pool2d_spec.ceil_mode": _FLAG,
    "graft_pool2d_spec.count_include_pad": _FLAG,
    "graft_pad2d_spec.mode": _KEY,
    "graft_upsample2d_spec.mode": _KEY,
    "graft_upsample2d_spec.coord": _KEY,
    "graft_upsample2d_spec.nearest": _KEY,
    "graft_conv_transpose2d_spec.bias": _FLAG,
    "graft_csv_opts.label_column": _KEY,
    "graft_csv_opts.ndim": _COUNT,
    "graft_csv_opts.delimiter": "ord() of the one-character delimiter",
    "graft_csv_opts.reserved": "reserved, left zero",
    "graft_folder_opts.resize": _KEY,
    "graft_folder_opts.normalize": _KEY,
    "graft_folder_opts.augment": _FLAG,
    "graft_folder_opts.on_error": _KEY,
    "graft_folder_opts.verify": _KEY,
    "graft_folder_opts.reserved": "reserved, left zero",
    "graft_fit_opts.shuffle": _FLAG,
    "graft_fit_opts.monitor": _KEY,
    "graft_fit_opts.restore_best": _FLAG,
    "graft_fit_opts.n_class_weights": _COUNT,
    "graft_fit_opts.n_sample_weights": _COUNT,
    "graft_fit_opts.n_pos_weight": _COUNT,
    "graft_fit_opts.regression_loss": _KEY + " (fit() maps \"mse\" and \"l1\")",
    "graft_dataset_from_memory_targets:count": _COUNT,
    "graft_dataset_from_memory_targets:ndim": _COUNT,
    "graft_dataset_from_memory_targets:n_targets": _COUNT,
    "graft_dataset_from_memory_targets:copy": _FLAG,
    "graft_dataset_gather_targets:n": _COUNT,
    "graft_eval_target_get:j": _INDEX,
    "graft_eval_target_get:key": _KEY,
    "graft_onnx_import_opts.keep_softmax": _FLAG,
    "graft_onnx_import_opts.batch_axis": _FLAG,
    "graft_onnx_import_opts.n_bound": _COUNT,
    "graft_onnx_import_opts.input_ndim": _COUNT,
    "graft_onnx_export_opts.fold_batch_norm": _FLAG,
    "graft_dataset_from_callback:ndim": _COUNT,
    "graft_dataset_from_callback:flags": _FLAG,
    "graft_model_reinit_layers:trainable_only": _FLAG,
    "graft_grid_opts.label_by": _KEY,
    "graft_grid_opts.normalize": _KEY,
    "graft_grid_opts.reserved": "reserved, left zero",
}


def integer_keys():
    """Every "function:parameter" and "struct.member" of an integer type
    (struct_size aside: new_struct() sets it)."""
    keys = ["%s:%s" % (name, what) for name, _, what, _ in integer_parameters()]
    keys += ["%s.%s" % (c_name, member) for c_name, member, t, _ in struct_members()
             if t != "c_char_p" and member != "struct_size"]
    return keys


class Coverage(unittest.TestCase):
    def test_every_integer_parameter_is_accounted_for(self):
        keys = integer_keys()
        self.assertEqual(len(keys), len(set(keys)))
        both = sorted(set(PUBLIC) & set(INTERNAL))
        self.assertEqual(both, [], "listed as public and internal")
        missing = [k for k in keys if k not in PUBLIC and k not in INTERNAL]
        self.assertEqual(missing, [], "integer parameters of graft.h no test drives: add a "
                         "PublicIntegers test passing each an out-of-range value through "
                         "the public API (PUBLIC), or say in INTERNAL why no caller's "
                         "integer reaches it")
        stale = sorted((set(PUBLIC) | set(INTERNAL)) - set(keys))
        self.assertEqual(stale, [], "not integer parameters of graft.h (any more)")
        for key, test in PUBLIC.items():
            self.assertTrue(callable(getattr(PublicIntegers, test, None)), "%s: %s" % (key, test))


# ---- the public API ----------------------------------------------------------------------

def _idx_files(folder):
    images = os.path.join(folder, "images.idx")
    labels = os.path.join(folder, "labels.idx")
    with open(images, "wb") as f:
        f.write(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8)))
    with open(labels, "wb") as f:
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 2, 0, 1]))
    return images, labels


class _Public(tu.TempDirTest):
    """Fixtures in a context of the test's own, so that refused() can tell
    whether anything was created in it."""

    def setUp(self):
        super().setUp()
        self.ctx = graft.Context()
        self.addCleanup(self.ctx.close)

    def refused(self, call, what=None, exc=OverflowError):
        """Runs call(), which must raise exc (not a graft error: graft must not
        see the call) with a message starting "what: ", creating nothing in
        self.ctx and writing nothing to self.tmp."""
        children = self.ctx._children
        files = sorted(os.listdir(self.tmp))
        error = self.ctx.last_error
        with self.assertRaises(exc) as cm:
            call()
        e = cm.exception
        self.assertNotIsInstance(e, graft.GraftError, "graft was called: %s" % e)
        if what is not None:
            self.assertTrue(str(e).startswith(what + ": "), str(e))
        self.assertEqual(self.ctx._children, children, "an object was created")
        self.assertEqual(sorted(os.listdir(self.tmp)), files, "a file was written")
        self.assertEqual(self.ctx.last_error, error)
        return e

    def model(self):
        m = tu.small_cnn(ctx=self.ctx)
        self.addCleanup(m.close)
        return m

    def data(self, n=8):
        ds = tu.dataset(n, 1, "quadrant", ctx=self.ctx)
        self.addCleanup(ds.close)
        return ds

    def optimizer(self):
        opt = graft.Optimizer.sgd(lr=0.01, ctx=self.ctx)
        self.addCleanup(opt.close)
        return opt

    def image(self):
        img = graft.Image.new(8, 6, 1, ctx=self.ctx)
        self.addCleanup(img.close)
        return img

    def png(self, name="x.png"):
        path = self.path(name)
        tu.write_png(path, 4, 4, 3, [255, 0, 0] * 16)
        return path

    def folder(self):
        root = self.path("pets")
        for cls in ("cat", "dog"):
            os.makedirs(os.path.join(root, cls))
            tu.write_png(os.path.join(root, cls, "0.png"), 4, 4, 3, [9, 99, 199] * 16)
        return root

    def csv(self):
        path = self.path("d.csv")
        with open(path, "w") as f:
            f.write("h1,h2,label\n0.5,1.5,1\n3,4,0\n")
        return path

    def trainable(self, m):
        return [l.trainable for l in m]


class IssueExamples(_Public):
    def test_dense_units(self):
        e = self.refused(lambda: layers.dense(2 ** 32 + 3, ctx=self.ctx))
        self.assertEqual(str(e), "units: 4294967299 is out of range for a C int "
                         "(-2147483648 to 2147483647)")

    def test_fit_epochs_and_batch_size(self):
        m, ds, opt = self.model(), self.data(), self.optimizer()
        self.refused(lambda: m.fit(ds, opt, epochs=2 ** 32 + 1, batch_size=4), "epochs")
        self.refused(lambda: m.fit(ds, opt, epochs=1, batch_size=2 ** 32 + 4), "batch_size")
        self.refused(lambda: m.fit(ds, opt, epochs=2 ** 32 + 1, batch_size=2 ** 32 + 4))
        self.assertEqual((m.epochs_done, opt.steps), (0, 0))

    def test_predict_topk_k(self):
        m = self.model()
        x, _ = tu.images(2, 1, "quadrant")
        self.refused(lambda: m.predict_topk(x, k=2 ** 32 + 1), "k")
        idx, _ = m.predict_topk(x, k=1)
        self.assertEqual(len(idx), 2)

    def test_from_folder_width(self):
        root = self.folder()
        self.refused(lambda: graft.Dataset.from_folder(root, width=2 ** 32 + 8, height=8,
                                                       ctx=self.ctx), "width")
        with graft.Dataset.from_folder(root, width=8, height=8, ctx=self.ctx) as ds:
            self.assertEqual(ds.sample_shape, (3, 8, 8))

    def test_save_with_a_nul_byte(self):
        m = self.model()
        for path in (self.path("victim\x00.graft"), os.fsencode(self.path("victim\x00.graft")),
                     pathlib.Path(self.tmp) / "victim\x00.graft"):
            e = self.refused(lambda: m.save(path), "path", ValueError)
            self.assertEqual(str(e), "path: embedded null byte")
        self.assertFalse(os.path.exists(self.path("victim")))


class PublicIntegers(_Public):
    """One test per PUBLIC entry: the out-of-range value is refused, nothing
    is created or changed."""

    def test_strerror(self):
        self.refused(lambda: graft.strerror(2 ** 32 + _api.GRAFT_E_SHAPE), "status")

    def test_context_settings(self):
        for setting in ("num_threads", "winograd"):
            before = getattr(self.ctx, setting)
            for bad in (2 ** 32 + 1, -2 ** 32 + 2):
                self.refused(lambda: setattr(self.ctx, setting, bad), "value")
            self.assertEqual(getattr(self.ctx, setting), before)

    def test_image_new(self):
        for args, what in (((2 ** 32 + 3, 8), "width"), ((8, 2 ** 32 + 3), "height"),
                           ((8, 8, 2 ** 32 + 1), "channels"), ((-2 ** 63 - 1, 8), "width")):
            self.refused(lambda: graft.Image.new(*args, ctx=self.ctx), what)

    def test_image_from_array(self):
        # The pixel count must be width * height * channels, which no
        # out-of-range size can make: the binding's own ValueError.
        pixels = [0.5] * 4
        for kw in ({"width": 2 ** 32 + 4, "height": 1, "channels": 1},
                   {"width": 4, "height": 2 ** 32 + 1, "channels": 1},
                   {"width": 2, "height": 2, "channels": 2 ** 32 + 1}):
            self.refused(lambda: graft.Image.from_array(pixels, ctx=self.ctx, **kw),
                         exc=ValueError)

    def test_image_write_to(self):
        img = self.image()
        batch = graft.Tensor(shape=(1, 1, 6, 8), ctx=self.ctx)
        self.addCleanup(batch.close)
        for bad in (2 ** 64, -2 ** 63 - 1):
            self.refused(lambda: img.write_to(batch, bad), "n")

    def test_image_transforms(self):
        img = self.image()
        cases = [
            (lambda: img.convert(2 ** 32 + 3), "channels"),
            (lambda: img.resize(2 ** 32 + 4, 4), "width"),
            (lambda: img.resize(4, 2 ** 32 + 4), "height"),
            (lambda: img.resize_shorter(2 ** 32 + 4), "size"),
            (lambda: img.crop(2 ** 32, 0, 2, 2), "x"),
            (lambda: img.crop(0, -2 ** 32, 2, 2), "y"),
            (lambda: img.crop(0, 0, 2 ** 32 + 2, 2), "width"),
            (lambda: img.crop(0, 0, 2, 2 ** 32 + 2), "height"),
            (lambda: img.center_crop(2 ** 32 + 4, 4), "width"),
            (lambda: img.center_crop(4, 2 ** 32 + 4), "height"),
        ]
        for call, what in cases:
            self.refused(call, what)
            self.assertEqual(img.shape, (1, 6, 8))

    def test_image_pad_letterbox(self):
        img = self.image()
        cases = [
            (lambda: img.pad(2 ** 32 + 1, 0, 0, 0), "left"),
            (lambda: img.pad(0, -2 ** 32 + 1, 0, 0), "top"),
            (lambda: img.pad(0, 0, 2 ** 32 + 1, 0), "right"),
            (lambda: img.pad(0, 0, 0, 2 ** 32 + 1), "bottom"),
            (lambda: img.letterbox(2 ** 32 + 4, 4), "width"),
            (lambda: img.letterbox(4, 2 ** 32 + 4), "height"),
        ]
        for call, what in cases:
            self.refused(call, what)
            self.assertEqual(img.shape, (1, 6, 8))

    def test_augment_preset(self):
        self.refused(lambda: graft.augment_preset(2 ** 32 + 2), "preset")
        self.refused(lambda: graft.augment_preset("light", 2 ** 32 + 8, 8), "crop_width")
        self.refused(lambda: graft.augment_preset("light", 8, 2 ** 32 + 8), "crop_height")

    def test_predict_tta(self):
        m = self.model()
        x, _ = tu.images(1, 2, "quadrant")
        x = [[[x[0][r * tu.SIDE:(r + 1) * tu.SIDE] for r in range(tu.SIDE)]]]
        for bad in (2 ** 32 + 1, -2 ** 32 + 1):
            self.refused(lambda: m.predict_tta(x, bad), "views")

    def test_dense(self):
        for bad in (2 ** 32 + 3, -2 ** 32 + 3, 2 ** 64):
            self.refused(lambda: layers.dense(bad, ctx=self.ctx), "units")

    def test_slice(self):
        for bad in (2 ** 32 + 1, -2 ** 32 + 1):
            self.refused(lambda: layers.slice(bad, 0, 1, ctx=self.ctx), "axis")
        for bad in (2 ** 63, -2 ** 63 - 1):
            self.refused(lambda: layers.slice(1, bad, 1, ctx=self.ctx), "start")
            self.refused(lambda: layers.slice(1, 0, bad, ctx=self.ctx), "end")
            self.refused(lambda: layers.slice(1, 0, 1, bad, ctx=self.ctx), "step")

    def test_concat_axis(self):
        for bad in (2 ** 32 + 1, -2 ** 32 + 1):
            self.refused(lambda: layers.concat(bad, ctx=self.ctx), "axis")

    def test_transpose_perm(self):
        for bad in (2 ** 32, -2 ** 32 - 1):
            self.refused(lambda: layers.transpose((0, bad), ctx=self.ctx), "perm[1]")
    def test_linear(self):
        for bad in (2 ** 32 + 3, -2 ** 32 + 3, 2 ** 64):
            self.refused(lambda: layers.linear(bad, ctx=self.ctx), "units")

    def test_softmax_axis(self):
        for bad in (2 ** 32 + 2, -2 ** 32 - 1, 2 ** 64):
            self.refused(lambda: layers.softmax(axis=bad, ctx=self.ctx), "axis")

    def test_layer_norm(self):
        for bad in (2 ** 32 + 1, -2 ** 32 + 1, 2 ** 64):
            self.refused(lambda: layers.layer_norm(bad, ctx=self.ctx), "axes")

    def test_dropout(self):
        for bad in (2 ** 64, -1):
            self.refused(lambda: layers.dropout(0.5, seed=bad, ctx=self.ctx), "seed")

    def test_model_create(self):
        for bad in (2 ** 64 + 3, -1):
            self.refused(lambda: graft.Model((4,), seed=bad, ctx=self.ctx), "seed")
            self.refused(lambda: graft.Model.create((4,), seed=bad, ctx=self.ctx), "seed")

    def test_predict_topk(self):
        m = self.model()
        x, _ = tu.images(1, 2, "quadrant")
        for bad in (2 ** 32 + 1, -2 ** 32 + 2):
            self.refused(lambda: m.predict_topk(x, k=bad), "k")

    def test_from_memory(self):
        xs, ys = tu.images(4, 1, "quadrant")
        self.refused(lambda: graft.Dataset.from_memory(xs, ys, n_classes=2 ** 32 + 4,
                                                       sample_shape=(1, 8, 8), ctx=self.ctx),
                     "n_classes")

    @tu.needs_numpy
    def test_from_memory_numpy_labels(self):
        np = tu.numpy
        xs, _ = tu.images(2, 1, "quadrant")
        for bad in (2 ** 32 + 1, -2 ** 31 - 1):
            labels = np.array([0, bad], dtype=np.int64)
            self.refused(lambda: graft.Dataset.from_memory(xs, labels, n_classes=4,
                                                           ctx=self.ctx), "labels")

    def test_from_memory_list_labels(self):
        xs, _ = tu.images(2, 1, "quadrant")
        self.refused(lambda: graft.Dataset.from_memory(xs, [0, 2 ** 32 + 1], n_classes=4,
                                                       ctx=self.ctx), "labels")

    def test_split(self):
        ds = self.data()
        for bad in (2 ** 64 + 3, -1):
            self.refused(lambda: ds.split(0.5, seed=bad), "seed")

    def test_split_stratified(self):
        ds = self.data()
        for bad in (2 ** 64 + 3, -1):
            self.refused(lambda: ds.split_stratified(0.5, seed=bad), "seed")

    def test_subset_per_class(self):
        ds = self.data()
        for bad in (2 ** 64 + 3, -1):
            self.refused(lambda: ds.subset_per_class(2, seed=bad), "seed")
        for bad in (2 ** 63, -2 ** 63 - 1):
            self.refused(lambda: ds.subset_per_class(bad), "k")

    def test_from_idx(self):
        images, labels = _idx_files(self.tmp)
        self.refused(lambda: graft.Dataset.from_idx(images, labels, n_classes=2 ** 32 + 4,
                                                    ctx=self.ctx), "n_classes")

    def test_dataset_positions(self):
        ds = self.data()
        self.refused(lambda: ds.sample_path(2 ** 63), "i")
        self.refused(lambda: ds.sample_path(-2 ** 63 - 1), "i")
        self.refused(lambda: ds.set_epoch(2 ** 64 + 1), "epoch")
        self.refused(lambda: ds.gather([0, 2 ** 64 + 1]), "positions[1]")

    def test_evaluate(self):
        m, ds = self.model(), self.data()
        self.refused(lambda: m.evaluate(ds, batch_size=2 ** 32 + 32), "batch_size")
        self.refused(lambda: m.evaluate(ds, top_k=2 ** 32 + 1), "top_k")

    def test_tensor_png(self):
        t = graft.Tensor(shape=(2, 1, 2, 2), ctx=self.ctx)
        self.addCleanup(t.close)
        for bad in (2 ** 32 + 1, -2 ** 31 - 1):
            self.refused(lambda: t.encode_png(columns=bad), "columns")
            self.refused(lambda: t.save_png(self.path("t.png"), columns=bad), "columns")
        self.assertEqual(t.encode_png(columns=1)[:4], b"\x89PNG")

    def test_from_callback(self):
        def make(i):
            return [0.0, 1.0], 0

        self.refused(lambda: graft.Dataset.from_callback(make, 2 ** 63, (2,), 2, ctx=self.ctx),
                     "count")
        self.refused(lambda: graft.Dataset.from_callback(make, 2, (2,), 2 ** 32 + 2,
                                                         ctx=self.ctx), "n_classes")

    def test_predict_dataset(self):
        m, ds = self.model(), self.data()
        self.refused(lambda: m.predict_dataset(ds, batch_size=2 ** 32 + 4), "batch_size")

    def test_reinit(self):
        m = self.model()
        before = flat(m["fc"].get_parameter("weight"))
        self.refused(lambda: m.reinit(2 ** 64 + 1), "seed")
        self.refused(lambda: m.reinit(-1), "seed")
        self.refused(lambda: m.reinit(1, first=2 ** 40), "first")
        self.refused(lambda: m.reinit(1, last=-2 ** 40), "last")
        self.refused(lambda: m.reinit(2 ** 64, trainable_only=True), "seed")
        self.assertEqual(flat(m["fc"].get_parameter("weight")), before)

    def test_from_grid(self):
        path = self.png()
        for member in ("cell_width", "cell_height", "margin", "spacing", "rows", "columns",
                       "n_classes", "channels"):
            kw = {"cell_width": 2, "cell_height": 2, member: 2 ** 32 + 2}
            self.refused(lambda: graft.Dataset.from_grid(path, ctx=self.ctx, **kw), member)
        self.refused(lambda: graft.Dataset.from_grid(path, 2, 2, count=2 ** 63, ctx=self.ctx),
                     "count")
        with graft.Dataset.from_grid(path, 2, 2, ctx=self.ctx) as ds:
            self.assertEqual(len(ds), 4)
    def test_evaluate_targets(self):
        m = self.model()
        m.task = "multi_label"
        n = m.n_classes
        ds = graft.Dataset.from_targets([[0.0] * 64] * 2, [[0.0] * n] * 2,
                                        sample_shape=(1, 8, 8), ctx=self.ctx)
        self.addCleanup(ds.close)
        self.refused(lambda: m.evaluate_targets(ds, batch_size=2 ** 32 + 32), "batch_size")

    def test_set_trainable(self):
        m = self.model()
        before = self.trainable(m)
        self.refused(lambda: m.set_trainable(2 ** 40, trainable=False), "first")
        self.refused(lambda: m.freeze(0, 2 ** 40), "last")
        self.refused(lambda: m.unfreeze(-2 ** 40), "first")
        self.assertEqual(self.trainable(m), before)

    def test_freeze_all_but_last(self):
        m = self.model()
        before = self.trainable(m)
        self.refused(lambda: m.freeze_all_but_last(2 ** 32 + 1), "n")
        self.assertEqual(self.trainable(m), before)

    def test_set_lr_scale(self):
        m = self.model()
        self.refused(lambda: m.set_lr_scale(2 ** 40, "fc", 0.5), "first")
        self.refused(lambda: m.set_lr_scale(0, 2 ** 40, 0.5), "last")
        self.assertEqual([l.lr_scale for l in m], [1.0] * len(m))

    def test_schedule_unfreeze(self):
        m = self.model()
        m.freeze()
        self.refused(lambda: m.schedule_unfreeze("fc", 2 ** 32 + 1), "epoch")

    def test_model_option(self):
        m = self.model()
        before = m.feature_cache_mb
        for bad in (2 ** 64 + 3, -2 ** 63 - 1):
            self.refused(lambda: setattr(m, "feature_cache_mb", bad), "value")
        self.assertEqual(m.feature_cache_mb, before)

    def test_replace_head(self):
        m = self.model()
        names = [l.name for l in m]
        self.refused(lambda: m.replace_head(2 ** 32 + 2), "n_classes")
        self.refused(lambda: m.replace_head(2, hidden_units=2 ** 32 + 8), "hidden_units")
        self.refused(lambda: m.replace_head(2, seed=-1), "seed")
        self.refused(lambda: m.replace_head(2, seed=2 ** 64), "seed")
        self.assertEqual(([l.name for l in m], m.n_classes), (names, 4))

    def test_image_load(self):
        path = self.png()
        with open(path, "rb") as f:
            data = f.read()
        for kw, what in (({"channels": 2 ** 32 + 3}, "channels"),
                         ({"max_pixels": 2 ** 64 + 3}, "max_pixels"),
                         ({"max_pixels": -2 ** 63 - 1}, "max_pixels")):
            self.refused(lambda: graft.Image.load(path, ctx=self.ctx, **kw), what)
            self.refused(lambda: graft.Image.load_buffer(data, ctx=self.ctx, **kw), what)

    def test_augment(self):
        img = self.image()
        for kw, what in (({"seed": -1}, "seed"), ({"seed": 2 ** 64 + 3}, "seed"),
                         ({"crop_width": 2 ** 32 + 4, "crop_height": 4}, "crop_width"),
                         ({"crop_width": 4, "crop_height": 2 ** 32 + 4}, "crop_height")):
            self.refused(lambda: img.augment(**kw), what)
            self.assertEqual(img.shape, (1, 6, 8))

    def test_conv2d(self):
        big = 2 ** 32 + 3
        for kw, what in (({"out_channels": big}, "out_channels"),
                         ({"kernel_size": (big, 3)}, "kernel_h"),
                         ({"kernel_size": (3, big)}, "kernel_w"),
                         ({"stride": (big, 1)}, "stride_h"),
                         ({"stride": (1, big)}, "stride_w"),
                         ({"padding": (big, 0, 0, 0)}, "pad_top"),
                         ({"padding": (0, big, 0, 0)}, "pad_left"),
                         ({"padding": (0, 0, big, 0)}, "pad_bottom"),
                         ({"padding": (0, 0, 0, big)}, "pad_right"),
                         ({"dilation": (big, 1)}, "dilation_h"),
                         ({"dilation": (1, big)}, "dilation_w"),
                         ({"groups": big}, "groups")):
            kw.setdefault("out_channels", 4)
            self.refused(lambda: layers.conv2d(ctx=self.ctx, **kw), what)

    def test_conv_transpose2d(self):
        big = 2 ** 32 + 3
        for kw, what in (({"out_channels": big}, "out_channels"),
                         ({"kernel_size": (big, 3)}, "kernel_h"),
                         ({"kernel_size": (3, big)}, "kernel_w"),
                         ({"stride": (big, 1)}, "stride_h"),
                         ({"stride": (1, big)}, "stride_w"),
                         ({"padding": (big, 0, 0, 0)}, "pad_top"),
                         ({"padding": (0, big, 0, 0)}, "pad_left"),
                         ({"padding": (0, 0, big, 0)}, "pad_bottom"),
                         ({"padding": (0, 0, 0, big)}, "pad_right"),
                         ({"output_padding": (big, 0)}, "output_padding_h"),
                         ({"output_padding": (0, big)}, "output_padding_w"),
                         ({"dilation": (big, 1)}, "dilation_h"),
                         ({"dilation": (1, big)}, "dilation_w"),
                         ({"groups": big}, "groups")):
            kw.setdefault("out_channels", 4)
            self.refused(lambda: layers.conv_transpose2d(ctx=self.ctx, **kw), what)

    def test_pooling(self):
        big = -2 ** 32 + 2
        for pool in (layers.max_pool2d, layers.avg_pool2d):
            for args, kw, what in (((big,), {}, "kernel_h"), (((2, big),), {}, "kernel_w"),
                                   ((2,), {"stride": (big, 1)}, "stride_h"),
                                   ((2,), {"stride": (1, big)}, "stride_w"),
                                   ((2,), {"padding": (big, 0, 0, 0)}, "pad_top"),
                                   ((2,), {"padding": (0, big, 0, 0)}, "pad_left"),
                                   ((2,), {"padding": (0, 0, big, 0)}, "pad_bottom"),
                                   ((2,), {"padding": (0, 0, 0, big)}, "pad_right")):
                self.refused(lambda: pool(*args, ctx=self.ctx, **kw), what)

    def test_pad2d(self):
        big = 2 ** 32 + 1
        for padding, what in (((big, 0, 0, 0), "pad_top"), ((0, big, 0, 0), "pad_left"),
                              ((0, 0, big, 0), "pad_bottom"), ((0, 0, 0, big), "pad_right")):
            self.refused(lambda: layers.pad2d(padding, ctx=self.ctx), what)

    def test_upsample2d(self):
        self.refused(lambda: layers.upsample2d(size=(2 ** 32 + 4, 4), ctx=self.ctx), "out_h")
        self.refused(lambda: layers.upsample2d(size=(4, 2 ** 32 + 4), ctx=self.ctx), "out_w")

    def test_from_csv(self):
        path = self.csv()
        for kw, what in (({"header_rows": 2 ** 32 + 1}, "header_rows"),
                         ({"n_classes": 2 ** 32 + 3}, "n_classes"),
                         ({"n_targets": -2 ** 32 + 3}, "n_targets"),
                         ({"sample_shape": (2 ** 63,)}, "dims[0]"),
                         ({"sample_shape": (1, 2 ** 64 + 2)}, "dims[1]")):
            self.refused(lambda: graft.Dataset.from_csv(path, ctx=self.ctx, **kw), what)
        with graft.Dataset.from_csv(path, header_rows=1, sample_shape=(1, 2),
                                    ctx=self.ctx) as ds:
            self.assertEqual((len(ds), ds.sample_shape), (2, (1, 2)))

    def test_from_folder(self):
        root = self.folder()
        for kw, what in (({"channels": 2 ** 32 + 3}, "channels"),
                         ({"width": 2 ** 32 + 8}, "width"),
                         ({"height": -2 ** 32 + 8}, "height"),
                         ({"shorter_side": 2 ** 32 + 8}, "shorter_side"),
                         ({"seed": -1}, "seed"),
                         ({"seed": 2 ** 64}, "seed"),
                         ({"threads": 2 ** 32 + 2}, "threads")):
            kw = dict({"width": 8, "height": 8}, **kw)
            self.refused(lambda: graft.Dataset.from_folder(root, ctx=self.ctx, **kw), what)

    def test_preprocess(self):
        m = self.model()
        side = m.input_shape[1]
        for key in ("channels", "width", "height", "shorter_side"):
            kw = {"channels": 1, "width": side, "height": side}
            kw[key] = 2 ** 32 + kw.get(key, 0)

            def set_it():
                m.preprocess = kw
            self.refused(set_it, key)
        self.assertIsNone(m.preprocess)

    def test_predict_image(self):
        m = self.model()
        side = m.input_shape[1]
        m.preprocess = {"channels": 1, "width": side, "height": side}
        path = os.path.join(tu.REPO_DIR, "tests", "data", "images", "grey8.png")
        with open(path, "rb") as f:
            data = f.read()
        for bad in (2 ** 32 + 1, -2 ** 32 + 2):
            self.refused(lambda: m.predict_image(path, k=bad), "k")
            self.refused(lambda: m.predict_image(data, k=bad), "k")
        idx, _ = m.predict_image(path, k=1)
        self.assertEqual(len(idx), 1)

    def test_fit(self):
        m, ds, opt = self.model(), self.data(), self.optimizer()
        for kw, what in (({"epochs": 2 ** 32 + 1}, "epochs"),
                         ({"epochs": -2 ** 32 + 1}, "epochs"),
                         ({"batch_size": 2 ** 32 + 4}, "batch_size"),
                         ({"seed": -1}, "seed"),
                         ({"seed": 2 ** 64 + 5}, "seed")):
            self.refused(lambda: m.fit(ds, opt, **kw), what)
        self.assertEqual((m.epochs_done, opt.steps), (0, 0))

    def test_fit_callbacks(self):
        m, ds, opt = self.model(), self.data(), self.optimizer()
        for kw, what in (({"early_stopping": 2 ** 32 + 1}, "early_stop_patience"),
                         ({"reduce_on_plateau": {"patience": 2 ** 31}}, "plateau_patience"),
                         ({"reduce_on_plateau": {"cooldown": -2 ** 31 - 1}},
                          "plateau_cooldown")):
            self.refused(lambda: m.fit(ds, opt, **kw), what)
        self.assertEqual((m.epochs_done, opt.steps), (0, 0))

    def test_import_onnx(self):
        data = self.model().export_onnx_bytes()
        for bad in (2 ** 64, -1):
            self.refused(lambda: graft.Model.import_onnx(data, seed=bad, ctx=self.ctx), "seed")
        for shape, what in (((2 ** 63, 1), "input_shape[0]"), ((1, -2 ** 63 - 1), "input_shape[1]")):
            self.refused(lambda: graft.Model.import_onnx(data, input_shape=shape, ctx=self.ctx),
                         what)

    def test_export_onnx(self):
        m = self.model()
        for bad in (2 ** 32 + 13, -2 ** 32 + 13):
            self.refused(lambda: m.export_onnx(self.path("m.onnx"), opset=bad), "opset")
            self.refused(lambda: m.export_onnx_bytes(opset=bad), "opset")


class PublicBooleans(_Public):
    def test_bools_are_0_and_1(self):
        # True is an int in Python and 1 in C: accepted wherever an integer
        # is, never an OverflowError, even for unsigned types.
        with layers.dense(True, ctx=self.ctx) as layer:
            self.assertEqual(layer.kind, "dense")
        with graft.Model((4,), seed=True, ctx=self.ctx) as m:
            m.add(layers.dense(2, bias=False, ctx=self.ctx), "fc")
            self.assertEqual(m["fc"].params, 8)
            m.feature_cache = False
            self.assertFalse(m.feature_cache)
            m.feature_cache_mb = True
            self.assertEqual(m.feature_cache_mb, 1)


class PublicNulBytes(_Public):
    """A NUL byte in any path or name: ValueError before graft is called."""

    def test_model_files(self):
        m, opt = self.model(), self.optimizer()
        good = self.path("real.graft")
        m.save(good)
        ckpt = self.path("real.ckpt")
        m.save_checkpoint(ckpt, opt)
        self.refused(lambda: m.save(self.path("victim\x00.graft")), "path", ValueError)
        self.refused(lambda: m.save_checkpoint(self.path("victim\x00.ckpt"), opt), "path",
                     ValueError)
        # The part before the NUL names a real file: it must not be read.
        self.refused(lambda: graft.Model.load(good + "\x00junk", ctx=self.ctx), "path",
                     ValueError)
        self.refused(lambda: graft.Model.load(os.fsencode(good) + b"\x00", ctx=self.ctx),
                     "path", ValueError)
        self.refused(lambda: graft.Model.load_checkpoint(ckpt + "\x00x", ctx=self.ctx),
                     "path", ValueError)
        self.refused(lambda: m.load_weights(good + "\x00x"), "path", ValueError)
        self.assertFalse(os.path.exists(self.path("victim")))

    def test_onnx(self):
        m = self.model()
        good = self.path("real.onnx")
        m.export_onnx(good)
        self.refused(lambda: m.export_onnx(self.path("victim\x00.onnx")), "path", ValueError)
        self.refused(lambda: graft.Model.import_onnx(good + "\x00x", ctx=self.ctx), "path",
                     ValueError)
        self.refused(lambda: graft.Model.import_onnx(pathlib.Path(good + "\x00x"),
                                                     ctx=self.ctx), "path", ValueError)
        for kw, what in (({"input_name": "in\x00put"}, "input_name"),
                         ({"output_name": "out\x00"}, "output_name")):
            self.refused(lambda: m.export_onnx(self.path("n.onnx"), **kw), what, ValueError)
            self.refused(lambda: m.export_onnx_bytes(**kw), what, ValueError)
        data = m.export_onnx_bytes()
        self.refused(lambda: graft.Model.import_onnx(data, input_name="input\x00x",
                                                     ctx=self.ctx), "input_name", ValueError)
        self.refused(lambda: graft.Model.import_onnx(data, bound={"w\x00": [1.0]},
                                                     ctx=self.ctx), "bound names", ValueError)

    def test_images_and_datasets(self):
        png = self.png()
        self.refused(lambda: graft.Image.load(png + "\x00x", ctx=self.ctx), "path", ValueError)
        images, labels = _idx_files(self.tmp)
        self.refused(lambda: graft.Dataset.from_idx(images + "\x00x", labels, ctx=self.ctx),
                     "path", ValueError)
        self.refused(lambda: graft.Dataset.from_idx(images, labels + "\x00x", ctx=self.ctx),
                     "path", ValueError)
        csv = self.csv()
        self.refused(lambda: graft.Dataset.from_csv(csv + "\x00x", header_rows=1,
                                                    ctx=self.ctx), "path", ValueError)
        root = self.folder()
        self.refused(lambda: graft.Dataset.from_folder(root + "\x00x", width=4, height=4,
                                                       ctx=self.ctx), "path", ValueError)
        self.refused(lambda: graft.Dataset.from_folder(os.fsencode(root) + b"\x00",
                                                       ctx=self.ctx), "path", ValueError)

    def test_layer_names(self):
        m = self.model()
        names = [l.name for l in m]
        trainable = self.trainable(m)
        layer = layers.relu(ctx=self.ctx)
        self.addCleanup(layer.close)
        self.refused(lambda: m.add(layer, "fc\x00x"), "name", ValueError)
        self.refused(lambda: m.add(layer, b"out\x00"), "name", ValueError)
        self.refused(lambda: m.add(layer, "out", inputs=["fc\x00x"]), "inputs", ValueError)
        self.refused(lambda: m.add(layer, "out", inputs="input\x00"), "inputs", ValueError)
        self.assertFalse(layer.closed, "the layer was handed over")
        self.refused(lambda: m.freeze_through("features\x00x"), "name", ValueError)
        self.refused(lambda: m.cut("features\x00x"), "name", ValueError)
        self.refused(lambda: m.schedule_unfreeze("fc\x00x", 1), "from_layer", ValueError)
        self.refused(lambda: m["fc\x00x"], "name", ValueError)
        self.refused(lambda: m.set_trainable("fc\x00x", trainable=False), "name", ValueError)
        self.refused(lambda: m.set_lr_scale("conv\x00", "fc", 0.1), "name", ValueError)
        self.assertNotIn("fc\x00x", m)
        self.assertIn("fc", m)
        self.assertEqual([l.name for l in m], names)
        self.assertEqual(self.trainable(m), trainable)
        m.add(layer, "out")
        self.assertEqual(m[-1].name, "out")

    def test_class_names(self):
        m = self.model()
        for names in (["a\x00b", "b", "c", "d"], ["a", "b", "c", b"d\x00"]):
            self.refused(lambda: setattr(m, "class_names", names), "class names", ValueError)
            self.assertIsNone(m.class_names)
            self.refused(lambda: m.replace_head(4, class_names=names), "class names",
                         ValueError)
        self.assertEqual(len(m), 5)


if __name__ == "__main__":
    unittest.main()
