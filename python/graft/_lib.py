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
graft_folder_opts, graft_pad2d_spec, graft_onnx_import_opts,
graft_onnx_export_opts) are read by graft only during the call that takes them,
so they are built as ctypes Structures at call time with
``struct_size = ctypes.sizeof(...)``. Their members come from
``_api.STRUCTS``, generated from graft.h like the prototypes. If a
definition here ever disagreed with graft.h in size, graft would refuse the
call with GRAFT_E_VERSION (or GRAFT_E_INVALID_ARG for the allocator) instead
of misreading it; the test suite also compiles a probe against
include/graft.h and compares every size and field offset
(tests/test_abi.py).
"""

import ctypes
import os
import re

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


def _struct(c_name):
    """Class decorator: gives a ctypes.Structure the members of the C struct
    c_name (from _api.STRUCTS) and makes it the type of c_name pointers."""

    def define(cls):
        cls._fields_ = [(member, ctype(t)) for member, t in _api.STRUCTS[c_name]]
        cls.c_name = c_name
        _TYPES[cls.__name__] = cls
        return cls

    return define


@_struct("graft_allocator")
class Allocator(ctypes.Structure):
    """graft_allocator (read during graft_ctx_create_advanced() only; the
    hooks it points to must outlive the context)."""


@_struct("graft_conv2d_spec")
class Conv2dSpec(ctypes.Structure):
    """graft_conv2d_spec (read during graft_layer_conv2d() only)."""


@_struct("graft_pool2d_spec")
class Pool2dSpec(ctypes.Structure):
    """graft_pool2d_spec (read during the pooling constructors only)."""


@_struct("graft_pad2d_spec")
class Pad2dSpec(ctypes.Structure):
    """graft_pad2d_spec (read during graft_layer_pad2d() only)."""


@_struct("graft_fit_opts")
class FitOpts(ctypes.Structure):
    """graft_fit_opts (read during graft_model_fit() only; the callback it
    names is called during that call only)."""


@_struct("graft_head_spec")
class HeadSpec(ctypes.Structure):
    """graft_head_spec (read during graft_model_replace_head() only)."""


@_struct("graft_image_load_opts")
class ImageLoadOpts(ctypes.Structure):
    """graft_image_load_opts (read during the image loaders only)."""


@_struct("graft_augment_spec")
class AugmentSpec(ctypes.Structure):
    """graft_augment_spec (read during graft_image_augment() only)."""


MAX_DIMS = _api.GRAFT_MAX_DIMS


@_struct("graft_csv_opts")
class CsvOpts(ctypes.Structure):
    """graft_csv_opts (read during graft_dataset_from_csv() only)."""


@_struct("graft_folder_opts")
class FolderOpts(ctypes.Structure):
    """graft_folder_opts (read during graft_dataset_from_folder() only)."""


@_struct("graft_onnx_import_opts")
class OnnxImportOpts(ctypes.Structure):
    """graft_onnx_import_opts (read during graft_onnx_import() and
    graft_onnx_import_buffer() only; so are the names and tensors it points
    to)."""


@_struct("graft_onnx_export_opts")
class OnnxExportOpts(ctypes.Structure):
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
            _struct(c_name)(type(name, (ctypes.Structure,), {"__doc__": c_name}))


_undocumented_structs()


def new_struct(cls, **fields):
    """An instance of a versioned struct with struct_size set to its size."""
    s = cls()
    s.struct_size = ctypes.sizeof(cls)
    for k, v in fields.items():
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


C, PATH = load()

# ---- calling ------------------------------------------------------------------------


def errmsg():
    """The calling thread's last graft error message (graft_errmsg(NULL)),
    which every failed call sets."""
    m = C.graft_errmsg(None)
    return m.decode("utf-8", "replace") if m else ""


def strerror(code):
    """graft_strerror(): a short static description of a status code."""
    return C.graft_strerror(int(code)).decode("utf-8", "replace")


def check(status):
    """Raises the exception for a negative status, with the thread's message;
    returns status otherwise."""
    if status < 0:
        msg = errmsg() or strerror(status)
        raise errors.error_for(status, msg)
    return status


def call(fn, *args):
    """Calls a status-returning C function and raises on failure."""
    return check(fn(*args))


def encode(text, what):
    """str (or bytes) to bytes for a C string argument."""
    if isinstance(text, bytes):
        return text
    if not isinstance(text, str):
        raise TypeError("%s must be a str, not %s" % (what, type(text).__name__))
    return text.encode("utf-8")


def encode_path(path):
    """A filesystem path (str, bytes or os.PathLike) to bytes."""
    return os.fsencode(path)


def decode(raw):
    """bytes from C (or None) to str (or None)."""
    return None if raw is None else raw.decode("utf-8", "replace")


def int64_array(values):
    """A ctypes int64 array holding values."""
    values = [int(v) for v in values]
    return (c_int64 * max(len(values), 1))(*values)


def string_array(strings, what):
    """A ctypes char* array for strings, and the list that keeps them alive."""
    raw = [encode(s, what) for s in strings]
    return (c_char_p * max(len(raw), 1))(*raw), raw

