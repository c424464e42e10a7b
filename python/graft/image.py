"""Images: PNG/JPEG decoding, transforms, seeded augmentation and export to
arrays and tensors (graft_image).

An image holds float32 pixels in planar CHW order, 1 channel (grey) or 3
(RGB). Decoding gives values in [0, 1]. Transforms change the image in
place and return it, so they chain::

    img = graft.Image.load("cat.jpg").resize_shorter(256).center_crop(224, 224)
    probs = model.predict(img.normalize_imagenet())
"""

import ctypes

from . import _api
from . import _arrays
from . import _lib
from .context import Handle, resolve
from .tensor import Tensor

MAX_PIXELS = _api.GRAFT_IMAGE_MAX_PIXELS
# graft_image_format()'s codes -> names: GRAFT_IMAGE_FORMAT_PNG is "png".
_FORMATS = {code: name for name, code in _api.named("GRAFT_IMAGE_FORMAT_").items()}
HWC = _api.GRAFT_IMAGE_HWC
BGR = _api.GRAFT_IMAGE_BGR
IMAGENET_MEAN = _api.GRAFT_IMAGENET_MEAN
IMAGENET_STD = _api.GRAFT_IMAGENET_STD


def image_format(data):
    """The format of encoded image bytes, from their first bytes: "png",
    "jpeg" or "unknown"."""
    data = bytes(data[:16])
    return _FORMATS[_lib.C.graft_image_format(data, len(data))]


def _flags(layout, bgr):
    if layout not in ("chw", "hwc"):
        raise ValueError("layout must be \"chw\" or \"hwc\", not %r" % (layout,))
    return (HWC if layout == "hwc" else 0) | (BGR if bgr else 0)


def _load_opts(channels, max_pixels):
    return _lib.new_struct(_lib.ImageLoadOpts, channels=int(channels),
                           max_pixels=int(max_pixels))


class Image(Handle):
    """A decoded image. Make one with :meth:`load`, :meth:`load_buffer`,
    :meth:`new` or :meth:`from_array`."""

    _free_name = "graft_image_free"

    def __init__(self, *args, **kwargs):
        raise TypeError("use Image.load(), Image.load_buffer(), Image.new() or "
                        "Image.from_array()")

    @classmethod
    def _wrap(cls, ctx, handle):
        self = cls.__new__(cls)
        self._adopt(ctx, handle)
        return self

    @classmethod
    def load(cls, path, *, channels=0, max_pixels=0, ctx=None):
        """Decodes a PNG or JPEG file (the format is read from its bytes).

        channels: 0 (default) keeps the file's kind (1 for grey, 3 for the
            rest); 1 converts to grey (BT.601 luma); 3 to RGB. Alpha is
            dropped.
        max_pixels: 0 (default: 2^28) or the largest width * height
            accepted; larger files are refused before decoding.

        Raises GraftIOError, FormatError (the message names the file and
        the decoder's reason), UnsupportedError (GIF, BMP, ...).
        """
        ctx = resolve(ctx)
        opts = _load_opts(channels, max_pixels)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_image_load, ctx.handle, _lib.encode_path(path),
                  ctypes.byref(opts), ctypes.byref(out))
        return cls._wrap(ctx, out.value)

    @classmethod
    def load_buffer(cls, data, *, channels=0, max_pixels=0, ctx=None):
        """Decodes PNG or JPEG bytes (read, not kept); as :meth:`load`."""
        ctx = resolve(ctx)
        data = bytes(data)
        opts = _load_opts(channels, max_pixels)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_image_load_buffer, ctx.handle, data, len(data),
                  ctypes.byref(opts), ctypes.byref(out))
        return cls._wrap(ctx, out.value)

    @classmethod
    def new(cls, width, height, channels=3, *, ctx=None):
        """A black (zero-filled) image; channels 1 or 3."""
        ctx = resolve(ctx)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_image_create, ctx.handle, int(width), int(height),
                  int(channels), ctypes.byref(out))
        return cls._wrap(ctx, out.value)

    @classmethod
    def from_array(cls, pixels, *, width=None, height=None, channels=None, layout="chw",
                   bgr=False, ctx=None):
        """An image from float pixel values (copied).

        pixels: a numpy array, buffer or nested lists, shaped (C, H, W) for
            layout "chw" (default), (H, W, C) for layout "hwc", or (H, W)
            for grey; or flat, with width, height and channels given.
        bgr: the 3 channels are in B, G, R order.
        """
        ctx = resolve(ctx)
        flags = _flags(layout, bgr)
        buf = _arrays.float_input(pixels, "pixels")
        shape = buf.shape
        if width is None or height is None or channels is None:
            if len(shape) == 2:
                c, (h, w) = 1, shape
            elif len(shape) == 3 and layout == "chw":
                c, h, w = shape
            elif len(shape) == 3:
                h, w, c = shape
            else:
                raise ValueError("pixels of shape %s: give width, height and channels"
                                 % (shape,))
            width = w if width is None else width
            height = h if height is None else height
            channels = c if channels is None else channels
        if buf.count != width * height * channels:
            raise ValueError("pixels hold %d values, %d x %d x %d needs %d"
                             % (buf.count, width, height, channels, width * height * channels))
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_image_import, ctx.handle, int(width), int(height), int(channels),
                  flags, buf.address, ctypes.byref(out))
        return cls._wrap(ctx, out.value)

    def copy(self):
        """A new image with the same pixels, in the same context."""
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_image_copy, self.handle, ctypes.byref(out))
        return Image._wrap(self._ctx, out.value)

    # -- size and pixels --

    @property
    def width(self):
        return _lib.C.graft_image_width(self.handle)

    @property
    def height(self):
        return _lib.C.graft_image_height(self.handle)

    @property
    def channels(self):
        """1 (grey) or 3 (RGB)."""
        return _lib.C.graft_image_channels(self.handle)

    @property
    def shape(self):
        """(channels, height, width), the layout of the pixels."""
        h = self.handle
        return (_lib.C.graft_image_channels(h), _lib.C.graft_image_height(h),
                _lib.C.graft_image_width(h))

    def _buffer(self):
        """A Buffer over the pixels (no copy), valid until the next
        transform; it keeps the image alive."""
        shape = self.shape
        return _arrays.Buffer(_lib.C.graft_image_data_const(self.handle), shape,
                              shape[0] * shape[1] * shape[2], self, True)

    def to_array(self, *, layout="chw", bgr=False):
        """A copy of the pixels: shape (C, H, W) for layout "chw" (default)
        or (H, W, C) for "hwc"; bgr puts 3 channels in B, G, R order. A
        numpy array when numpy is present, else nested lists."""
        c, h, w = self.shape
        out = _arrays.float_output((c, h, w) if layout == "chw" else (h, w, c))
        _lib.call(_lib.C.graft_image_export, self.handle, _flags(layout, bgr), out.address,
                  c * h * w)
        return out.result()

    def to_tensor(self, *, bgr=False):
        """A new :class:`~graft.Tensor` (C, H, W) holding the pixels."""
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_image_to_tensor, self.handle, _flags("chw", bgr),
                  ctypes.byref(out))
        t = Tensor.__new__(Tensor)
        t._adopt(self._ctx, out.value)
        t._keep = None
        return t

    def write_to(self, batch, n, *, bgr=False):
        """Copies the pixels into slot n of a (N, C, H, W) batch
        :class:`~graft.Tensor`."""
        _lib.call(_lib.C.graft_image_write_tensor, self.handle, _flags("chw", bgr),
                  batch.handle, int(n))

    def save_png(self, path):
        """Writes the image as an 8-bit PNG (grey or RGB), atomically: each
        value is clamped to [0, 1] and stored as round(v * 255), so
        :meth:`load` gives it back to within 0.5 / 255. NaN or infinite
        values are a NumericError naming the pixel."""
        _lib.call(_lib.C.graft_image_save_png, self.handle, _lib.encode_path(path))

    def encode_png(self):
        """The bytes :meth:`save_png` writes."""
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        _lib.call(_lib.C.graft_image_encode_png, self.handle, ctypes.byref(data),
                  ctypes.byref(size))
        try:
            return ctypes.string_at(data.value, size.value)
        finally:
            _lib.C.graft_buffer_free(self._ctx.handle, data.value)

    # -- transforms (in place; each returns self) --

    def convert(self, channels):
        """To 1 (grey, BT.601 luma) or 3 channels (grey repeated)."""
        _lib.call(_lib.C.graft_image_convert, self.handle, int(channels))
        return self

    def resize(self, width, height):
        """Bilinear resize, antialiased when shrinking (PyTorch's
        interpolate(antialias=True), Pillow's BILINEAR)."""
        _lib.call(_lib.C.graft_image_resize, self.handle, int(width), int(height))
        return self

    def resize_shorter(self, size):
        """Resize so the shorter side becomes size, keeping the aspect ratio
        (torchvision's Resize(size))."""
        _lib.call(_lib.C.graft_image_resize_shorter, self.handle, int(size))
        return self

    def crop(self, x, y, width, height):
        """Keeps the width x height rectangle whose top-left pixel is (x, y)."""
        _lib.call(_lib.C.graft_image_crop, self.handle, int(x), int(y), int(width), int(height))
        return self

    def center_crop(self, width, height):
        """Keeps the central width x height pixels (torchvision's CenterCrop)."""
        _lib.call(_lib.C.graft_image_center_crop, self.handle, int(width), int(height))
        return self

    def pad(self, left, top, right, bottom, fill=0.0):
        """Adds left, top, right and bottom columns and rows of the value
        fill (torchvision's F.pad with a fill). Since graft 1.3."""
        _lib.call(_lib.C.graft_image_pad, self.handle, int(left), int(top), int(right),
                  int(bottom), float(fill))
        return self

    def letterbox(self, width, height, fill=0.0):
        """Fits the whole image into width x height keeping its aspect ratio
        (resize, then centred padding with fill). Since graft 1.3."""
        _lib.call(_lib.C.graft_image_letterbox, self.handle, int(width), int(height),
                  float(fill))
        return self

    def flip_horizontal(self):
        """Mirrors left to right."""
        _lib.call(_lib.C.graft_image_flip_horizontal, self.handle)
        return self

    def scale(self, factor):
        """Multiplies every value by factor (e.g. 255 for [0, 255] models)."""
        _lib.call(_lib.C.graft_image_scale, self.handle, float(factor))
        return self

    def normalize(self, mean, std):
        """value = (value - mean[c]) / std[c], one mean and std per channel."""
        c = self.channels
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if len(mean) != c or len(std) != c:
            raise ValueError("normalize() needs %d mean and %d std values for %d channel(s)"
                             % (c, c, c))
        _lib.call(_lib.C.graft_image_normalize, self.handle, (ctypes.c_float * c)(*mean),
                  (ctypes.c_float * c)(*std))
        return self

    def normalize_imagenet(self):
        """normalize(IMAGENET_MEAN, IMAGENET_STD); needs 3 channels in [0, 1]."""
        _lib.call(_lib.C.graft_image_normalize_imagenet, self.handle)
        return self

    def augment(self, *, seed=0, crop_width=0, crop_height=0, scale_min=0.08, scale_max=1.0,
                ratio_min=0.75, ratio_max=4.0 / 3.0, flip_prob=0.0, brightness=0.0,
                contrast=0.0, rotation=0.0, translate_x=0.0, translate_y=0.0, fill=0.0,
                saturation=0.0, hue=0.0, grayscale_prob=0.0):
        """Seeded training augmentation, in this order: a random resized crop
        to crop_width x crop_height (off while both are 0; area fraction in
        [scale_min, scale_max], aspect ratio in [ratio_min, ratio_max]), a
        horizontal flip with probability flip_prob, a rotation by up to
        rotation degrees and a shift by up to translate_x * width and
        translate_y * height pixels (uncovered pixels take fill),
        brightness, contrast, saturation and hue jitter (torchvision's
        ColorJitter), grey with probability grayscale_prob. The same image,
        arguments and seed give the same result on every platform. Defaults
        are graft's (which do nothing); augment_preset() gives a recipe's
        arguments: ``img.augment(seed=s, **graft.augment_preset("strong",
        224, 224))``. The arguments from rotation on are since graft 1.3."""
        spec = _augment_spec(seed=seed, crop_width=crop_width, crop_height=crop_height,
                             scale_min=scale_min, scale_max=scale_max, ratio_min=ratio_min,
                             ratio_max=ratio_max, flip_prob=flip_prob, brightness=brightness,
                             contrast=contrast, rotation=rotation, translate_x=translate_x,
                             translate_y=translate_y, fill=fill, saturation=saturation, hue=hue,
                             grayscale_prob=grayscale_prob)
        _lib.call(_lib.C.graft_image_augment, self.handle, ctypes.byref(spec))
        return self

    def __repr__(self):
        if self.closed:
            return "<graft.Image closed>"
        return "<graft.Image %dx%d, %d channel(s)>" % (self.width, self.height, self.channels)


# ---- augmentation recipes -------------------------------------------------------

_SPEC_INTS = ("crop_width", "crop_height")

#: The names of graft's augmentation presets, by GRAFT_AUGMENT_PRESET_* value.
AUGMENT_PRESETS = tuple(_lib.decode(_lib.C.graft_augment_preset_name(p)) for p in range(4))


def _augment_spec(**fields):
    """A graft_augment_spec from field values, the others at graft's
    defaults (GRAFT_AUGMENT_SPEC_INIT, which the "none" preset keeps); a
    name that is no field is a TypeError, as for the C struct."""
    kw = augment_preset("none")
    for k, v in fields.items():
        if k == "seed" or k in _SPEC_INTS:
            kw[k] = int(v)
        else:
            kw[k] = float(v)
    return _lib.new_struct(_lib.AugmentSpec, **kw)


def augment_preset(preset, crop_width=0, crop_height=0):
    """The fields of graft's augmentation preset (a name of AUGMENT_PRESETS,
    "none", "light", "standard" or "strong", or a GRAFT_AUGMENT_PRESET_*
    value) cropping to crop_width x crop_height (0 x 0: no crop), as a dict
    of Image.augment() keyword arguments (all but seed). See
    graft_augment_preset() in graft.h for the recipes. Since graft 1.3."""
    if isinstance(preset, str):
        if preset not in AUGMENT_PRESETS:
            raise ValueError("preset must be one of %s, not %r"
                             % (", ".join(map(repr, AUGMENT_PRESETS)), preset))
        preset = AUGMENT_PRESETS.index(preset)
    spec = _lib.new_struct(_lib.AugmentSpec)
    _lib.call(_lib.C.graft_augment_preset, int(preset), int(crop_width), int(crop_height),
              ctypes.byref(spec))
    return {name: getattr(spec, name) for name, _ in spec._fields_
            if name not in ("struct_size", "seed")}
