"""graft.layers has one constructor per layer kind, and its kind list is the
C library's: the GRAFT_LAYER_KIND(ENUM, name, vtable) lines of
src/layers/kinds.h, in registry order."""

import os
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

import headerparse

# Arguments for the constructors that need some; the others take none. A
# kind new in kinds.h whose constructor needs arguments fails
# test_each_constructor_makes_its_kind until it is given some here.
SAMPLE_ARGS = {
    "conv2d": (4,),
    "max_pool2d": (2,),
    "avg_pool2d": (2,),
    "dense": (3,),
    "clip": (0.0, 6.0),
    "dropout": (0.5,),
    "pad2d": (1,),
    "reshape": ((2, 2),),
    "scale_shift": ((1,),),
    "upsample2d": (2,),
    "transpose": ((0, 2, 1),),
    "slice": (1, 0, 1),
    "conv_transpose2d": (4,),
}


@unittest.skipUnless(os.path.isfile(tu.KINDS_HEADER),
                     "src/layers/kinds.h not found (not a source checkout, or one from "
                     "before the one-file-per-kind layout)")
class KindsHeader(unittest.TestCase):
    def setUp(self):
        self.kinds = headerparse.layer_kinds(headerparse.read(tu.KINDS_HEADER))

    def test_python_kinds_are_the_header_kinds_in_order(self):
        self.assertEqual(list(layers.KINDS), [name for _, name, _ in self.kinds],
                         "graft.layers.KINDS (from python/graft/_api.py) differs from "
                         "src/layers/kinds.h; run `python3 python/tools/gen_api.py`")

    def test_every_header_kind_has_a_constructor(self):
        for _, name, _ in self.kinds:
            self.assertTrue(callable(getattr(layers, name, None)),
                            "graft.layers has no constructor %s() for the kind %s of %s"
                            % (name, name, tu.KINDS_HEADER))


class Constructors(unittest.TestCase):
    def test_every_kind_has_a_constructor(self):
        self.assertGreater(len(layers.KINDS), 20)
        self.assertEqual(len(set(layers.KINDS)), len(layers.KINDS))
        for kind in layers.KINDS:
            self.assertTrue(callable(getattr(layers, kind, None)), kind)
            self.assertIn(kind, layers.__all__)

    def test_each_constructor_makes_its_kind(self):
        for kind in layers.KINDS:
            with self.subTest(kind=kind):
                with getattr(layers, kind)(*SAMPLE_ARGS.get(kind, ())) as layer:
                    self.assertEqual(layer.kind, kind)

    def test_relu6_is_a_clip(self):
        with layers.relu6() as layer:
            self.assertEqual(layer.kind, "clip")


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


class ConvTranspose2d(unittest.TestCase):
    """layers.conv_transpose2d: its arguments reach the spec, the output
    has ONNX's size, and bad values come back as graft's messages."""

    def test_values_and_sizes(self):
        # x = 1 2 / 3 4, weight 1 10 / 100 1000, bias 0.5, stride 2: each
        # input cell writes its own 2x2 block of the output.
        with graft.Model((1, 2, 2)) as m:
            ct = m.add(layers.conv_transpose2d(1, 2, stride=2), "up")
            self.assertEqual(ct.kind, "conv_transpose2d")
            self.assertEqual(ct.param_names, ["weight", "bias"])
            ct.set_parameter("weight", [1.0, 10.0, 100.0, 1000.0])
            ct.set_parameter("bias", [0.5])
            self.assertEqual(m.output_shape, (1, 4, 4))
            want = [1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000]
            self.assertEqual(flat(m.forward([[[[1.0, 2.0], [3.0, 4.0]]]])),
                             [v + 0.5 for v in want])
        # stride*(H-1) + output_padding + dilation*(k-1) + 1 - pads:
        # 2*4 + 1 + 2*2 + 1 - 1 - 0 = 13 rows, 3*5 + 0 + 3 + 1 - 2 - 2 = 15 columns
        with graft.Model((4, 5, 6)) as m:
            ct = m.add(layers.conv_transpose2d(6, (3, 4), stride=(2, 3), padding=(1, 2, 0, 2),
                                               output_padding=(1, 0), dilation=(2, 1),
                                               groups=2, bias=False))
            self.assertEqual(m.output_shape, (6, 13, 15))
            self.assertEqual(ct.param_names, ["weight"])
            self.assertEqual(ct.params, 4 * 3 * 3 * 4)

    def test_bad_arguments(self):
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            layers.conv_transpose2d(2, 3, stride=2, output_padding=2)
        self.assertIn("output_padding_h is 2, must be < stride_h (2) or dilation_h (1)",
                      str(cm.exception))
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            layers.conv_transpose2d(3, 3, groups=2)
        self.assertIn("out_channels 3 is not divisible by groups 2", str(cm.exception))
        with self.assertRaises(ValueError):
            layers.conv_transpose2d(2, 3, output_padding=(1, 1, 1))


class KindsParse(unittest.TestCase):
    def test_parse(self):
        text = ("/* GRAFT_LAYER_KIND(ENUM, name, vtable), in registry order */\n"
                "GRAFT_LAYER_KIND(CONV2D, conv2d, graftConv2dVtbl)\n"
                "  GRAFT_LAYER_KIND( MAX_POOL2D , max_pool2d , graftMaxPool2dVtbl )\n"
                "// GRAFT_LAYER_KIND(OLD, old, graftOldVtbl)\n")
        self.assertEqual(headerparse.layer_kinds(text),
                         [("CONV2D", "conv2d", "graftConv2dVtbl"),
                          ("MAX_POOL2D", "max_pool2d", "graftMaxPool2dVtbl")])
        with self.assertRaises(ValueError):
            headerparse.layer_kinds("#define GRAFT_LAYER_KIND(e, n, v) n,\n")
        with self.assertRaises(ValueError):
            headerparse.layer_kinds("GRAFT_LAYER_KIND(A, a, graftAVtbl)\n"
                                    "GRAFT_LAYER_KIND(A, a, graftAVtbl)\n")


if __name__ == "__main__":
    unittest.main()
