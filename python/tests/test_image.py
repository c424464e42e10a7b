"""Images: decoding (PNG written by the test itself), export, transforms,
augmentation, and images as model input."""

import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

from test_model import flat

# A 4x3 RGB image whose byte at (y, x, c) is 20 * (y * 4 + x) + c.
W, H = 4, 3
RGB = [20 * (y * W + x) + c for y in range(H) for x in range(W) for c in range(3)]


def chw_values(pixels=RGB, width=W, height=H, channels=3):
    """Planar CHW floats of interleaved bytes, as graft decodes them (v / 255)."""
    return [pixels[(y * width + x) * channels + c] / 255.0
            for c in range(channels) for y in range(height) for x in range(width)]


class Decoding(tu.TempDirTest):
    def setUp(self):
        super().setUp()
        self.file = self.path("rgb.png")
        tu.write_png(self.file, W, H, 3, RGB)

    def assertClose(self, got, want):
        self.assertEqual(len(got), len(want))
        for a, b in zip(got, want):
            self.assertAlmostEqual(a, b, places=6)

    def test_load_png(self):
        with graft.Image.load(self.file) as img:
            self.assertEqual((img.width, img.height, img.channels), (W, H, 3))
            self.assertEqual(img.shape, (3, H, W))
            self.assertClose(flat(img.to_array()), chw_values())
        with open(self.file, "rb") as f:
            data = f.read()
        self.assertEqual(graft.image_format(data), "png")
        self.assertEqual(graft.image_format(b"\xff\xd8\xff\xe0"), "jpeg")
        self.assertEqual(graft.image_format(b"GIF89a"), "unknown")
        with graft.Image.load_buffer(data) as img:
            self.assertClose(flat(img.to_array()), chw_values())

    def test_export_layouts(self):
        with graft.Image.load(self.file) as img:
            hwc = img.to_array(layout="hwc")
            self.assertEqual((len(hwc), len(hwc[0]), len(hwc[0][0])), (H, W, 3))
            self.assertClose(flat(hwc), [v / 255.0 for v in RGB])
            bgr = flat(img.to_array(layout="hwc", bgr=True))
            self.assertClose(bgr[:3], [RGB[2] / 255.0, RGB[1] / 255.0, RGB[0] / 255.0])
            with self.assertRaises(ValueError):
                img.to_array(layout="nhwc")

    def test_load_as_grey(self):
        with graft.Image.load(self.file, channels=1) as img:
            self.assertEqual(img.shape, (1, H, W))
            r, g, b = (RGB[5 * 3 + c] / 255.0 for c in range(3))  # pixel (1, 1)
            self.assertAlmostEqual(flat(img.to_array())[5], 0.299 * r + 0.587 * g + 0.114 * b,
                                   places=6)

    def test_errors(self):
        bad = self.path("bad.png")
        with open(bad, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + b"x" * 24)
        with self.assertRaises(graft.FormatError) as cm:
            graft.Image.load(bad)
        self.assertEqual(cm.exception.message, "graft_image_load(): %s: corrupt PNG: the data "
                         "ends early (truncated file)" % bad)
        gif = self.path("a.gif")
        with open(gif, "wb") as f:
            f.write(b"GIF89a" + bytes(30))
        with self.assertRaises(graft.UnsupportedError) as cm:
            graft.Image.load(gif)
        self.assertEqual(cm.exception.message, "graft_image_load(): %s: GIF images are not "
                         "supported (only PNG and JPEG)" % gif)
        with self.assertRaises(graft.GraftIOError):
            graft.Image.load(self.path("missing.png"))
        with self.assertRaises(graft.FormatError) as cm:
            graft.Image.load(self.file, max_pixels=5)
        self.assertEqual(cm.exception.message, "graft_image_load(): %s: PNG of 4x3 pixels is "
                         "more than the limit of 5" % self.file)


class FromArrays(unittest.TestCase):
    def test_chw_hwc_and_grey(self):
        chw = [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]], [[9.0, 10.0], [11.0, 12.0]]]
        with graft.Image.from_array(chw) as img:
            self.assertEqual(img.shape, (3, 2, 2))
            self.assertEqual(flat(img.to_array()), [float(v) for v in range(1, 13)])
            hwc = img.to_array(layout="hwc")
        with graft.Image.from_array(hwc, layout="hwc") as img:
            self.assertEqual(flat(img.to_array()), [float(v) for v in range(1, 13)])
        with graft.Image.from_array([[0.5, 0.25]]) as grey:
            self.assertEqual(grey.shape, (1, 1, 2))
        with graft.Image.from_array([0.0] * 6, width=2, height=1, channels=3, bgr=True) as img:
            self.assertEqual(img.shape, (3, 1, 2))
        with self.assertRaises(ValueError):
            graft.Image.from_array([0.0] * 5, width=2, height=1, channels=3)
        with self.assertRaises(graft.InvalidArgumentError):
            graft.Image.from_array([[[0.0]]] * 2)  # 2 channels
        with self.assertRaises(TypeError):
            graft.Image(2, 2)

    def test_new_and_copy(self):
        with graft.Image.new(3, 2, 1) as img:
            self.assertEqual(flat(img.to_array()), [0.0] * 6)
            other = img.copy()
            img.scale(2.0).normalize([0.5], [2.0])  # (0 * 2 - 0.5) / 2
            self.assertEqual(flat(img.to_array()), [-0.25] * 6)
            self.assertEqual(flat(other.to_array()), [0.0] * 6)
            other.close()
        with self.assertRaises(graft.RangeError):
            graft.Image.new(0, 2)


class Transforms(unittest.TestCase):
    def setUp(self):
        # A 4x3 grey image with values 0..11 row by row.
        self.img = graft.Image.from_array([[float(y * 4 + x) for x in range(4)]
                                           for y in range(3)])
        self.addCleanup(self.img.close)

    def values(self):
        return flat(self.img.to_array())

    def test_flip_crop_center_crop(self):
        self.img.flip_horizontal()
        self.assertEqual(self.values(), [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8])
        self.img.flip_horizontal().crop(1, 1, 2, 2)
        self.assertEqual(self.values(), [5, 6, 9, 10])
        with self.assertRaises(graft.RangeError) as cm:
            self.img.crop(0, 0, 9, 9)
        self.assertEqual(cm.exception.message, "graft_image_crop(): the rectangle 9x9 at "
                         "(0, 0) is not inside the 2x2 image")
        self.assertEqual(self.values(), [5, 6, 9, 10])  # unchanged by the failure

    def test_center_crop_and_resize(self):
        self.img.center_crop(2, 1)  # left (4 - 2) / 2 = 1, top (3 - 1) / 2 = 1
        self.assertEqual(self.values(), [5, 6])
        with graft.Image.from_array([[0.5] * 6] * 4) as flat_img:
            flat_img.resize(3, 2)  # a constant image stays constant
            self.assertEqual(flat_img.shape, (1, 2, 3))
            for v in flat(flat_img.to_array()):
                self.assertAlmostEqual(v, 0.5, places=6)
            flat_img.resize_shorter(4)  # 3x2 -> 6x4
            self.assertEqual((flat_img.width, flat_img.height), (6, 4))

    def test_convert_and_normalize(self):
        self.img.convert(3)
        self.assertEqual(self.img.channels, 3)
        self.assertEqual(self.values(), [float(v) for v in range(12)] * 3)
        self.img.scale(1 / 11.0).normalize_imagenet()
        self.assertAlmostEqual(self.values()[0], (0 - 0.485) / 0.229, places=5)
        with self.assertRaises(ValueError):
            self.img.normalize([0.0], [1.0])
        with graft.Image.new(2, 2, 1) as grey:
            with self.assertRaises(graft.ShapeError):
                grey.normalize_imagenet()

    def test_augment_is_seeded(self):
        def run(seed):
            with self.img.copy() as c:
                c.augment(seed=seed, crop_width=2, crop_height=2, flip_prob=0.5)
                return flat(c.to_array())

        first = run(1)
        self.assertEqual(run(1), first)
        self.assertTrue(any(run(s) != first for s in range(2, 8)))
        self.assertEqual(len(first), 4)
        self.img.augment()  # graft's defaults do nothing
        self.assertEqual(self.values(), [float(v) for v in range(12)])
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            self.img.augment(flip_prob=2)
        self.assertEqual(cm.exception.message,
                         "graft_image_augment(): spec->flip_prob is 2, must be in [0, 1]")


class AsModelInput(unittest.TestCase):
    def test_predict_on_images_and_tensors(self):
        pix = [[[float((c + y + x) % 5) / 4 for x in range(4)] for y in range(3)]
               for c in range(3)]
        with graft.Model((3, 3, 4), seed=2) as m, graft.Image.from_array(pix) as img:
            m.add(layers.flatten())
            m.add(layers.dense(2))
            from_img = flat(m.predict(img))
            self.assertEqual(from_img, flat(m.predict(pix)))
            both = m.predict([img, img.copy().flip_horizontal()])
            self.assertEqual(flat(both[0]), from_img)
            self.assertNotEqual(flat(both[1]), from_img)
            with img.to_tensor() as t:
                self.assertEqual(t.shape, (3, 3, 4))
                self.assertEqual(flat(t.tolist()), flat(pix))
            with graft.Tensor(shape=(2, 3, 3, 4)) as batch:
                img.write_to(batch, 1)
                self.assertEqual(flat(batch.tolist())[36:], flat(pix))
                with self.assertRaises(graft.RangeError):
                    img.write_to(batch, 2)
            with graft.Image.new(2, 2) as small:
                with self.assertRaises(ValueError):
                    m.predict([img, small])


if __name__ == "__main__":
    unittest.main()
