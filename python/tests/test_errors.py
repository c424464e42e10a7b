"""Status codes map to exception classes carrying graft's code and message."""

import ctypes
import math
import struct
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

from graft import _lib, errors


class StatusMapping(unittest.TestCase):
    """Every pinned status code has its class, and the classes also derive
    from the built-in exceptions documented in graft.errors."""

    EXPECTED = {
        -1: (graft.InvalidArgumentError, ValueError),
        -2: (graft.NoMemoryError, MemoryError),
        -3: (graft.ShapeError, ValueError),
        -4: (graft.RangeError, ValueError),
        -5: (graft.GraftIOError, graft.GraftError),
        -6: (graft.FormatError, ValueError),
        -7: (graft.UnsupportedError, NotImplementedError),
        -8: (graft.StateError, RuntimeError),
        -9: (graft.NotFoundError, LookupError),
        -10: (graft.VersionError, graft.GraftError),
        -11: (graft.NumericError, ArithmeticError),
        -12: (graft.CancelledError, graft.GraftError),
        -13: (graft.InternalError, RuntimeError),
    }

    def test_every_code_has_its_class(self):
        for code, (cls, builtin) in self.EXPECTED.items():
            e = errors.error_for(code, "f(): cause %d" % code)
            self.assertIs(type(e), cls)
            self.assertIsInstance(e, graft.GraftError)
            self.assertIsInstance(e, builtin)
            self.assertEqual(e.code, code)
            self.assertEqual(e.message, "f(): cause %d" % code)
            self.assertEqual(str(e), "f(): cause %d" % code)
        self.assertEqual(len(self.EXPECTED), len(errors.STATUS_NAMES) - 1)

    def test_codes_match_the_library_strerror(self):
        # graft_strerror() knows every code the binding maps, and nothing
        # maps to "unknown error".
        for code in self.EXPECTED:
            self.assertNotEqual(graft.strerror(code), "unknown error", code)
        self.assertEqual(graft.strerror(-1), "invalid argument")
        self.assertEqual(graft.strerror(-99), "unknown error")

    def test_unknown_code_is_the_base_class(self):
        e = errors.error_for(-99, "g(): new failure")
        self.assertIs(type(e), graft.GraftError)
        self.assertEqual(e.code, -99)
        self.assertEqual(e.status_name, "status -99")

    def test_check_uses_the_thread_message_or_strerror(self):
        self.assertEqual(_lib.check(0), 0)
        self.assertEqual(_lib.check(3), 3)
        # A status with no failed call behind it falls back to strerror.
        with graft.Context() as ctx:
            _lib.C.graft_ctx_set_int(ctx.handle, 1, 1)  # succeeds, clears the message
            with self.assertRaises(graft.CancelledError) as cm:
                _lib.check(errors.E_CANCELLED)
        self.assertEqual(cm.exception.message, "cancelled")

    def test_repr_names_the_status(self):
        e = errors.error_for(-3, "graft_x(): bad")
        self.assertEqual(repr(e), "ShapeError(GRAFT_E_SHAPE, 'graft_x(): bad')")


class RealFailures(tu.TempDirTest):
    """Calls that fail in the library raise the mapped class with graft's
    own message, which is also what graft_errmsg(ctx) reports."""

    def assertFails(self, cls, code, message, fn, *args, **kwargs):
        with self.assertRaises(cls) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertEqual(e.code, code)
        self.assertEqual(e.message, message)
        ctx = kwargs.get("ctx") or graft.default_context()
        self.assertEqual(ctx.last_error, message)
        return e

    def test_invalid_arg(self):
        self.assertFails(graft.InvalidArgumentError, -1,
                         "graft_layer_dense(): units is 0, must be >= 1", layers.dense, 0)

    def test_nomem_through_the_allocator_hooks(self):
        alloc = graft.Allocator()
        with graft.Context(allocator=alloc) as ctx:
            alloc.limit = alloc.in_use + 16
            self.assertFails(graft.NoMemoryError, -2,
                             "graft_model_create(): cannot allocate a model",
                             graft.Model, (1, 8, 8), ctx=ctx)
            alloc.limit = None
            with graft.Model((1, 8, 8), ctx=ctx):
                pass

    def test_shape(self):
        with tu.small_cnn() as m:
            self.assertFails(graft.ShapeError, -3,
                             "graft_model_predict(): the input has shape (1, 10), the model "
                             "takes (1, 1, 8, 8) (batch first)", m.predict, [[1.0] * 10])

    def test_range(self):
        with tu.small_cnn() as m:
            self.assertFails(graft.RangeError, -4,
                             "graft_model_predict_topk(): k is 9, must be 1 to 4 (the classes)",
                             m.predict_topk, [0.0] * 64, k=9)
            # A k graft refuses is refused before anything of that size exists.
            self.assertFails(graft.RangeError, -4, "graft_model_predict_topk(): k is "
                             "1000000000, must be 1 to 4 (the classes)",
                             m.predict_topk, [0.0] * 64, k=10 ** 9)
            self.assertFails(graft.RangeError, -4, "graft_model_predict_topk(): k is 0, must "
                             "be 1 to 4 (the classes)", m.predict_topk, [0.0] * 64, k=0)
        self.assertFails(graft.RangeError, -4,
                         "graft_optim_set(): GRAFT_OPT_LR is 20, must be in (0, 10]",
                         graft.Optimizer.sgd, lr=20)

    def test_io(self):
        missing = self.path("missing.graft")
        self.assertFails(graft.GraftIOError, -5,
                         'graft_model_load(): cannot open "%s": No such file or directory'
                         % missing, graft.Model.load, missing)

    def test_format(self):
        p = self.path("garbage.graft")
        with open(p, "wb") as f:
            f.write(b"hello, not a model")
        self.assertFails(graft.FormatError, -6,
                         'graft_model_load(): "%s": not a graft file: the magic bytes at '
                         'offset 0 do not match' % p, graft.Model.load, p)

    def test_state(self):
        with graft.Model((3,)) as m:
            self.assertFails(graft.StateError, -8,
                             "graft_model_replace_head(): the model has no layers",
                             m.replace_head, 2)

    def test_not_found(self):
        with tu.small_cnn() as m:
            e = self.assertFails(graft.NotFoundError, -9,
                                 'graft_model_freeze_through(): no layer named "nope"',
                                 m.freeze_through, "nope")
            self.assertIsInstance(e, LookupError)

    def test_version_newer_file_format(self):
        p = self.path("m.graft")
        with tu.small_cnn() as m:
            m.save(p)
        with open(p, "rb") as f:
            data = bytearray(f.read())
        data[8:12] = struct.pack("<I", 99)  # the header's format version
        self.assertFails(graft.VersionError, -10,
                         "graft_model_load_buffer(): format version 99 at offset 8 "
                         "is newer than this graft reads (1)", graft.Model.load_buffer, data)

    def test_version_struct_size(self):
        # The binding always sends its own struct size; a different one is
        # refused by graft, not misread.
        with tu.small_cnn() as m, tu.dataset(8, 1, "quadrant") as ds, \
                graft.Optimizer.sgd() as opt:
            opts = _lib.new_struct(_lib.FitOpts)
            opts.struct_size = ctypes.sizeof(_lib.FitOpts) + 8
            with self.assertRaises(graft.VersionError) as cm:
                _lib.call(_lib.C.graft_model_fit, m.handle, opt.handle, ds.handle, None,
                          ctypes.byref(opts))
            # the 1.0 size (up to user_data), then the current one
            self.assertEqual(cm.exception.message,
                             "graft_model_fit(): opts->struct_size is %d; this graft reads %d, "
                             "%d (use GRAFT_FIT_OPTS_INIT)" % (ctypes.sizeof(_lib.FitOpts) + 8,
                                                               _lib.FitOpts.class_weights.offset,
                                                               ctypes.sizeof(_lib.FitOpts)))

    def test_numeric(self):
        self.assertFails(graft.NumericError, -11,
                         "graft_dataset_from_memory(): sample 0, element 1: the feature is "
                         "NaN, must be finite", graft.Dataset.from_memory,
                         [[1.0, math.nan]], [0])

    def test_message_is_that_of_the_failing_call(self):
        ctx = graft.default_context()
        with self.assertRaises(graft.InvalidArgumentError):
            layers.dense(0)
        with layers.dense(3):  # a later success clears the context's message
            self.assertEqual(ctx.last_error, "")
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            layers.dropout(1.5)
        self.assertTrue(cm.exception.message.startswith("graft_layer_dropout(): "),
                        cm.exception.message)

    def test_python_side_value_errors(self):
        # Checks the binding makes itself raise ordinary Python exceptions.
        with self.assertRaises(TypeError):
            graft.Dataset.from_memory("abc", [0])
        with self.assertRaises(ValueError):
            graft.Dataset.from_memory([[1.0, 2.0], [3.0]], [0, 1])
        with self.assertRaises(KeyError):
            graft.Optimizer.sgd().get("no_such_key")
        with self.assertRaises(ValueError):
            graft.Optimizer("rmsprop")


if __name__ == "__main__":
    unittest.main()
