"""Augmentation presets, the 1.3 augmentation steps, padding and letterbox,
folder datasets with a preset or spec, and test-time augmentation
(graft 1.3)."""

import os
import random
import unittest

import graft_testutil as tu
from graft_testutil import graft

from test_model import flat


def grey(width, height, values):
    return graft.Image.from_array(values, width=width, height=height, channels=1)


class Presets(unittest.TestCase):
    def test_names_and_fields(self):
        self.assertEqual(graft.AUGMENT_PRESETS, ("none", "light", "standard", "strong"))
        std = graft.augment_preset("standard", 224, 224)
        self.assertEqual((std["crop_width"], std["crop_height"]), (224, 224))
        self.assertAlmostEqual(std["scale_min"], 0.08, places=6)
        self.assertEqual(std["flip_prob"], 0.5)
        self.assertEqual(std["rotation"], 0.0)
        strong = graft.augment_preset(3)  # GRAFT_AUGMENT_PRESET_STRONG
        self.assertEqual(strong["rotation"], 15.0)
        self.assertAlmostEqual(strong["hue"], 0.1, places=6)
        self.assertEqual(strong["crop_width"], 0)
        none = graft.augment_preset("none", 8, 8)
        self.assertEqual(none["crop_width"], 0)
        self.assertEqual(none["flip_prob"], 0.0)
        self.assertNotIn("seed", none)

    def test_errors(self):
        with self.assertRaises(ValueError):
            graft.augment_preset("wild")
        with self.assertRaises(graft.InvalidArgumentError):
            graft.augment_preset(7)
        with self.assertRaises(graft.InvalidArgumentError):
            graft.augment_preset("light", 8, 0)


class Transforms(unittest.TestCase):
    def test_pad(self):
        with grey(2, 2, [1, 2, 3, 4]) as img:
            img.pad(1, 0, 0, 1, fill=9)
            self.assertEqual(img.shape, (1, 3, 3))
            self.assertEqual(flat(img.to_array()), [9, 1, 2, 9, 3, 4, 9, 9, 9])
            with self.assertRaises(graft.InvalidArgumentError):
                img.pad(-1, 0, 0, 0)

    def test_letterbox(self):
        with grey(4, 2, [1, 1, 2, 2, 3, 3, 4, 4]) as img:
            img.letterbox(4, 4, fill=0.5)
            self.assertEqual(flat(img.to_array()),
                             [0.5] * 4 + [1, 1, 2, 2, 3, 3, 4, 4] + [0.5] * 4)
            with self.assertRaises(graft.RangeError):
                img.letterbox(0, 4)

    def test_augment_new_steps_reproducible(self):
        rng = random.Random(4)
        values = [rng.random() for _ in range(3 * 6 * 7)]
        kw = dict(rotation=30, translate_x=0.2, saturation=0.5, hue=0.2, grayscale_prob=0.3,
                  fill=0.5)
        outs = []
        for seed in (1, 1, 2):
            with graft.Image.from_array(values, width=7, height=6, channels=3) as img:
                img.augment(seed=seed, **kw)
                outs.append(flat(img.to_array()))
        self.assertEqual(outs[0], outs[1])
        self.assertNotEqual(outs[0], outs[2])
        with graft.Image.from_array(values, width=7, height=6, channels=3) as img:
            img.augment(seed=3, **graft.augment_preset("strong", 5, 4))
            self.assertEqual(img.shape, (3, 4, 5))
            for v in flat(img.to_array()):
                self.assertTrue(0.0 <= v <= 1.0)
            with self.assertRaises(graft.InvalidArgumentError):
                img.augment(hue=0.7)
            with self.assertRaises(TypeError):
                img.augment(shear=3)


class Folders(tu.TempDirTest):
    def setUp(self):
        super().setUp()
        self.root = self.path("shapes")
        rng = random.Random(2)
        for cls in ("a", "b"):
            os.makedirs(os.path.join(self.root, cls))
            for k in range(2):
                px = [rng.randrange(256) for _ in range(6 * 4 * 3)]
                tu.write_png(os.path.join(self.root, cls, "%d.png" % k), 6, 4, 3, px)

    def samples(self, **kw):
        with graft.Dataset.from_folder(self.root, width=4, height=4, seed=5, **kw) as ds:
            return [flat(ds[i][0]) for i in range(len(ds))], ds.deterministic

    def test_presets_and_specs(self):
        old, det = self.samples(augment=True)
        self.assertFalse(det)
        std, det = self.samples(augment="standard")
        self.assertEqual(std, old)  # the 1.0 augmentation
        plain, det = self.samples()
        none, det = self.samples(augment="none")
        self.assertTrue(det)
        self.assertEqual(none, plain)
        strong, det = self.samples(augment="strong")
        self.assertFalse(det)
        self.assertNotEqual(strong, plain)
        flipped, _ = self.samples(augment={"flip_prob": 1.0})
        for a, b in zip(flipped, plain):
            for row in range(12):
                self.assertEqual(a[row * 4:row * 4 + 4], b[row * 4:row * 4 + 4][::-1])
        with self.assertRaises(graft.InvalidArgumentError):
            self.samples(augment={"crop_width": 3, "crop_height": 3})
        with self.assertRaises(graft.InvalidArgumentError):
            self.samples(augment="strong", flip_prob=0.2)

    def test_letterbox(self):
        got, _ = self.samples(resize="letterbox", fill=0.25)
        # 6x4 into 4x4: 4 x round(4 * 4 / 6) = 4 x 3 at top (4 - 3) // 2 = 0, so one row
        # of fill at the bottom.
        for s in got:
            for c in range(3):
                self.assertEqual(s[c * 16 + 12:c * 16 + 16], [0.25] * 4)
                self.assertNotEqual(s[c * 16:c * 16 + 4], [0.25] * 4)


class TestTimeAugmentation(unittest.TestCase):
    def test_tta(self):
        m = tu.small_cnn()
        xs, _ = tu.images(3, 7, "quadrant")
        x = [[[img[r * tu.SIDE:(r + 1) * tu.SIDE] for r in range(tu.SIDE)]] for img in xs]
        mirrored = [[[row[::-1] for row in sample[0]]] for sample in x]
        plain = flat(m.predict(x))
        self.assertEqual(flat(m.predict_tta(x, "none")), plain)
        want = [(a + b) / 2 for a, b in zip(plain, flat(m.predict(mirrored)))]
        got = flat(m.predict_tta(x))
        for a, b in zip(got, want):
            self.assertAlmostEqual(a, b, places=6)
        allv = flat(m.predict_tta(x, "all"))
        for n in range(3):
            self.assertAlmostEqual(sum(allv[n * 4:n * 4 + 4]), 1.0, places=5)
        with self.assertRaises(ValueError):
            m.predict_tta(x, "sideways")
        with self.assertRaises(graft.InvalidArgumentError):
            m.predict_tta(x, 8)


if __name__ == "__main__":
    unittest.main()
