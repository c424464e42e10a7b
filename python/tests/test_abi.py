"""The binding agrees with include/graft.h: function signatures, constants,
and the size and layout of the versioned option structs (compiled probe)."""

import ctypes
import os
import re
import subprocess
import unittest

import graft_testutil as tu
from graft_testutil import graft

from graft import _lib, errors, optim, training

HAVE_HEADER = os.path.isfile(tu.HEADER)
needs_header = unittest.skipUnless(HAVE_HEADER, "include/graft.h not found")

_SCALARS = {
    "int": ctypes.c_int,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "uint32_t": ctypes.c_uint32,
    "size_t": ctypes.c_size_t,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
}


def _header_text():
    with open(tu.HEADER, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return text


def header_functions():
    """name -> (return type, [argument types]) for every GRAFT_API function."""
    found = {}
    for m in re.finditer(r"GRAFT_API\s+([^;(]*?)\b(graft_\w+)\s*\(([^)]*)\)\s*;",
                         _header_text()):
        ret, name, args = m.group(1), m.group(2), m.group(3)
        args = " ".join(args.split())
        types = []
        if args != "void":
            for a in args.split(","):
                a = a.strip()
                # drop the parameter name: the last identifier not followed by '*'
                a = re.sub(r"\b\w+$", "", a).strip() if not a.endswith("*") else a
                types.append(" ".join(a.split()))
        found[name] = (" ".join(ret.split()), types)
    return found


def header_defines():
    """GRAFT_* macro name -> integer value, for plain integer macros."""
    found = {}
    for m in re.finditer(r"^#define (GRAFT_\w+) \(?(-?\d+)\)?\s*$", _header_text(), re.M):
        found[m.group(1)] = int(m.group(2))
    return found


def _matches(c_type, ct):
    """Whether ctypes type ct can carry the C type c_type."""
    if c_type == "void":
        return ct is None
    if "*" in c_type:
        if c_type.replace(" ", "") in ("constchar*", "char*"):
            return ct is ctypes.c_char_p
        return ct in (ctypes.c_void_p, ctypes.c_char_p) or (
            isinstance(ct, type) and issubclass(ct, ctypes._Pointer))
    base = c_type.replace("const ", "").strip()
    return ct is _SCALARS.get(base)


@needs_header
class Signatures(unittest.TestCase):
    def test_every_prototype_matches_the_header(self):
        header = header_functions()
        self.assertGreater(len(header), 100)
        for name, restype, argtypes in _lib.PROTOTYPES:
            self.assertIn(name, header, "%s is not declared in graft.h" % name)
            ret, args = header[name]
            self.assertTrue(_matches(ret, restype), "%s returns %s" % (name, ret))
            self.assertEqual(len(args), len(argtypes), "%s arguments" % name)
            for k, (a, ct) in enumerate(zip(args, argtypes)):
                self.assertTrue(_matches(a, ct), "%s argument %d is %s, bound as %r"
                                % (name, k, a, ct))

    def test_the_checker_can_fail(self):
        self.assertFalse(_matches("int", ctypes.c_int64))
        self.assertFalse(_matches("float", ctypes.c_double))
        self.assertFalse(_matches("const char *", ctypes.c_void_p))
        self.assertFalse(_matches("graft_model *", ctypes.c_int))
        self.assertTrue(_matches("const int64_t *", ctypes.POINTER(ctypes.c_int64)))

    def test_every_header_function_is_wrapped(self):
        missing = sorted(set(header_functions()) - {p[0] for p in _lib.PROTOTYPES})
        self.assertEqual(missing, [], "in graft.h but not wrapped: " + ", ".join(missing))
        names = [p[0] for p in _lib.PROTOTYPES]
        self.assertEqual(len(names), len(set(names)), "a function is declared twice")


@needs_header
class Constants(unittest.TestCase):
    def setUp(self):
        self.defines = header_defines()

    def check(self, table, prefix):
        for name, value in table.items():
            self.assertEqual(self.defines[prefix + name.upper()], value, prefix + name)

    def test_status_codes(self):
        for code, name in errors.STATUS_NAMES.items():
            self.assertEqual(self.defines[name], code, name)
        codes = {k for k in self.defines if k.startswith("GRAFT_E_")}
        self.assertEqual(codes, set(errors.STATUS_NAMES.values()) - {"GRAFT_OK"})

    def test_option_keys(self):
        self.check(optim.KINDS, "GRAFT_OPTIM_")
        self.check(optim.KEYS, "GRAFT_OPT_")
        self.check(optim.SCHEDULES, "GRAFT_SCHEDULE_")
        self.check({k.name: k.value for k in graft.WeightStatus}, "GRAFT_WEIGHT_")
        d = self.defines
        self.assertEqual(d["GRAFT_MAX_DIMS"], _lib.MAX_DIMS)
        self.assertEqual(d["GRAFT_CTX_USE_BLAS"], graft.context.CTX_USE_BLAS)
        self.assertEqual(d["GRAFT_CTX_NUM_THREADS"], graft.context.CTX_NUM_THREADS)
        self.assertEqual(d["GRAFT_MODEL_FROZEN_BN_TRAINS"], graft.model._OPT_FROZEN_BN_TRAINS)
        self.assertEqual(d["GRAFT_MODEL_FEATURE_CACHE"], graft.model._OPT_FEATURE_CACHE)
        self.assertEqual(d["GRAFT_MODEL_FEATURE_CACHE_MB"], graft.model._OPT_FEATURE_CACHE_MB)
        self.assertEqual(d["GRAFT_VERSION_MAJOR"], graft.LIBRARY_MAJOR)

    def test_image_and_file_dataset_constants(self):
        from graft import data, image

        self.check(data._CSV_LABEL, "GRAFT_CSV_LABEL_")
        self.check(data._RESIZE, "GRAFT_FOLDER_RESIZE_")
        self.check(data._NORMALIZE, "GRAFT_FOLDER_NORM_")
        self.check(data._ON_ERROR, "GRAFT_FOLDER_ON_ERROR_")
        self.check(data._VERIFY, "GRAFT_FOLDER_VERIFY_")
        self.check({v: k for k, v in image._FORMATS.items()}, "GRAFT_IMAGE_FORMAT_")
        self.assertEqual(self.defines["GRAFT_IMAGE_HWC"], image.HWC)
        self.assertEqual(self.defines["GRAFT_IMAGE_BGR"], image.BGR)
        text = _header_text()
        self.assertIn("#define GRAFT_IMAGE_MAX_PIXELS ((int64_t)1 << 28)", text)
        self.assertEqual(image.MAX_PIXELS, 1 << 28)
        for name, values in (("MEAN", image.IMAGENET_MEAN), ("STD", image.IMAGENET_STD)):
            m = re.search(r"#define GRAFT_IMAGENET_%s \{([^}]*)\}" % name, text)
            self.assertEqual(tuple(float(v.strip().rstrip("f")) for v in m.group(1).split(",")),
                             values)

    def test_pad_modes(self):
        from graft import layers

        self.check(layers._PAD_MODES, "GRAFT_PAD_")
        modes = {k for k in self.defines if k.startswith("GRAFT_PAD_")}
        self.assertEqual(modes, {"GRAFT_PAD_" + k.upper() for k in layers._PAD_MODES})

    def test_progress_and_eval_keys(self):
        t = training
        pairs = {
            "GRAFT_PROGRESS_EVENT": t._P_EVENT, "GRAFT_PROGRESS_EPOCH": t._P_EPOCH,
            "GRAFT_PROGRESS_EPOCHS": t._P_EPOCHS, "GRAFT_PROGRESS_BATCH": t._P_BATCH,
            "GRAFT_PROGRESS_BATCHES": t._P_BATCHES, "GRAFT_PROGRESS_LOSS": t._P_LOSS,
            "GRAFT_PROGRESS_ACCURACY": t._P_ACCURACY, "GRAFT_PROGRESS_LR": t._P_LR,
            "GRAFT_PROGRESS_IMAGES_PER_SEC": t._P_IPS,
            "GRAFT_PROGRESS_VAL_LOSS": t._P_VAL_LOSS,
            "GRAFT_PROGRESS_VAL_ACCURACY": t._P_VAL_ACCURACY,
            "GRAFT_EVENT_BATCH_END": t._EVENT_BATCH_END,
            "GRAFT_EVENT_EPOCH_END": t._EVENT_EPOCH_END,
            "GRAFT_EVAL_COUNT": t._E_COUNT, "GRAFT_EVAL_LOSS": t._E_LOSS,
            "GRAFT_EVAL_ACCURACY": t._E_ACCURACY, "GRAFT_EVAL_TOPK_ACCURACY": t._E_TOPK,
        }
        for name, value in pairs.items():
            self.assertEqual(self.defines[name], value, name)
        progress = {k for k in self.defines if k.startswith("GRAFT_PROGRESS_")}
        self.assertEqual(progress, {k for k in pairs if k.startswith("GRAFT_PROGRESS_")})

    def test_model_input_name(self):
        self.assertIn('#define GRAFT_MODEL_INPUT "%s"' % graft.INPUT, _header_text())


STRUCTS = {
    "graft_allocator": _lib.Allocator,
    "graft_conv2d_spec": _lib.Conv2dSpec,
    "graft_pool2d_spec": _lib.Pool2dSpec,
    "graft_fit_opts": _lib.FitOpts,
    "graft_head_spec": _lib.HeadSpec,
    "graft_image_load_opts": _lib.ImageLoadOpts,
    "graft_augment_spec": _lib.AugmentSpec,
    "graft_csv_opts": _lib.CsvOpts,
    "graft_folder_opts": _lib.FolderOpts,
    "graft_pad2d_spec": _lib.Pad2dSpec,
    "graft_onnx_import_opts": _lib.OnnxImportOpts,
    "graft_onnx_export_opts": _lib.OnnxExportOpts,
}


@needs_header
@unittest.skipUnless(tu.compiler(), "no C compiler")
class StructLayouts(tu.TempDirTest):
    def probe(self):
        lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "graft.h"',
                 "int main(void) {"]
        for cname, cls in STRUCTS.items():
            lines.append('printf("%s size %%zu\\n", sizeof(%s));' % (cname, cname))
            for field, _ in cls._fields_:
                lines.append('printf("%s %s %%zu\\n", offsetof(%s, %s));'
                             % (cname, field, cname, field))
        lines.append("return 0; }")
        src, exe = self.path("probe.c"), self.path("probe")
        with open(src, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run([tu.compiler(), "-std=c99", "-I", os.path.dirname(tu.HEADER), "-o", exe,
                        src], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        return {tuple(l.split()[:2]): int(l.split()[2]) for l in out.splitlines()}

    def test_sizes_and_offsets(self):
        c = self.probe()
        for cname, cls in STRUCTS.items():
            self.assertEqual(ctypes.sizeof(cls), c[(cname, "size")], cname)
            for field, _ in cls._fields_:
                self.assertEqual(getattr(cls, field).offset, c[(cname, field)],
                                 "%s.%s" % (cname, field))
            # Every field of the C struct is mirrored: the header lists the
            # same number of members.
            body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (cname, cname),
                             _header_text(), re.S).group(1)
            body = re.sub(r"\)\s*\([^()]*\)", ")", body)  # function pointers' parameters
            body = re.sub(r"\[[^]]*\]", "", body)  # array sizes
            members = sum(len(decl.split(",")) for decl in body.split(";") if decl.strip())
            self.assertEqual(members, len(cls._fields_), cname)

    def test_new_struct_sets_struct_size(self):
        for cls in STRUCTS.values():
            self.assertEqual(_lib.new_struct(cls).struct_size, ctypes.sizeof(cls))


if __name__ == "__main__":
    unittest.main()
