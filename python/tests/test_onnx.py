"""ONNX import and export (Model.import_onnx, export_onnx,
export_onnx_bytes), and the layer kinds ONNX graphs bring: mul,
hard_sigmoid, pad2d, reshape, scale_shift, transpose, slice, concat
along other axes."""

import ctypes
import math
import os
import pathlib
import random
import struct
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

from graft import _lib

ONNX_DIR = os.path.join(tu.REPO_DIR, "tests", "data", "onnx")
VGG = os.path.join(ONNX_DIR, "vgg_style.onnx")
needs_fixture = unittest.skipUnless(os.path.isfile(VGG), "tests/data/onnx/vgg_style.onnx "
                                    "not found")


def flat(values):
    """Nested lists or a numpy array as a flat list of floats."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    out = []
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        else:
            out.append(float(v))
    return out


def _varint(data, pos):
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def read_tensor_proto(path):
    """(dims, flat float values) of an ONNX TensorProto file of floats."""
    with open(path, "rb") as f:
        data = f.read()
    dims, values, raw, pos = [], [], None, 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _varint(data, pos)
            if field == 1:
                dims.append(v)
            elif field == 2:
                assert v == 1, "data_type %d is not FLOAT" % v
        elif wire == 2:
            n, pos = _varint(data, pos)
            chunk, pos = data[pos:pos + n], pos + n
            if field == 1:  # packed dims
                p = 0
                while p < len(chunk):
                    v, p = _varint(chunk, p)
                    dims.append(v)
            elif field == 4:  # packed float_data
                values.extend(struct.unpack("<%df" % (len(chunk) // 4), chunk))
            elif field == 9:
                raw = chunk
        elif wire == 5:
            if field == 4:
                values.append(struct.unpack_from("<f", data, pos)[0])
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError("wire type %d" % wire)
    if raw is not None:
        values = list(struct.unpack("<%df" % (len(raw) // 4), raw))
    return tuple(dims), values


def _pb_varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def _pb_bytes(field, payload):
    return _pb_varint(field << 3 | 2) + _pb_varint(len(payload)) + payload


def _pb_int(field, value):
    return _pb_varint(field << 3) + _pb_varint(value)


def _value_info(name, dims):
    shape = b"".join(_pb_bytes(1, _pb_int(1, d)) for d in dims)
    tensor_type = _pb_int(1, 1) + _pb_bytes(2, shape)  # FLOAT, shape
    return _pb_bytes(1, name.encode()) + _pb_bytes(2, _pb_bytes(1, tensor_type))


def two_input_model():
    """The bytes of an ONNX model (opset 13) whose graph has two inputs,
    x (1, 2, 1, 2) and s (2, 1, 1), and one node "gain": y = Mul(x, s)."""
    node = (_pb_bytes(1, b"x") + _pb_bytes(1, b"s") + _pb_bytes(2, b"y")
            + _pb_bytes(3, b"gain") + _pb_bytes(4, b"Mul"))
    graph = (_pb_bytes(1, node) + _pb_bytes(2, b"g")
             + _pb_bytes(11, _value_info("x", [1, 2, 1, 2]))
             + _pb_bytes(11, _value_info("s", [2, 1, 1]))
             + _pb_bytes(12, _value_info("y", [1, 2, 1, 2])))
    return _pb_int(1, 7) + _pb_bytes(8, _pb_bytes(1, b"") + _pb_int(2, 13)) + _pb_bytes(7, graph)


def sample_batch(n, seed):
    rng = random.Random(seed)
    return [[rng.uniform(-1.0, 1.0) for _ in range(3 * 32 * 32)] for _ in range(n)]


def assertClose(test, got, want, atol, rtol=0.0):
    got, want = flat(got), flat(want)
    test.assertEqual(len(got), len(want))
    worst = max(abs(g - w) - rtol * abs(w) for g, w in zip(got, want))
    test.assertLessEqual(worst, atol)


@needs_fixture
class Import(tu.TempDirTest):
    def test_layers_are_named_after_the_nodes(self):
        with graft.Model.import_onnx(VGG) as m:
            self.assertEqual(m.input_shape, (3, 32, 32))
            self.assertEqual(m.output_shape, (10,))
            names = [l.name for l in m]
            self.assertEqual(names[0], "/features/features.0/Conv")
            self.assertEqual(names[-1], "/classifier/classifier.3/Gemm")
            for name, kind in (("/features/features.1/BatchNormalization", "batch_norm"),
                               ("/se/se.3/HardSigmoid", "hard_sigmoid"),
                               ("/Mul", "mul"),
                               ("/tail/tail.1/Mul", "hard_swish"),
                               ("/Reshape", "reshape"),
                               ("/classifier/classifier.0/Gemm", "dense")):
                self.assertEqual(m[name].kind, kind, name)
            self.assertEqual(m["/Mul"].inputs,
                             ["/features/features.13/MaxPool", "/se/se.3/HardSigmoid"])
            self.assertTrue(all(l.trainable for l in m if l.params))

    def test_predicts_what_pytorch_computes(self):
        shape, x = read_tensor_proto(os.path.join(ONNX_DIR, "vgg_style.input.pb"))
        want_shape, want = read_tensor_proto(os.path.join(ONNX_DIR, "vgg_style.output.pb"))
        self.assertEqual(shape[1:], (3, 32, 32))
        with graft.Model.import_onnx(VGG) as m:
            logits = m.forward(x)
            assertClose(self, logits, want, 1e-6, 1e-4)
            self.assertEqual(len(flat(logits)), want_shape[0] * want_shape[1])
            probs = flat(m.predict(x))
            self.assertEqual(len(probs), shape[0] * 10)
            for row in range(shape[0]):
                self.assertAlmostEqual(sum(probs[10 * row:10 * row + 10]), 1.0, places=5)

    def test_path_like_and_bytes_give_the_same_model(self):
        with open(VGG, "rb") as f:
            data = f.read()
        x = sample_batch(2, 1)
        with graft.Model.import_onnx(VGG) as a:
            want = a.forward(x)
        for source in (pathlib.Path(VGG), data, bytearray(data), memoryview(data)):
            with self.subTest(source=type(source).__name__), \
                    graft.Model.import_onnx(source) as b:
                self.assertEqual(flat(b.forward(x)), flat(want))

    def test_options(self):
        with graft.Model.import_onnx(VGG, input_name="input", seed=5) as m:
            self.assertEqual(len(m), 25)
        with self.assertRaises(graft.NotFoundError) as cm:
            graft.Model.import_onnx(VGG, input_name="nope")
        self.assertTrue(cm.exception.message.startswith("graft_onnx_import(): "),
                        cm.exception.message)
        self.assertIn('"nope"', cm.exception.message)

    def test_replace_head_and_fit(self):
        with graft.Model.import_onnx(VGG) as m, graft.Optimizer.sgd(lr=0.01) as opt:
            m.replace_head(3, class_names=["a", "b", "c"])
            m.freeze_through("/Reshape")
            self.assertEqual(m[-1].name, "head/fc")
            self.assertEqual(m.output_shape, (3,))
            conv = m["/features/features.0/Conv"].get_parameter("weight")
            fc = m["head/fc"].get_parameter("weight")
            xs = sample_batch(6, 2)
            with graft.Dataset.from_memory(xs, [0, 1, 2, 0, 1, 2], n_classes=3,
                                           sample_shape=(3, 32, 32)) as ds:
                history = m.fit(ds, opt, epochs=2, batch_size=3)
            self.assertEqual(len(history), 2)
            self.assertTrue(all(math.isfinite(p.loss) for p in history))
            self.assertEqual(flat(m["/features/features.0/Conv"].get_parameter("weight")),
                             flat(conv))
            self.assertNotEqual(flat(m["head/fc"].get_parameter("weight")), flat(fc))
            self.assertEqual(len(flat(m.predict(xs))), 18)


class BoundInputs(unittest.TestCase):
    def test_other_graph_inputs_are_bound_to_values(self):
        data = two_input_model()
        with self.assertRaises(graft.UnsupportedError) as cm:
            graft.Model.import_onnx(data)
        self.assertIn("2 inputs without a value", cm.exception.message)
        with graft.Model.import_onnx(data, input_name="x",
                                     bound={"s": [[[2.0]], [[-3.0]]]}) as m:
            self.assertEqual([(l.name, l.kind) for l in m], [("gain", "scale_shift")])
            self.assertEqual(m.input_shape, (2, 1, 2))
            self.assertEqual(flat(m.forward([1, 2, 3, 4])), [2.0, 4.0, -9.0, -12.0])
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            graft.Model.import_onnx(data, input_name="x", bound={"nope": [1.0]})
        self.assertEqual(cm.exception.message, 'graft_onnx_import_buffer(): bound_names names '
                         '"nope", which is not a graph input')


OPEN_HW = os.path.join(ONNX_DIR, "fcn_open_hw.onnx")
SHAPE_OPEN_HW = os.path.join(ONNX_DIR, "shape_open_hw.onnx")


@unittest.skipUnless(os.path.isfile(OPEN_HW) and os.path.isfile(SHAPE_OPEN_HW),
                     "tests/data/onnx/fcn_open_hw.onnx or shape_open_hw.onnx not found")
class OpenInputSizes(unittest.TestCase):
    """input_shape fixes the sizes an ONNX file leaves open (height and
    width here), and what the graph computes from them."""

    def check_size(self, path, input_shape, h, w):
        stem = os.path.join(ONNX_DIR, "%s.%dx%d" % (os.path.basename(path)[:-5], h, w))
        shape, x = read_tensor_proto(stem + ".input.pb")
        want_shape, want = read_tensor_proto(stem + ".output.pb")
        self.assertEqual(shape, (1, 3, h, w))
        with graft.Model.import_onnx(path, input_shape=input_shape) as m:
            self.assertEqual(m.input_shape, (3, h, w))
            self.assertEqual(m.output_shape, want_shape[1:])
            assertClose(self, m.forward(x), want, 1e-6, 1e-4)

    def test_two_sizes_of_each_network(self):
        self.check_size(OPEN_HW, (1, 3, 24, 32), 24, 32)
        self.check_size(OPEN_HW, [None, 3, 17, 23], 17, 23)
        self.check_size(SHAPE_OPEN_HW, (-1, 3, 20, 28), 20, 28)
        self.check_size(SHAPE_OPEN_HW, (1, 3, 15, 21), 15, 21)

    def test_open_sizes_are_named_without_it(self):
        with self.assertRaises(graft.UnsupportedError) as cm:
            graft.Model.import_onnx(OPEN_HW)
        self.assertEqual(cm.exception.message,
                         'graft_onnx_import(): axis 2 ("height") and axis 3 ("width") of the '
                         'graph input "x" have no fixed size; give them with the import option '
                         'input_shape (CLI: --input-shape 1x3xheightxwidth)')

    def test_refusals(self):
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            graft.Model.import_onnx(OPEN_HW, input_shape=(1, 4, 24, 32))
        self.assertEqual(cm.exception.message,
                         'graft_onnx_import(): input_shape gives axis 1 of the graph input "x" '
                         'the size 4; the file fixes it at 3')
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            graft.Model.import_onnx(OPEN_HW, input_shape=(3, 24, 32))
        self.assertIn('input_shape has 3 sizes; the graph input "x" has rank 4',
                      cm.exception.message)
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            graft.Model.import_onnx(OPEN_HW, input_shape=(1, 3, None, 32))
        self.assertIn("axis 2 of the graph input \"x\" the size -1", cm.exception.message)
        with self.assertRaises(graft.InvalidArgumentError):
            graft.Model.import_onnx(OPEN_HW, input_shape=(1,) * 9)
        with self.assertRaises(TypeError) as cm:
            graft.Model.import_onnx(OPEN_HW, input_shape=(1, 3, 24.5, 32))
        self.assertIn("input_shape[2] is 24.5", str(cm.exception))
        with self.assertRaises(TypeError):
            graft.Model.import_onnx(OPEN_HW, input_shape="1x3x24x32")
        with self.assertRaises(OverflowError):
            graft.Model.import_onnx(OPEN_HW, input_shape=(1, 3, 2 ** 63, 32))

    def test_from_bytes(self):
        with open(OPEN_HW, "rb") as f:
            data = f.read()
        with graft.Model.import_onnx(data, input_shape=(1, 3, 24, 32)) as m:
            self.assertEqual(m.input_shape, (3, 24, 32))


@needs_fixture
class Export(tu.TempDirTest):
    def test_round_trip_through_bytes_and_file(self):
        x = sample_batch(3, 4)
        with graft.Model.import_onnx(VGG) as m, graft.Optimizer.sgd(lr=0.01) as opt:
            m.replace_head(3)
            with graft.Dataset.from_memory(sample_batch(6, 5), [0, 1, 2, 2, 1, 0],
                                           n_classes=3, sample_shape=(3, 32, 32)) as ds:
                m.fit(ds, opt, epochs=1, batch_size=3)
            want = m.forward(x)
            names = [l.name for l in m]
            data = m.export_onnx_bytes()
            self.assertIsInstance(data, bytes)
            path = self.path("tuned.onnx")
            m.export_onnx(path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data)
            m.export_onnx(pathlib.Path(self.path("folded.onnx")), fold_batch_norm=True)
        for source in (data, path):
            with self.subTest(source=type(source).__name__), \
                    graft.Model.import_onnx(source) as back:
                self.assertEqual([l.name for l in back], names)
                assertClose(self, back.forward(x), want, 1e-5)
        with graft.Model.import_onnx(self.path("folded.onnx")) as folded:
            kinds = [l.kind for l in folded]
            self.assertNotIn("batch_norm", kinds)
            self.assertEqual(len(folded), len(names) - 3)
            assertClose(self, folded.forward(x), want, 1e-4, 1e-4)

    def test_export_options(self):
        with tu.small_cnn() as m:
            data = m.export_onnx_bytes(opset=17, input_name="pixels", output_name="scores")
            self.assertIn(b"pixels", data)
            self.assertIn(b"scores", data)
            self.assertNotIn(b"input", data.replace(b"pixels", b""))
            with graft.Model.import_onnx(data, input_name="pixels") as back:
                self.assertEqual([l.name for l in back], [l.name for l in m])
            with self.assertRaises(graft.InvalidArgumentError) as cm:
                m.export_onnx_bytes(opset=12)
            self.assertTrue(cm.exception.message.startswith("graft_onnx_export_buffer(): "),
                            cm.exception.message)
            self.assertIn("12", cm.exception.message)
            with self.assertRaises(graft.InvalidArgumentError) as cm:
                m.export_onnx(self.path("m.onnx"), opset=18)
            self.assertTrue(cm.exception.message.startswith("graft_onnx_export(): "),
                            cm.exception.message)
            self.assertFalse(os.path.exists(self.path("m.onnx")))

    def test_keep_softmax(self):
        with tu.small_cnn() as m:
            m.add(layers.softmax(), "prob")
            data = m.export_onnx_bytes()
            x = [0.5] * 64
            probs = m.forward(x)
        with graft.Model.import_onnx(data) as dropped:
            self.assertNotIn("prob", dropped)
            self.assertEqual(dropped[-1].name, "fc")
            assertClose(self, dropped.predict(x), probs, 1e-6)
        with graft.Model.import_onnx(data, keep_softmax=True) as kept:
            self.assertEqual(kept["prob"].kind, "softmax")
            assertClose(self, kept.forward(x), probs, 1e-6)

    def test_new_layer_kinds_round_trip(self):
        with graft.Model((2, 4, 4), seed=3) as m:
            m.add(layers.pad2d((1, 2), mode="reflect"), "pad")
            m.add(layers.scale_shift((2, 1, 1)), "affine")
            m["affine"].set_parameter("scale", [2.0, -1.0])
            m["affine"].set_parameter("shift", [0.5, 0.25])
            m.add(layers.conv2d(2, 3), "conv")
            m.add(layers.global_avg_pool(), "gap")
            m.add(layers.hard_sigmoid(), "gate")
            m.add(layers.mul(), "se", inputs=["conv", "gate"])
            m.add(layers.reshape((2, 24)), "rs")
            m.add(layers.dense(3), "fc")
            x = [random.Random(7).uniform(-2, 2) for _ in range(2 * 32)]
            want = m.forward(x)
            path = self.path("kinds.onnx")
            m.export_onnx(path)
        with graft.Model.import_onnx(path) as back:
            # The exporter may write a layer as more than one node (scale_shift
            # as Mul and Add, dense as Flatten and Gemm); the layer's own name
            # stays on the node that gives its output.
            for name, kind in (("pad", "pad2d"), ("affine", "scale_shift"), ("conv", "conv2d"),
                               ("gap", "global_avg_pool"), ("gate", "hard_sigmoid"),
                               ("se", "mul"), ("rs", "reshape"), ("fc", "dense")):
                self.assertEqual(back[name].kind, kind, name)
            self.assertEqual(back[-1].name, "fc")
            assertClose(self, back.forward(x), want, 1e-5)


class Errors(tu.TempDirTest):
    def test_missing_file(self):
        missing = self.path("missing.onnx")
        with self.assertRaises(graft.GraftIOError) as cm:
            graft.Model.import_onnx(missing)
        e = cm.exception
        self.assertEqual(e.code, -5)
        self.assertEqual(e.message, 'graft_onnx_import(): cannot open "%s": No such file or '
                         'directory' % missing)
        self.assertEqual(graft.default_context().last_error, e.message)

    def test_garbage_bytes(self):
        with self.assertRaises(graft.FormatError) as cm:
            graft.Model.import_onnx(b"hello, not an onnx model")
        e = cm.exception
        self.assertIsInstance(e, ValueError)
        self.assertEqual(e.code, -6)
        self.assertTrue(e.message.startswith(
            "graft_onnx_import_buffer(): malformed ONNX protobuf at offset "), e.message)
        self.assertEqual(graft.default_context().last_error, e.message)

    def test_garbage_file(self):
        p = self.path("garbage.onnx")
        with open(p, "wb") as f:
            f.write(b"\xff" * 32)
        with self.assertRaises(graft.FormatError) as cm:
            graft.Model.import_onnx(p)
        self.assertTrue(cm.exception.message.startswith("graft_onnx_import(): "),
                        cm.exception.message)

    def test_empty_model_cannot_be_exported(self):
        with graft.Model((3,)) as m:
            with self.assertRaises(graft.StateError) as cm:
                m.export_onnx_bytes()
            self.assertTrue(cm.exception.message.startswith("graft_onnx_export_buffer(): "),
                            cm.exception.message)
            with self.assertRaises(graft.StateError):
                m.export_onnx(self.path("empty.onnx"))

    def test_struct_size_is_checked(self):
        opts = _lib.new_struct(_lib.OnnxExportOpts)
        opts.struct_size = ctypes.sizeof(_lib.OnnxExportOpts) + 8
        with tu.small_cnn() as m:
            data, size = ctypes.c_void_p(), ctypes.c_size_t()
            with self.assertRaises(graft.VersionError):
                _lib.call(_lib.C.graft_onnx_export_buffer, m.handle, ctypes.byref(opts),
                          ctypes.byref(data), ctypes.byref(size))
        opts = _lib.new_struct(_lib.OnnxImportOpts)
        opts.struct_size = 4
        out = ctypes.c_void_p()
        with self.assertRaises(graft.VersionError):
            _lib.call(_lib.C.graft_onnx_import_buffer, graft.default_context().handle,
                      b"x", 1, ctypes.byref(opts), ctypes.byref(out))

    def test_buffer_free_accepts_null(self):
        _lib.C.graft_onnx_buffer_free(graft.default_context().handle, None)


class NewLayers(unittest.TestCase):
    """Each new constructor makes a layer of its kind that computes what
    graft.h says; bad attributes raise InvalidArgumentError with graft's
    message."""

    def run_layer(self, layer, input_shape, x):
        with graft.Model(input_shape) as m:
            m.add(layer, "l")
            return m.output_shape, flat(m.forward(x))

    def test_kinds(self):
        made = [(layers.mul(), "mul"), (layers.hard_sigmoid(), "hard_sigmoid"),
                (layers.pad2d(1), "pad2d"), (layers.reshape((2, 3)), "reshape"),
                (layers.scale_shift((3, 1, 1)), "scale_shift")]
        for layer, kind in made:
            with layer:
                self.assertEqual(layer.kind, kind)
                self.assertIn(kind, repr(layer))

    def test_hard_sigmoid(self):
        shape, y = self.run_layer(layers.hard_sigmoid(), (4,), [-4.0, 0.0, 1.5, 9.0])
        self.assertEqual(shape, (4,))
        assertClose(self, y, [0.0, 0.5, 0.75, 1.0], 1e-6)
        _, y = self.run_layer(layers.hard_sigmoid(0.2, 0.5), (2,), [1.0, -1.0])
        assertClose(self, y, [0.7, 0.3], 1e-6)

    def test_silu_and_gelu(self):
        x = [-3.0, -0.5, 0.0, 1.0, 4.0]
        shape, y = self.run_layer(layers.silu(), (5,), x)
        self.assertEqual(shape, (5,))
        assertClose(self, y, [v / (1.0 + math.exp(-v)) for v in x], 1e-6)
        _, y = self.run_layer(layers.gelu(), (5,), x)
        assertClose(self, y, [v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x], 1e-6)
        k = math.sqrt(2.0 / math.pi)
        _, y = self.run_layer(layers.gelu(approximate="tanh"), (5,), x)
        assertClose(self, y, [0.5 * v * (1.0 + math.tanh(k * (v + 0.044715 * v ** 3)))
                              for v in x], 1e-6)
        for form in ("none", "erf", "tanh"):
            with layers.gelu(form) as layer:
                self.assertEqual(layer.kind, "gelu")
        with self.assertRaisesRegex(ValueError, "approximate must be one of"):
            layers.gelu("sigmoid")

    def test_silu_and_gelu_onnx_round_trip(self):
        """Exported as Sigmoid and Mul, or as PyTorch's Erf or Tanh nodes,
        and imported back as the one layer (the importer folds the chain)."""
        x = [-2.5, -0.25, 0.75, 3.0]
        for make, kind in ((layers.silu, "silu"), (layers.gelu, "gelu"),
                           (lambda: layers.gelu("tanh"), "gelu")):
            with graft.Model((4,)) as m:
                m.add(make(), "act")
                data = m.export_onnx_bytes()
                y0 = flat(m.forward(x))
            with graft.Model.import_onnx(data) as m2:
                self.assertEqual([(l.name, l.kind) for l in m2.layers], [("act", kind)])
                assertClose(self, flat(m2.forward(x)), y0, 0.0)

    def test_pad2d(self):
        row = [1.0, 2.0, 3.0, 4.0]
        for mode, want in (("constant", [9.0, 9.0, 1.0, 2.0, 3.0, 4.0]),
                           ("reflect", [3.0, 2.0, 1.0, 2.0, 3.0, 4.0]),
                           ("edge", [1.0, 1.0, 1.0, 2.0, 3.0, 4.0])):
            with self.subTest(mode=mode):
                shape, y = self.run_layer(layers.pad2d((0, 2, 0, 0), mode=mode, value=9.0),
                                          (1, 1, 4), row)
                self.assertEqual(shape, (1, 1, 6))
                self.assertEqual(y, want)
        shape, _ = self.run_layer(layers.pad2d((1, 2)), (2, 3, 3), [0.0] * 18)
        self.assertEqual(shape, (2, 5, 7))

    def test_reshape(self):
        shape, y = self.run_layer(layers.reshape((3, 2)), (2, 3), [1, 2, 3, 4, 5, 6])
        self.assertEqual(shape, (3, 2))
        self.assertEqual(y, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        shape, _ = self.run_layer(layers.reshape(6), (2, 3), [0.0] * 6)
        self.assertEqual(shape, (6,))
        with graft.Model((2, 3)) as m:
            with self.assertRaises(graft.ShapeError) as cm:
                m.add(layers.reshape((4, 2)), "rs")
            self.assertTrue(cm.exception.message.startswith("graft_model_add(): "),
                            cm.exception.message)

    def test_transpose(self):
        # (N, 2, 3) -> (N, 3, 2)
        shape, y = self.run_layer(layers.transpose((0, 2, 1)), (2, 3), [1, 2, 3, 4, 5, 6])
        self.assertEqual(shape, (3, 2))
        self.assertEqual(y, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
        with layers.transpose([0, 2, 3, 1]) as layer:
            self.assertEqual(layer.kind, "transpose")
        self.assertFails("graft_layer_transpose(): perm[0] is 1, must be 0: the batch axis "
                         "stays first", layers.transpose, (1, 0, 2))

    def test_slice(self):
        x = [1, 2, 3, 4, 5, 6]
        shape, y = self.run_layer(layers.slice(2, 1), (2, 3), x)  # x[:, :, 1:]
        self.assertEqual(shape, (2, 2))
        self.assertEqual(y, [2.0, 3.0, 5.0, 6.0])
        shape, y = self.run_layer(layers.slice(-1, -1, step=-2), (2, 3), x)  # x[..., ::-2]
        self.assertEqual(shape, (2, 2))
        self.assertEqual(y, [3.0, 1.0, 6.0, 4.0])
        shape, y = self.run_layer(layers.slice(1, 1, 2), (2, 3), x)  # x[:, 1:2]
        self.assertEqual(shape, (1, 3))
        self.assertEqual(y, [4.0, 5.0, 6.0])
        self.assertFails("graft_layer_slice(): step is 0", layers.slice, 1, 0, 1, 0)

    def test_concat_axis(self):
        with graft.Model((2, 3)) as m:
            m.add(layers.slice(2, 0, 1), "a")
            m.add(layers.concat(axis=-1), "cat", inputs=["input", "a"])
            self.assertEqual(m.output_shape, (2, 4))
            self.assertEqual(flat(m.forward([1, 2, 3, 4, 5, 6])),
                             [1.0, 2.0, 3.0, 1.0, 4.0, 5.0, 6.0, 4.0])

    def test_scale_shift(self):
        with graft.Model((2, 1, 2)) as m:
            m.add(layers.scale_shift((2, 1, 1)), "affine")
            self.assertEqual(sorted(m["affine"].param_names), ["scale", "shift"])
            self.assertEqual(m["affine"].params, 0)  # buffers, not trained
            self.assertEqual(flat(m.forward([1, 2, 3, 4])), [1.0, 2.0, 3.0, 4.0])
            m["affine"].set_parameter("scale", [2.0, -1.0])
            m["affine"].set_parameter("shift", [0.5, 1.0])
            self.assertEqual(flat(m.forward([1, 2, 3, 4])), [2.5, 4.5, -2.0, -3.0])

    def test_mul_broadcasts(self):
        with graft.Model((2, 1, 2)) as m:
            m.add(layers.global_avg_pool(), "gap")
            m.add(layers.mul(), "mul", inputs=["input", "gap"])
            self.assertEqual(m.output_shape, (2, 1, 2))
            # channel means 1.5 and 3.5
            self.assertEqual(flat(m.forward([1, 2, 3, 4])), [1.5, 3.0, 10.5, 14.0])

    def assertFails(self, message, fn, *args, **kwargs):
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.code, -1)
        self.assertEqual(cm.exception.message, message)
        self.assertEqual(graft.default_context().last_error, message)

    def test_errors(self):
        self.assertFails("graft_layer_hard_sigmoid(): alpha is nan, must be finite",
                         layers.hard_sigmoid, math.nan)
        self.assertFails("graft_layer_pad2d(): pad_top is -1, must be >= 0",
                         layers.pad2d, (-1, 0, 0, 0))
        self.assertFails("graft_layer_pad2d(): value is inf, must be finite",
                         layers.pad2d, 1, value=math.inf)
        self.assertFails("graft_layer_reshape(): ndim is 0, must be 1 to 7 (the batch "
                         "dimension is kept)", layers.reshape, ())
        self.assertFails("graft_layer_scale_shift(): ndim is 8, must be 1 to 7",
                         layers.scale_shift, (1,) * 8)
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            layers.reshape((2, 0))
        self.assertTrue(cm.exception.message.startswith("graft_layer_reshape(): dims[1] is 0"),
                        cm.exception.message)
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            layers.scale_shift((3, -1))
        self.assertTrue(cm.exception.message.startswith("graft_layer_scale_shift(): "),
                        cm.exception.message)
        # An unknown mode is refused by the binding; a bad number by graft.
        with self.assertRaises(ValueError) as cm:
            layers.pad2d(1, mode="wrap")
        self.assertNotIsInstance(cm.exception, graft.GraftError)
        spec = _lib.new_struct(_lib.Pad2dSpec, mode=7)
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            graft.Layer._create(None, _lib.C.graft_layer_pad2d, ctypes.byref(spec))
        self.assertTrue(cm.exception.message.startswith("graft_layer_pad2d(): mode is 7"),
                        cm.exception.message)
        with graft.Model((2, 1, 2)) as m:
            m.add(layers.reshape((4,)), "flat")
            with self.assertRaises(graft.ShapeError):
                m.add(layers.mul(), "mul", inputs=["input", "flat"])


if __name__ == "__main__":
    unittest.main()
