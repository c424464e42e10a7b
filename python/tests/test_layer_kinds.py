"""graft.layers has one constructor per layer kind, and its kind list is the
C library's: the GRAFT_LAYER_KIND(ENUM, name, vtable) lines of
src/layers/kinds.h, in registry order."""

import os
import unittest

import graft_testutil as tu
from graft_testutil import layers

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
