"""The input preprocessing a model carries (Model.preprocess,
Model.predict_image) and saving to and loading from bytes (since 1.3)."""

import os
import shutil
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

IMAGES = os.path.join(tu.REPO_DIR, "tests", "data", "images")
RGB8 = os.path.join(IMAGES, "rgb8.png")


def image_model(channels=3, height=6, width=5, classes=4):
    m = graft.Model((channels, height, width), seed=3)
    m.add(layers.flatten(), "flat")
    m.add(layers.dense(classes), "fc")
    return m


def flat(values):
    """A result (numpy array or nested lists) as a flat list of floats."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    out = []
    for v in values:
        out.extend(flat(v) if isinstance(v, list) else [float(v)])
    return out


class Preprocess(tu.TempDirTest):
    def test_set_get_and_files(self):
        with image_model() as m:
            self.assertIsNone(m.preprocess)
            m.preprocess = {"height": 6, "width": 5, "scale": 255, "shorter_side": 9}
            p = m.preprocess
            self.assertEqual(p["channels"], 3)
            self.assertEqual((p["height"], p["width"], p["shorter_side"]), (6, 5, 9))
            self.assertEqual((p["resize"], p["normalize"], p["scale"]),
                             ("shorter_crop", "scale", 255.0))
            # Through bytes, a file, a checkpoint and ONNX.
            data = m.save_bytes()
            path = os.path.join(self.tmp, "m.graft")
            m.save(path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data)
            with graft.Model.load_buffer(data) as back:
                self.assertEqual(back.preprocess, p)
            with graft.Optimizer.sgd() as opt:
                ck = m.save_checkpoint_bytes(opt)
            back, opt2 = graft.Model.load_checkpoint_buffer(ck)
            with back, opt2:
                self.assertEqual(back.preprocess, p)
            with graft.Model.import_onnx(m.export_onnx_bytes()) as back:
                self.assertEqual(back.preprocess, p)
            other = {"height": 6, "width": 5, "normalize": "imagenet"}
            with graft.Model.import_onnx(m.export_onnx_bytes(), preprocess=other) as back:
                self.assertEqual(back.preprocess["normalize"], "imagenet")
            with self.assertRaises(graft.ShapeError):
                graft.Model.import_onnx(m.export_onnx_bytes(), preprocess={"width": 5})
            m.preprocess = None
            self.assertIsNone(m.preprocess)
            self.assertEqual(len(m.save_bytes()), len(data) - 76)  # no PREP section

    def test_refusals(self):
        with image_model() as m:
            with self.assertRaises(graft.ShapeError):
                m.preprocess = {"height": 6, "width": 6}
            with self.assertRaises(graft.InvalidArgumentError):
                m.preprocess = {"height": 6, "width": 5, "channels": 2}
            with self.assertRaises(ValueError):
                m.preprocess = {"height": 6, "width": 5, "normalize": "minmax"}
            with self.assertRaises(TypeError):
                m.preprocess = {"height": 6, "width": 5, "colour": 1}
            with self.assertRaises(TypeError):
                m.preprocess = "byte"
            self.assertIsNone(m.preprocess)
            with self.assertRaises(graft.StateError):
                m.predict_image(RGB8)
            with self.assertRaises(graft.FormatError):
                graft.Model.load_checkpoint_buffer(m.save_bytes())
            with graft.Optimizer.adam() as opt:
                ck = m.save_checkpoint_bytes(opt)
            for n in (0, 15, 16, len(ck) // 2, len(ck) - 1):
                with self.assertRaises(graft.FormatError):
                    graft.Model.load_checkpoint_buffer(ck[:n])

    def test_predict_image_matches_manual(self):
        with image_model() as m:
            m.preprocess = {"height": 6, "width": 5, "normalize": "imagenet"}
            img = graft.Image.load(RGB8, channels=3)
            img.resize_shorter(round(6 * 256 / 224))
            img.center_crop(5, 6)
            img.normalize_imagenet()
            want = flat(m.predict(img))
            got = flat(m.predict_image(RGB8))
            self.assertEqual(got, want)
            with open(RGB8, "rb") as f:
                self.assertEqual(flat(m.predict_image(f.read())), want)
            idx, probs = m.predict_image(RGB8, k=2)
            idx, probs = flat(idx), flat(probs)
            best = max(range(4), key=lambda c: (want[c], -c))
            self.assertEqual(int(idx[0]), best)
            self.assertEqual(probs[0], want[best])
            with self.assertRaises(graft.RangeError):
                m.predict_image(RGB8, k=5)
            with self.assertRaises(graft.GraftIOError):
                m.predict_image(os.path.join(self.tmp, "none.png"))

    def test_dataset_from_the_models_preprocessing(self):
        with image_model(classes=2) as m:
            m.preprocess = {"height": 6, "width": 5, "scale": 255}
            for c in ("a", "b"):
                os.makedirs(os.path.join(self.tmp, c))
            shutil.copy(RGB8, os.path.join(self.tmp, "a", "x.png"))
            with graft.Dataset.from_folder(self.tmp, **m.preprocess) as ds:
                self.assertEqual(len(ds), 1)
                ev = m.evaluate(ds)
                self.assertEqual(ev.count, 1)
                x, _ = ds[0]
                self.assertEqual(flat(m.predict(x)), flat(m.predict_image(RGB8)))


if __name__ == "__main__":
    unittest.main()
