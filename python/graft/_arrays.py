"""Passing arrays between Python and graft.

Input (features, images, weights) may be

* a numpy array: a C-contiguous float32 array is passed to graft without a
  copy; any other dtype or layout is converted (a copy);
* an object with the buffer protocol (array.array, memoryview, bytearray,
  ...): a writable C-contiguous buffer of format "f" (float32) is passed
  without a copy; others are converted element by element;
* nested lists or tuples of numbers, of a regular (rectangular) shape.

Labels are int32 by the same rules (numpy int32, array.array("i"), lists of
ints).

Output is a numpy array when numpy can be imported, else nested lists of
Python numbers. numpy is never required.
"""

import array
import ctypes

try:  # numpy is optional
    import numpy as np
except ImportError:  # pragma: no cover - depends on the interpreter
    np = None

_INT32_CODE = "i" if array.array("i").itemsize == 4 else "l"
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


def have_numpy():
    """True when numpy is importable (and arrays are returned as numpy arrays)."""
    return np is not None


class Buffer:
    """Memory graft can read: its address, shape, element count and the
    Python objects that must stay alive while graft uses the address."""

    __slots__ = ("address", "shape", "count", "keep", "borrowed")

    def __init__(self, address, shape, count, keep, borrowed):
        self.address = address
        self.shape = tuple(int(d) for d in shape)
        self.count = count
        self.keep = keep
        self.borrowed = borrowed  # True when it is the caller's own memory


def _prod(dims):
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _nested_shape_and_flat(obj, what):
    """The shape of a rectangular nest of lists/tuples and its leaves in
    row-major order."""
    shape = []
    level = [obj]
    seq = (list, tuple, array.array)
    while level and isinstance(level[0], seq):
        n = len(level[0])
        nxt = []
        for x in level:
            if not isinstance(x, seq) or len(x) != n:
                raise ValueError("%s is not rectangular: sublists of different lengths "
                                 "at depth %d" % (what, len(shape)))
            nxt.extend(x)
        shape.append(n)
        level = nxt
    return shape, level


def _from_sequence(obj, code, what):
    shape, flat = _nested_shape_and_flat(obj, what)
    try:
        arr = array.array(code, flat)
    except TypeError as e:
        raise TypeError("%s must hold numbers: %s" % (what, e)) from None
    except OverflowError as e:  # an int beyond int32_t
        raise OverflowError("%s: %s (int32_t holds %d to %d)"
                            % (what, e, _INT32_MIN, _INT32_MAX)) from None
    return arr, shape


def _address_of_array(arr):
    return arr.buffer_info()[0]


def _from_buffer(obj, fmt_ok, itemsize, code, what):
    """A Buffer over a buffer-protocol object, zero-copy when it is writable,
    C-contiguous and of the wanted format; None when obj has no buffer."""
    try:
        mv = memoryview(obj)
    except TypeError:
        return None
    fmt = mv.format.lstrip("@=<")
    shape = mv.shape if mv.ndim > 0 else (1,)
    if fmt in fmt_ok and mv.itemsize == itemsize and mv.c_contiguous:
        count = _prod(shape)
        if not mv.readonly and count > 0:
            flat = mv.cast("B")
            carr = (ctypes.c_char * mv.nbytes).from_buffer(flat)
            return Buffer(ctypes.addressof(carr), shape, count, (obj, mv, flat, carr), True)
        arr = array.array(code)
        arr.frombytes(mv.tobytes())
        return Buffer(_address_of_array(arr), shape, count, arr, False)
    values = mv.tolist()
    if mv.ndim == 0:
        values = [values]
    arr, shape = _from_sequence(values, code, what)
    return Buffer(_address_of_array(arr), shape, len(arr), arr, False)


def float_input(obj, what="data"):
    """A Buffer of float32 values for obj (see the module docstring)."""
    if np is not None and isinstance(obj, np.ndarray):
        arr = obj
        borrowed = arr.dtype == np.float32 and arr.flags.c_contiguous
        if not borrowed:
            if arr.dtype.kind not in "fiub":
                raise TypeError("%s must hold numbers, not %s" % (what, arr.dtype))
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        shape = arr.shape if arr.ndim > 0 else (1,)
        return Buffer(arr.ctypes.data, shape, arr.size, arr, borrowed)
    if isinstance(obj, (list, tuple)):
        if np is not None:  # faster, and takes lists of numpy rows too
            try:
                arr = np.asarray(obj, dtype=np.float32)
            except (ValueError, TypeError):
                arr = None  # the list path below says what is wrong
            if arr is not None:
                shape = arr.shape if arr.ndim > 0 else (1,)
                return Buffer(arr.ctypes.data, shape, arr.size, arr, False)
        arr, shape = _from_sequence(obj, "f", what)
        return Buffer(_address_of_array(arr), shape, len(arr), arr, False)
    if isinstance(obj, str):
        raise TypeError("%s must be an array of numbers, not str" % what)
    buf = _from_buffer(obj, ("f",), 4, "f", what)
    if buf is None:
        raise TypeError("%s must be a numpy array, a buffer (array.array, memoryview) or "
                        "nested lists of numbers, not %s" % (what, type(obj).__name__))
    return buf


def int32_input(obj, what="labels"):
    """A Buffer of int32 values for obj (labels, indices)."""
    if np is not None and isinstance(obj, np.ndarray):
        arr = obj
        if arr.dtype.kind not in "iub":
            raise TypeError("%s must hold integers, not %s" % (what, arr.dtype))
        borrowed = arr.dtype == np.int32 and arr.flags.c_contiguous
        if not borrowed:
            if arr.dtype.kind in "iu" and arr.dtype.itemsize >= 4 and arr.size:
                # astype() would keep the low 32 bits of each value
                for v in (int(arr.min()), int(arr.max())):
                    if not _INT32_MIN <= v <= _INT32_MAX:
                        raise OverflowError("%s: %d is out of range for an int32_t (%d to %d)"
                                            % (what, v, _INT32_MIN, _INT32_MAX))
            arr = np.ascontiguousarray(arr, dtype=np.int32)
        shape = arr.shape if arr.ndim > 0 else (1,)
        return Buffer(arr.ctypes.data, shape, arr.size, arr, borrowed)
    if isinstance(obj, (list, tuple)):
        arr, shape = _from_sequence(obj, _INT32_CODE, what)
        return Buffer(_address_of_array(arr), shape, len(arr), arr, False)
    if isinstance(obj, str):
        raise TypeError("%s must be integers, not str" % what)
    buf = _from_buffer(obj, ("i", "l") if _INT32_CODE == "l" else ("i",), 4, _INT32_CODE,
                       what)
    if buf is None:
        raise TypeError("%s must be a numpy array, a buffer (array.array) or a list of "
                        "ints, not %s" % (what, type(obj).__name__))
    return buf


class Output:
    """Memory for graft to write results into: a numpy array, or an
    array.array turned into nested lists by result()."""

    __slots__ = ("shape", "data", "address")

    def __init__(self, shape, kind):
        self.shape = tuple(int(d) for d in shape)
        n = _prod(self.shape)
        if np is not None:
            self.data = np.empty(self.shape, dtype=np.float32 if kind == "f" else np.int32)
            self.address = self.data.ctypes.data
        else:
            code = "f" if kind == "f" else _INT32_CODE
            self.data = array.array(code, bytes(4 * max(n, 1)))
            self.address = _address_of_array(self.data)

    def result(self):
        """The values: the numpy array, or nested lists of the shape."""
        if np is not None:
            return self.data
        return nest(self.data.tolist(), self.shape)


def float_output(shape):
    """An Output of float32 values."""
    return Output(shape, "f")


def int32_output(shape):
    """An Output of int32 values."""
    return Output(shape, "i")


def nest(flat, shape):
    """Row-major flat values as nested lists of the given shape."""
    flat = list(flat)
    if len(shape) <= 1:
        return flat[: shape[0]] if shape else flat
    for d in reversed(shape[1:]):
        flat = [flat[i:i + d] for i in range(0, len(flat), d)]
    return flat[: shape[0]]


def from_address(address, shape, kind="f"):
    """A copy of the values at a C address (numpy array or nested lists)."""
    n = _prod(shape)
    out = Output(shape, kind)
    if n:
        ctypes.memmove(out.address, address, 4 * n)
    return out.result()
