"""The binding agrees with include/graft.h.

python/graft/_api.py is generated from the header by python/tools/gen_api.py,
so the first check is that regenerating it changes nothing. The others read
the header on their own (python/tools/headerparse.py) and check what the
binding made of _api.py: function signatures (including the arguments
_lib.py binds more narrowly), constants, and the size and layout of the
versioned option structs (compiled probe).
"""

import ctypes
import difflib
import os
import subprocess
import sys
import unittest

import graft_testutil as tu
from graft_testutil import graft

import gen_api
import headerparse
from graft import _api, _lib, errors, optim, training

HAVE_HEADER = os.path.isfile(tu.HEADER)
needs_header = unittest.skipUnless(HAVE_HEADER, "include/graft.h not found")

API_FILE = os.path.join(tu.PYTHON_DIR, "graft", "_api.py")
REGENERATE = "python3 python/tools/gen_api.py"

_SCALARS = {
    "int": ctypes.c_int,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "uint32_t": ctypes.c_uint32,
    "size_t": ctypes.c_size_t,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
}


def _header_text():
    return headerparse.read(tu.HEADER)


def header_functions():
    """name -> (return type, [argument types]) for every GRAFT_API function."""
    return {f.name: (f.ret, f.args) for f in headerparse.functions(_header_text())}


def header_defines():
    """GRAFT_* macro name -> value (int, str or tuple of floats)."""
    return headerparse.defines(_header_text())


def _matches(c_type, ct):
    """Whether ctypes type ct can carry the C type c_type. A typed pointer
    must point to what the C pointer points to (a Structure to the struct
    it mirrors), c_void_p carries any pointer but a string."""
    c_type = " ".join(c_type.split())
    if c_type == "void":
        return ct is None
    if c_type.startswith("graft_") and c_type.endswith("_fn"):  # a callback typedef
        return ct is _lib.ctype(c_type[len("graft_"):].upper())
    if c_type.endswith("*"):
        if c_type.replace(" ", "") in ("constchar*", "char*"):
            return ct is ctypes.c_char_p
        if ct is ctypes.c_void_p:
            return True
        if isinstance(ct, type) and issubclass(ct, ctypes._Pointer):
            inner = c_type[:-1].strip()
            if inner.endswith("const"):
                inner = inner[:-len("const")].strip()
            return _matches(inner, ct._type_)
        return False
    base = c_type.replace("const ", "").strip()
    if getattr(ct, "c_name", None) is not None:
        return ct.c_name == base
    return base in _SCALARS and ct is _SCALARS[base]


def _diff(expected, actual, limit=40):
    lines = list(difflib.unified_diff(actual.splitlines(), expected.splitlines(),
                                      "committed _api.py", "regenerated", lineterm="", n=1))
    return "\n".join(lines[:limit] + (["..."] if len(lines) > limit else []))


@needs_header
class Generated(unittest.TestCase):
    def test_api_matches_the_header(self):
        fresh = gen_api.render(tu.REPO_DIR)
        with open(API_FILE, encoding="utf-8") as f:
            committed = f.read()
        if fresh != committed:
            self.fail("python/graft/_api.py does not match include/graft.h (or the layer "
                      "kinds); run `%s` and commit the result:\n%s"
                      % (REGENERATE, _diff(fresh, committed)))

    def test_a_header_change_changes_the_output(self):
        # What test_api_matches_the_header catches: a copy of the sources
        # with one more function, constant and struct member.
        import shutil
        import tempfile

        root = tempfile.mkdtemp(prefix="graft-py-gen-")
        self.addCleanup(shutil.rmtree, root, True)
        for rel in (gen_api.HEADER, gen_api.KINDS_HEADER):
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            shutil.copy(os.path.join(tu.REPO_DIR, rel), os.path.join(root, rel))
        self.assertEqual(gen_api.render(root), gen_api.render(tu.REPO_DIR))
        text = _header_text().replace(
            "#endif /* GRAFT_H */",
            "#define GRAFT_NEW_THING (1 << 4)\n"
            "GRAFT_API int graft_new_thing(graft_model *model, const float *values,\n"
            "                              graft_tensor **out);\n#endif /* GRAFT_H */")
        text = text.replace("    int opset;", "    int opset;\n    double extra[GRAFT_MAX_DIMS];")
        with open(os.path.join(root, gen_api.HEADER), "w", encoding="utf-8") as f:
            f.write(text)
        out = gen_api.render(root)
        self.assertIn("GRAFT_NEW_THING = 16\n", out)
        self.assertIn('("graft_new_thing", "c_int", ("c_void_p", "c_void_p", "PP")),\n', out)
        self.assertIn('("extra", "c_double * 8"),\n', out)

    def test_check_mode_agrees(self):
        # the command line the Makefile or a hook may run
        p = subprocess.run([sys.executable, "-B", os.path.join(tu.TOOLS_DIR, "gen_api.py"),
                            "--check"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unknown_types_stop_the_generator(self):
        api = gen_api.Api(_header_text())
        for c_type in ("struct foo *", "long double", "graft_ctx ***", "graft_conv2d_spec",
                       "unsigned char *"):
            with self.assertRaises(ValueError, msg=c_type):
                api.ctype(c_type, "test")
        self.assertEqual(api.ctype("const graft_tensor *const *", "test"), "PP")
        self.assertEqual(api.ctype("const graft_conv2d_spec *", "test"), "P(Conv2dSpec)")
        self.assertEqual(api.ctype("graft_progress_fn", "test"), "PROGRESS_FN")

    def test_unreadable_declarations_stop_the_parser(self):
        with self.assertRaises(ValueError):
            headerparse.functions("GRAFT_API int graft_f(int (*cb)(void *), int x);\n")
        with self.assertRaises(ValueError):
            headerparse.functions("GRAFT_API int graft_g(int);\n")  # an unnamed parameter
        self.assertEqual(headerparse.functions("GRAFT_API void graft_h(void);\n")[0].args, [])

    def test_constant_expressions(self):
        self.assertEqual(headerparse.eval_int("((int64_t)1 << 28)", {}), 1 << 28)
        self.assertEqual(headerparse.eval_int("(A * 100 + 2u)", {"A": 3}), 302)
        self.assertEqual(headerparse.eval_int("(-13)", {}), -13)
        for text in ('"input"', "{ 1, 2 }", "sizeof(int)", "7 / 2", "017", "B + 1"):
            self.assertIsNone(headerparse.eval_int(text, {}), text)

    def test_named(self):
        self.assertEqual(_api.named("GRAFT_PAD_"), {"constant": 0, "reflect": 1, "edge": 2})
        self.assertEqual(set(_api.CONSTANTS), set(header_defines()))


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
        self.assertFalse(_matches("const float *", ctypes.POINTER(ctypes.c_double)))
        self.assertFalse(_matches("const graft_pool2d_spec *", ctypes.POINTER(_lib.Conv2dSpec)))
        self.assertTrue(_matches("const int64_t *", ctypes.POINTER(ctypes.c_int64)))
        self.assertTrue(_matches("const char *const *", ctypes.POINTER(ctypes.c_char_p)))
        self.assertTrue(_matches("const graft_tensor *const *", _lib.PP))
        self.assertTrue(_matches("const graft_conv2d_spec *", ctypes.POINTER(_lib.Conv2dSpec)))

    def test_every_header_function_is_wrapped(self):
        missing = sorted(set(header_functions()) - {p[0] for p in _lib.PROTOTYPES})
        self.assertEqual(missing, [], "in graft.h but not wrapped: " + ", ".join(missing))
        names = [p[0] for p in _lib.PROTOTYPES]
        self.assertEqual(len(names), len(set(names)), "a function is declared twice")
        self.assertEqual(names, [f[0] for f in _api.FUNCTIONS])

    def test_narrowed_arguments(self):
        # Each of _lib.NARROWED replaces the c_void_p gen_api.py gives a
        # bulk-data pointer by a pointer to the C element type.
        header = header_functions()
        generated = {f[0]: f[2] for f in _api.FUNCTIONS}
        declared = {p[0]: p[2] for p in _lib.PROTOTYPES}
        for (name, k), ct in _lib.NARROWED.items():
            self.assertIn(name, header, "_lib.NARROWED names %s, not in graft.h" % name)
            self.assertLess(k, len(header[name][1]), "%s has no argument %d" % (name, k))
            self.assertEqual(generated[name][k], "c_void_p", "%s argument %d" % (name, k))
            self.assertTrue(issubclass(ct, ctypes._Pointer))
            self.assertTrue(_matches(header[name][1][k], ct),
                            "%s argument %d is %s, narrowed to %r"
                            % (name, k, header[name][1][k], ct))
            self.assertIs(declared[name][k], ct)

    def test_function_pointer_types(self):
        fn = headerparse.function_pointer_types(_header_text())
        ret, args = fn["graft_progress_fn"]
        self.assertIs(_lib.PROGRESS_FN._restype_, ctypes.c_int)
        self.assertEqual(len(_lib.PROGRESS_FN._argtypes_), len(args))
        for a, ct in zip(args, _lib.PROGRESS_FN._argtypes_):
            self.assertTrue(_matches(a, ct), a)
        self.assertIs(_lib.ALLOC_FN._restype_, ctypes.c_void_p)
        self.assertIs(_lib.FREE_FN._restype_, None)


@needs_header
class Constants(unittest.TestCase):
    def setUp(self):
        self.defines = header_defines()

    def check(self, table, prefix):
        for name, value in table.items():
            self.assertEqual(self.defines[prefix + name.upper()], value, prefix + name)
        group = {k for k in self.defines if k.startswith(prefix)}
        self.assertEqual(group, {prefix + name.upper() for name in table}, prefix)

    def test_status_codes(self):
        for code, name in errors.STATUS_NAMES.items():
            self.assertEqual(self.defines[name], code, name)
            self.assertEqual(getattr(errors, name[len("GRAFT_"):]), code, name)
        codes = {k for k in self.defines if k.startswith("GRAFT_E_")}
        self.assertEqual(codes, set(errors.STATUS_NAMES.values()) - {"GRAFT_OK"})
        for name in codes:
            # every code has its own exception class
            self.assertIsNot(errors.exception_class(self.defines[name]), errors.GraftError, name)

    def test_option_keys(self):
        self.check(optim.KINDS, "GRAFT_OPTIM_")
        self.check(optim.KEYS, "GRAFT_OPT_")
        self.check(optim.SCHEDULES, "GRAFT_SCHEDULE_")
        self.check({k.name.lower(): k.value for k in graft.WeightStatus}, "GRAFT_WEIGHT_")
        d = self.defines
        self.assertEqual(d["GRAFT_MAX_DIMS"], _lib.MAX_DIMS)
        self.assertEqual(d["GRAFT_CTX_USE_BLAS"], graft.context.CTX_USE_BLAS)
        self.assertEqual(d["GRAFT_CTX_NUM_THREADS"], graft.context.CTX_NUM_THREADS)
        self.assertEqual(d["GRAFT_CTX_WINOGRAD"], graft.context.CTX_WINOGRAD)
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
        self.assertIn("#define GRAFT_IMAGE_MAX_PIXELS ((int64_t)1 << 28)", _header_text())
        self.assertEqual(image.MAX_PIXELS, 1 << 28)
        self.assertEqual(self.defines["GRAFT_IMAGENET_MEAN"], image.IMAGENET_MEAN)
        self.assertEqual(self.defines["GRAFT_IMAGENET_STD"], image.IMAGENET_STD)
        self.assertEqual(image.IMAGENET_MEAN, (0.485, 0.456, 0.406))

    def test_pad_modes(self):
        from graft import layers

        self.check(layers._PAD_MODES, "GRAFT_PAD_")

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
            "GRAFT_PROGRESS_LR_SCALE": t._P_LR_SCALE,
            "GRAFT_PROGRESS_BEST_EPOCH": t._P_BEST_EPOCH, "GRAFT_PROGRESS_BEST": t._P_BEST,
            "GRAFT_EVAL_F1_MACRO": t._E_F1_MACRO, "GRAFT_EVAL_AUC_MACRO": t._E_AUC_MACRO,
        }
        monitors = {"GRAFT_MONITOR_" + k.upper(): v for k, v in t.MONITORS.items()}
        self.assertEqual(set(monitors), {k for k in self.defines if k.startswith("GRAFT_MONITOR_")})
        pairs.update(monitors)
        for name, value in pairs.items():
            self.assertEqual(self.defines[name], value, name)
        progress = {k for k in self.defines if k.startswith("GRAFT_PROGRESS_")}
        self.assertEqual(progress, {k for k in pairs if k.startswith("GRAFT_PROGRESS_")})

    def test_model_input_name(self):
        self.assertIn('#define GRAFT_MODEL_INPUT "%s"' % graft.INPUT, _header_text())


# Every option struct class of the binding (made by _lib's @_struct), by
# its C name: the tests below hold it to the header's structs.
STRUCTS = {cls.c_name: cls for cls in vars(_lib).values()
           if isinstance(cls, type) and issubclass(cls, ctypes.Structure) and hasattr(cls, "c_name")}


@needs_header
class StructMembers(unittest.TestCase):
    def test_every_struct_has_its_class(self):
        self.assertEqual(set(STRUCTS), set(headerparse.struct_bodies(_header_text())))
        for cname, cls in STRUCTS.items():
            self.assertEqual(cls.c_name, cname)
            self.assertEqual(cls.__name__, gen_api.class_name(cname))

    def test_member_types(self):
        text = _header_text()
        ints = headerparse.integer_defines(text)
        for cname, body in headerparse.struct_bodies(text).items():
            members = headerparse.struct_members(body, ints, cname)
            fields = STRUCTS[cname]._fields_
            self.assertEqual([m.name for m in members], [f[0] for f in fields], cname)
            for m, (name, ct) in zip(members, fields):
                where = "%s.%s" % (cname, name)
                if m.fn is not None:
                    self.assertTrue(_matches(m.fn[0], ct._restype_), where)
                    self.assertEqual(len(m.fn[1]), len(ct._argtypes_), where)
                    for a, at in zip(m.fn[1], ct._argtypes_):
                        self.assertTrue(_matches(a, at), where)
                    continue
                if m.count is not None:
                    self.assertEqual(ct._length_, m.count, where)
                    ct = ct._type_
                if m.type in headerparse.function_pointer_types(text):
                    self.assertIs(ct, getattr(_lib, gen_api.function_type_name(m.type)), where)
                    continue
                self.assertTrue(_matches(m.type, ct), "%s is %s, bound as %r"
                                % (where, m.type, ct))


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

    def test_new_struct_sets_struct_size(self):
        for cls in STRUCTS.values():
            self.assertEqual(_lib.new_struct(cls).struct_size, ctypes.sizeof(cls))


if __name__ == "__main__":
    unittest.main()
