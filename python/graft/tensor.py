"""A thin wrapper of graft_tensor: dense float32 arrays, row-major."""

import contextlib
import ctypes

from . import _arrays
from . import _lib
from .context import Handle, resolve


def _shape_arg(shape):
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(int(d) for d in shape)
    return shape


@contextlib.contextmanager
def borrowed_view(ctx, buf, shape=None):
    """A temporary graft_tensor over a Buffer's memory (no copy), freed on
    leaving the block. Yields the raw handle."""
    shape = buf.shape if shape is None else shape
    dims = _lib.int64_array(shape)
    out = ctypes.c_void_p()
    _lib.call(_lib.C.graft_tensor_create_view, ctx.handle, len(shape), dims, buf.address,
              ctypes.byref(out))
    try:
        yield out.value
    finally:
        _lib.C.graft_tensor_free(out.value)


def shape_of(handle):
    """The shape of a raw graft_tensor handle."""
    n = _lib.C.graft_tensor_ndim(handle)
    return tuple(_lib.C.graft_tensor_dim(handle, i) for i in range(n))


def values_of(handle):
    """A copy of a raw graft_tensor's values (numpy array or nested lists)."""
    return _arrays.from_address(_lib.C.graft_tensor_data_const(handle), shape_of(handle))


class Tensor(Handle):
    """A graft tensor: float32, row-major, 1 to 8 dimensions (images NCHW).

    ``Tensor(data)`` copies data (numpy array, buffer or nested lists);
    ``Tensor(shape=(2, 3))`` is zero-filled. ``shape`` may also be given with
    data to reshape it (same element count). Use :meth:`view` to wrap a
    writable float32 buffer without copying.
    """

    _free_name = "graft_tensor_free"

    def __init__(self, data=None, *, shape=None, ctx=None):
        ctx = resolve(ctx)
        if data is None:
            if shape is None:
                raise TypeError("Tensor() needs data or shape")
            shape = _shape_arg(shape)
            src = None
        else:
            src = _arrays.float_input(data, "data")
            shape = src.shape if shape is None else _shape_arg(shape)
        dims = _lib.int64_array(shape, "shape")
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_tensor_create, ctx.handle, len(shape), dims, ctypes.byref(out))
        self._adopt(ctx, out.value)
        self._keep = None
        if src is not None:
            try:
                self.copy_from(src)
            except BaseException:
                self.close()
                raise

    @classmethod
    def view(cls, data, *, shape=None, ctx=None):
        """A tensor over data's memory, without copying: data must be a
        writable C-contiguous float32 buffer (numpy float32 array,
        array.array("f"), ...); the tensor keeps it alive, and writes through
        the tensor change it."""
        ctx = resolve(ctx)
        buf = _arrays.float_input(data, "data")
        np = _arrays.np
        if np is not None and isinstance(data, np.ndarray) and not data.flags.writeable:
            raise TypeError("Tensor.view() needs writable memory; this array is read-only")
        if not buf.borrowed:
            raise TypeError("Tensor.view() needs a writable C-contiguous float32 buffer; "
                            "use Tensor(data) to copy other data")
        shape = buf.shape if shape is None else _shape_arg(shape)
        dims = _lib.int64_array(shape, "shape")
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_tensor_create_view, ctx.handle, len(shape), dims, buf.address,
                  ctypes.byref(out))
        self = cls.__new__(cls)
        self._adopt(ctx, out.value)
        self._keep = buf
        return self

    @property
    def shape(self):
        """The dimensions, a tuple of ints."""
        return shape_of(self.handle)

    @property
    def ndim(self):
        """The number of dimensions."""
        return _lib.C.graft_tensor_ndim(self.handle)

    @property
    def size(self):
        """The number of elements."""
        return _lib.C.graft_tensor_numel(self.handle)

    def __len__(self):
        return self.shape[0]

    def reshape(self, *shape):
        """Changes the shape in place (same element count); returns self."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        shape = _shape_arg(shape)
        _lib.call(_lib.C.graft_tensor_reshape, self.handle, len(shape),
                  _lib.int64_array(shape, "shape"))
        return self

    def fill(self, value):
        """Sets every element to value; returns self."""
        _lib.call(_lib.C.graft_tensor_fill, self.handle, float(value))
        return self

    def copy_from(self, data):
        """Copies data (as many elements as the tensor has, any shape) in."""
        buf = data if isinstance(data, _arrays.Buffer) else _arrays.float_input(data, "data")
        _lib.call(_lib.C.graft_tensor_copy_from, self.handle, buf.address, buf.count)

    def save_png(self, path, *, lo=0.0, hi=1.0, columns=0):
        """Writes the tensor as an 8-bit PNG, atomically: value v becomes
        round(255 * (v - lo) / (hi - lo)) clamped to 0..255. Shapes: (H, W)
        grey; (C, H, W) with C 1 (grey), 2 (grey, alpha), 3 (RGB) or 4
        (RGBA); (N, C, H, W) a grid of the N images in columns columns (0:
        ceil(sqrt(N)))."""
        _lib.call(_lib.C.graft_tensor_save_png, self.handle, _lib.encode_path(path), float(lo),
                  float(hi), int(columns))

    def encode_png(self, *, lo=0.0, hi=1.0, columns=0):
        """The bytes :meth:`save_png` writes."""
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        _lib.call(_lib.C.graft_tensor_encode_png, self.handle, float(lo), float(hi),
                  int(columns), ctypes.byref(data), ctypes.byref(size))
        try:
            return ctypes.string_at(data.value, size.value)
        finally:
            _lib.C.graft_buffer_free(self._ctx.handle, data.value)

    def tolist(self):
        """The values as nested lists."""
        values = values_of(self.handle)
        return values.tolist() if _arrays.np is not None else values

    def numpy(self):
        """A copy of the values as a numpy array (numpy required)."""
        if _arrays.np is None:
            raise ImportError("Tensor.numpy() needs numpy; use tolist()")
        return values_of(self.handle)

    def __repr__(self):
        if self.closed:
            return "<graft.Tensor closed>"
        return "<graft.Tensor shape=%s>" % (self.shape,)
