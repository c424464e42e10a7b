"""Finding and loading libgraft.so.1, checking its version, and declaring the
C functions the binding calls.

The library is looked for, in this order:

1. ``$GRAFT_LIBRARY``: the path of the shared library, or of a folder that
   holds ``libgraft.so.1``. When the variable is set, no other place is
   tried, so a wrong setting is reported rather than silently ignored.
2. A copy inside the package (``graft/libgraft.so.1``), present when the
   wheel was built with ``GRAFT_BUNDLE_LIBRARY`` set (see pyproject.toml).
3. ``lib/libgraft.so.1`` of the source checkout the package sits in
   (``python/graft`` inside graft's repository, after ``make``).
4. The system: the dynamic loader's search path (``LD_LIBRARY_PATH``,
   ``ldconfig``'s cache), then ``/usr/local/lib`` and ``/usr/lib``, where
   ``make install`` puts it.

After loading, ``graft_version_number()`` must report the major version
this binding is written for (``_version.LIBRARY_MAJOR``); otherwise the
import fails with an ImportError naming both versions.

Structures
----------
The binding mirrors no C struct that the library keeps or reads after a
call. The versioned option structs (graft_fit_opts, graft_head_spec,
graft_conv2d_spec, graft_pool2d_spec, graft_allocator,
graft_image_load_opts, graft_augment_spec, graft_csv_opts,
graft_folder_opts, graft_grid_opts, graft_pad2d_spec, graft_upsample2d_spec,
graft_conv_transpose2d_spec, graft_onnx_import_opts, graft_onnx_export_opts,
graft_preprocess) are read (or, graft_preprocess, written) by graft only
during the call that takes them,
so they are built as ctypes Structures at call time with
``struct_size = ctypes.sizeof(...)``. Their members come from
``_api.STRUCTS``, generated from graft.h like the prototypes. If a
definition here ever disagreed with graft.h in size, graft would refuse the
call with GRAFT_E_VERSION (or GRAFT_E_INVALID_ARG for the allocator) instead
of misreading it; the test suite also compiles a probe against
include/graft.h and compares every size and field offset
(tests/test_abi.py).

Range and NUL checks
--------------------
ctypes converts a Python int to a C integer by keeping its low bits
(2**32 + 3 becomes the int 3) and passes bytes to a ``char *`` up to the
first NUL byte. So that no value reaches graft other than the one given,
``C`` is not the CDLL itself: every function with an integer or string
parameter is a Python wrapper that checks each integer argument against the
range of its C type (from ``_api.FUNCTIONS``), raising OverflowError naming
the parameter (``_api.ARGUMENT_NAMES``) and the range, and refuses str or
bytes holding a NUL byte with ValueError, as Python's open() does; it then
calls the foreign function, looked up on ``RAW`` (the CDLL). The option
structs check assignments to their members the same way, and
int64_array(), encode(), encode_path() and string_array() check what they
convert. bool is an int here: True and False pass as 1 and 0.
"""

import ctypes
import operator
import os
import re
import threading

from . import _api
from . import errors
from ._version import LIBRARY_MAJOR

SONAME = "libgraft.so.1"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# ---- C types ------------------------------------------------------------------
#
# Everything below that mirrors graft.h, the prototypes, the option structs'
# members, the function pointer types and the constants, comes from _api.py,
# which python/tools/gen_api.py generates from the header. Here the type
# names _api.py uses become ctypes types.

c_int = ctypes.c_int
c_int32 = ctypes.c_int32
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_uint32 = ctypes.c_uint32
c_size_t = ctypes.c_size_t
c_float = ctypes.c_float
c_double = ctypes.c_double
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
P = ctypes.POINTER
PP = P(c_void_p)  # an out-parameter receiving a handle, or an array of handles

# _api.py's type name -> ctypes type; the function pointer types and the
# Structure classes join as they are made.
_TYPES = {name: t for name, t in globals().items() if name.startswith("c_")}
_TYPES["PP"] = PP


def _integer_ranges():
    signed = {"c_int": "a C int", "c_int32": "an int32_t", "c_int64": "an int64_t"}
    unsigned = {"c_uint32": "a uint32_t", "c_uint64": "a uint64_t", "c_size_t": "a size_t"}
    found = {}
    for name, what in signed.items():
        bits = 8 * ctypes.sizeof(_TYPES[name])
        found[name] = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1, what)
    for name, what in unsigned.items():
        found[name] = (0, (1 << (8 * ctypes.sizeof(_TYPES[name]))) - 1, what)
    return found


#: _api.py's integer type names -> (lowest value, highest value, description
#: for messages), e.g. "c_int": (-2147483648, 2147483647, "a C int").
INTEGER_RANGES = _integer_ranges()


def check_int(value, what, type_name):
    """Returns value when it is an integer (int, bool, or anything with
    __index__) in the range of the C integer type type_name ("c_int",
    "c_uint64", ...); raises OverflowError naming what and the range when
    it is out of it. Other values are returned unchanged, for ctypes to
    refuse with TypeError."""
    lo, hi, desc = INTEGER_RANGES[type_name]
    if type(value) is int:
        n = value
    else:
        try:
            n = operator.index(value)
        except TypeError:
            return value
    if not lo <= n <= hi:
        raise OverflowError("%s: %d is out of range for %s (%d to %d)" % (what, n, desc, lo, hi))
    return value


def check_string(value, what):
    """Returns value unless it is a str or bytes holding a NUL byte, which C
    would read as the end of the string: then raises ValueError, as
    Python's open() does."""
    if isinstance(value, (bytes, bytearray)):
        bad = b"\0" in value
    elif isinstance(value, str):
        bad = "\0" in value
    else:
        return value
    if bad:
        raise ValueError("%s: embedded null byte" % what)
    return value


def _sequence_check(what, type_name, array_type):
    """The check of an array member: a sequence (list, tuple) becomes an
    array_type, its values checked (integers against type_name's range when
    type_name is an integer type); an array_type passes as it is."""
    length = array_type._length_

    def check(value):
        if isinstance(value, array_type):
            return value
        values = list(value)
        if len(values) > length:
            raise ValueError("%s: %d values for %d places" % (what, len(values), length))
        if type_name in INTEGER_RANGES:
            for k, v in enumerate(values):
                check_int(v, "%s[%d]" % (what, k), type_name)
        return array_type(*values)

    return check


def _member_check(member, type_name):
    """The check _Struct.__setattr__ runs for one member, or None."""
    if type_name in INTEGER_RANGES:
        return lambda value: check_int(value, member, type_name)
    if type_name == "c_char_p":
        return lambda value: check_string(value, member)
    m = re.match(r"^(\S+) \* (\d+)$", type_name or "")
    if m:
        return _sequence_check(member, m.group(1), ctype(type_name))
    return None


def ctype(name):
    """The ctypes type for one of _api.py's type names: a name of _TYPES,
    "P(x)" (pointer to x), "x * n" (array of n x) or None (void)."""
    if name is None:
        return None
    m = re.match(r"^P\((.+)\)$", name)
    if m:
        return P(ctype(m.group(1)))
    m = re.match(r"^(\S+) \* (\d+)$", name)
    if m:
        return ctype(m.group(1)) * int(m.group(2))
    return _TYPES[name]


def _function_types():
    for name, (ret, args) in _api.FUNCTION_TYPES.items():
        _TYPES[name] = ctypes.CFUNCTYPE(ctype(ret), *[ctype(a) for a in args])


_function_types()

# typedef int (*graft_progress_fn)(void *user_data, const graft_progress *progress);
PROGRESS_FN = _TYPES["PROGRESS_FN"]
# graft_allocator hooks
ALLOC_FN = _TYPES["ALLOC_FN"]
FREE_FN = _TYPES["FREE_FN"]
# typedef int (*graft_sample_fn)(void *user_data, int64_t index, float *features,
#                                int32_t *label);
SAMPLE_FN = _TYPES["SAMPLE_FN"]


class _Struct(ctypes.Structure):
    """Base of the option structs. ctypes keeps the low bits of an int
    assigned to an integer member and the bytes up to a NUL of a string
    member, so assignments are checked first (check_int(), check_string()):
    out of the member's range is OverflowError, a NUL byte ValueError. An
    array member also takes a list or tuple (checked value by value; the
    places after it are zero)."""

    _member_checks = {}

    def __setattr__(self, name, value):
        check = self._member_checks.get(name)
        if check is not None:
            value = check(value)
        super().__setattr__(name, value)


def _struct(c_name):
    """Class decorator: gives a _Struct the members of the C struct c_name
    (from _api.STRUCTS) and makes it the type of c_name pointers."""

    def define(cls):
        cls._fields_ = [(member, ctype(t)) for member, t in _api.STRUCTS[c_name]]
        checks = {member: _member_check(member, t) for member, t in _api.STRUCTS[c_name]}
        cls._member_checks = {m: c for m, c in checks.items() if c is not None}
        cls.c_name = c_name
        _TYPES[cls.__name__] = cls
        return cls

    return define


@_struct("graft_allocator")
class Allocator(_Struct):
    """graft_allocator (read during graft_ctx_create_advanced() only; the
    hooks it points to must outlive the context)."""


@_struct("graft_conv2d_spec")
class Conv2dSpec(_Struct):
    """graft_conv2d_spec (read during graft_layer_conv2d() only)."""


@_struct("graft_pool2d_spec")
class Pool2dSpec(_Struct):
    """graft_pool2d_spec (read during the pooling constructors only)."""


@_struct("graft_pad2d_spec")
class Pad2dSpec(_Struct):
    """graft_pad2d_spec (read during graft_layer_pad2d() only)."""


@_struct("graft_upsample2d_spec")
class Upsample2dSpec(_Struct):
    """graft_upsample2d_spec (read during graft_layer_upsample2d() only)."""


@_struct("graft_conv_transpose2d_spec")
class ConvTranspose2dSpec(_Struct):
    """graft_conv_transpose2d_spec (read during graft_layer_conv_transpose2d()
    only)."""


@_struct("graft_fit_opts")
class FitOpts(_Struct):
    """graft_fit_opts (read during graft_model_fit() only; the callback it
    names is called during that call only)."""


@_struct("graft_loss_opts")
class LossOpts(_Struct):
    """graft_loss_opts (read during graft_loss_cross_entropy() and
    graft_loss_bce_with_logits() only)."""


@_struct("graft_head_spec")
class HeadSpec(_Struct):
    """graft_head_spec (read during graft_model_replace_head() only)."""


@_struct("graft_image_load_opts")
class ImageLoadOpts(_Struct):
    """graft_image_load_opts (read during the image loaders only)."""


@_struct("graft_augment_spec")
class AugmentSpec(_Struct):
    """graft_augment_spec (read during graft_image_augment() only)."""


MAX_DIMS = _api.GRAFT_MAX_DIMS


@_struct("graft_csv_opts")
class CsvOpts(_Struct):
    """graft_csv_opts (read during graft_dataset_from_csv() only)."""


@_struct("graft_folder_opts")
class FolderOpts(_Struct):
    """graft_folder_opts (read during graft_dataset_from_folder() only)."""


@_struct("graft_grid_opts")
class GridOpts(_Struct):
    """graft_grid_opts (read during graft_dataset_from_grid() only; so are
    the labels it points to)."""
@_struct("graft_preprocess")
class Preprocess(_Struct):
    """graft_preprocess (read during graft_model_set_preprocess(), written
    during graft_model_get_preprocess() only)."""


@_struct("graft_onnx_import_opts")
class OnnxImportOpts(_Struct):
    """graft_onnx_import_opts (read during graft_onnx_import() and
    graft_onnx_import_buffer() only; so are the names and tensors it points
    to)."""


@_struct("graft_onnx_export_opts")
class OnnxExportOpts(_Struct):
    """graft_onnx_export_opts (read during graft_onnx_export() and
    graft_onnx_export_buffer() only)."""


def _undocumented_structs():
    """A plain Structure for every struct of the header not given a class
    above, named as gen_api.py names it, so that a struct new in graft.h
    does not stop the import before the binding documents and uses it."""
    known = {cls.c_name for cls in _TYPES.values() if hasattr(cls, "c_name")}
    for c_name in _api.STRUCTS:
        if c_name not in known:
            name = "".join(w[:1].upper() + w[1:] for w in c_name[len("graft_"):].split("_"))
            _struct(c_name)(type(name, (_Struct,), {"__doc__": c_name}))


_undocumented_structs()


def new_struct(cls, **fields):
    """An instance of a versioned struct with struct_size set to its size and
    the members given set (each checked as _Struct describes). A name that
    is no member is a TypeError."""
    s = cls()
    s.struct_size = ctypes.sizeof(cls)
    members = {f[0] for f in cls._fields_}
    for k, v in fields.items():
        if k not in members:
            raise TypeError("%s has no member %r" % (cls.c_name, k))
        setattr(s, k, v)
    return s


# ---- prototypes -----------------------------------------------------------------
#
# Every function of include/graft.h, declared from _api.FUNCTIONS. To wrap
# a function new in the header, regenerate _api.py (python3
# python/tools/gen_api.py); python/tests/test_abi.py fails until then.

# The arguments bound more narrowly than gen_api.py's rule, which makes
# every float * and int32_t * a c_void_p because the binding mostly passes
# the address of a buffer there. These few it passes as ctypes objects, and
# the typed pointer makes ctypes refuse one of the wrong element type.
# (function, argument index) -> ctypes type; tests/test_abi.py checks each
# against the header.
NARROWED = {
    ("graft_image_normalize", 1): P(c_float),  # mean: (c_float * channels)(...)
    ("graft_image_normalize", 2): P(c_float),  # std: (c_float * channels)(...)
    ("graft_dataset_get", 3): P(c_int32),  # label: byref(c_int32())
}


def _prototypes():
    found = []
    for name, ret, args in _api.FUNCTIONS:
        argtypes = [NARROWED[name, k] if (name, k) in NARROWED else ctype(a)
                    for k, a in enumerate(args)]
        found.append((name, ctype(ret), argtypes))
    return found


#: (name, restype, argtypes) of every function, in header order.
PROTOTYPES = _prototypes()


# ---- loading ----------------------------------------------------------------------


def candidate_paths():
    """The places searched for the library, in order, as (path, source)
    pairs; a bare soname means the dynamic loader's own search."""
    env = os.environ.get("GRAFT_LIBRARY")
    if env:
        path = os.path.join(env, SONAME) if os.path.isdir(env) else env
        return [(path, "GRAFT_LIBRARY")]
    found = [(os.path.join(_PACKAGE_DIR, SONAME), "the package folder")]
    root = os.path.dirname(os.path.dirname(_PACKAGE_DIR))
    if os.path.isfile(os.path.join(root, "include", "graft.h")):
        found.append((os.path.join(root, "lib", SONAME), "the source checkout"))
    found.append((SONAME, "the dynamic loader's search path"))
    for d in ("/usr/local/lib", "/usr/lib"):
        found.append((os.path.join(d, SONAME), d))
    return found


def check_version(lib, path):
    """Raises ImportError unless the library's major version is the one this
    binding is written for."""
    number = int(lib.graft_version_number())
    major = number // 10000
    if major != LIBRARY_MAJOR:
        text = lib.graft_version_string()
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        raise ImportError(
            "the graft Python package is written for libgraft major version %d, but %s "
            "is version %s (major version %d); install libgraft %d.x or a graft package "
            "made for version %d" % (LIBRARY_MAJOR, path, text, major, LIBRARY_MAJOR, major))
    return number


def _declare(lib):
    """Sets restype/argtypes of every function; a missing one is an ImportError
    (the library is older than the header this binding follows)."""
    missing = []
    for name, restype, argtypes in PROTOTYPES:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    return missing


def open_library(path):
    """Loads the library at path, checks its version and declares its
    functions. Raises OSError when it cannot be loaded, ImportError when it
    is the wrong version or lacks functions."""
    lib = ctypes.CDLL(path)
    lib.graft_version_number.restype = c_int
    lib.graft_version_number.argtypes = []
    lib.graft_version_string.restype = c_char_p
    lib.graft_version_string.argtypes = []
    check_version(lib, path)
    missing = _declare(lib)
    if missing:
        raise ImportError("%s lacks %d function(s) this graft package needs: %s"
                          % (path, len(missing), ", ".join(missing)))
    return lib


def load():
    """Finds and opens the library (see the module docstring). Returns
    (lib, path)."""
    tried = []
    for path, source in candidate_paths():
        if os.path.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, source))
            continue
        try:
            return open_library(path), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, source, e))
    raise ImportError(
        "cannot load %s; tried:\n  %s\nBuild it with `make` in graft's source folder, "
        "install it with `make install`, or set GRAFT_LIBRARY to its path"
        % (SONAME, "\n  ".join(tried)))


def checked_function(lib, name, types):
    """lib's function name, whose arguments have the _api.py types given,
    behind the checks of the module docstring: a Python function checking
    the integer and string arguments, then calling getattr(lib, name)
    (looked up at each call, so a test may replace it). A function with no
    such parameter is returned as it is."""
    names = _api.ARGUMENT_NAMES.get(name, ())
    whats = [names[k] if k < len(names) and names[k] else "argument %d of %s()" % (k + 1, name)
             for k in range(len(types))]
    ints = tuple((k, whats[k], t) + INTEGER_RANGES[t][:2] for k, t in enumerate(types)
                 if t in INTEGER_RANGES)
    strings = tuple((k, whats[k]) for k, t in enumerate(types) if t == "c_char_p")
    fn = getattr(lib, name)
    if not ints and not strings:
        return fn

    def call(*args):
        n = len(args)
        for k, what, type_name, lo, hi in ints:
            if k < n:
                v = args[k]
                if type(v) is not int or not lo <= v <= hi:
                    check_int(v, what, type_name)
        for k, what in strings:
            if k < n and args[k] is not None:
                check_string(args[k], what)
        return getattr(lib, name)(*args)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = "%s(), its arguments checked (graft._lib.checked_function())" % name
    call.__wrapped__ = fn
    return call


class Functions:
    """The functions of the library as the binding calls them: each
    prototype's checked_function(); other attributes are the CDLL's."""

    def __init__(self, lib):
        self._raw = lib
        for name, _, types in _api.FUNCTIONS:
            setattr(self, name, checked_function(lib, name, types))

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def __repr__(self):
        return "<graft._lib.Functions of %r>" % (self._raw,)


#: RAW is the CDLL (foreign functions declared, unchecked); C the same
#: functions behind the range and NUL checks, which the binding calls.
RAW, PATH = load()
C = Functions(RAW)

# ---- calling ------------------------------------------------------------------------


def errmsg():
    """The calling thread's last graft error message (graft_errmsg(NULL)),
    which every failed call sets."""
    m = C.graft_errmsg(None)
    return m.decode("utf-8", "replace") if m else ""


def strerror(code):
    """graft_strerror(): a short static description of a status code."""
    return C.graft_strerror(int(code)).decode("utf-8", "replace")


# Exceptions raised by Python callbacks that graft called during the
# current call on this thread (graft_sample_fn trampolines), which the call's
# failure re-raises: see note_callback_exception().
_callback_exceptions = threading.local()


def note_callback_exception(exc):
    """Keeps exc, raised in a Python callback that graft called on this
    thread (which then returns a failure to graft instead of letting the
    exception cross into C). The next check() on this thread raises it,
    with the graft error as its __cause__, when the call failed; the next
    check() drops it otherwise."""
    pending = getattr(_callback_exceptions, "pending", None)
    if pending is None:
        pending = _callback_exceptions.pending = []
    pending.append(exc)


def take_callback_exception():
    """The first exception note_callback_exception() kept since the last
    check() on this thread (or None), forgetting them all."""
    pending = getattr(_callback_exceptions, "pending", None)
    if not pending:
        return None
    _callback_exceptions.pending = []
    return pending[0]


def check(status):
    """Raises the exception for a negative status, with the thread's message;
    returns status otherwise. When a Python callback of the call raised,
    that exception is raised instead, from graft's."""
    raised = take_callback_exception()
    if status < 0:
        msg = errmsg() or strerror(status)
        err = errors.error_for(status, msg)
        if raised is not None:
            raise raised from err
        raise err
    return status


def call(fn, *args):
    """Calls a status-returning C function and raises on failure."""
    return check(fn(*args))


def encode(text, what):
    """str (or bytes) to bytes for a C string argument; ValueError when it
    holds a NUL byte."""
    if isinstance(text, bytes):
        return check_string(text, what)
    if not isinstance(text, str):
        raise TypeError("%s must be a str, not %s" % (what, type(text).__name__))
    return check_string(text, what).encode("utf-8")


def encode_path(path, what="path"):
    """A filesystem path (str, bytes or os.PathLike) to bytes; ValueError
    when it holds a NUL byte, as for open()."""
    return check_string(os.fsencode(path), what)


def decode(raw):
    """bytes from C (or None) to str (or None)."""
    return None if raw is None else raw.decode("utf-8", "replace")


def int64_array(values, what="dims"):
    """A ctypes int64 array holding values; OverflowError naming
    what[index] for a value out of int64_t's range."""
    values = [check_int(int(v), "%s[%d]" % (what, k), "c_int64") for k, v in enumerate(values)]
    return (c_int64 * max(len(values), 1))(*values)


def string_array(strings, what):
    """A ctypes char* array for strings, and the list that keeps them alive."""
    raw = [encode(s, what) for s in strings]
    return (c_char_p * max(len(raw), 1))(*raw), raw

