"""graft: transfer learning in C, from Python.

A ctypes binding of libgraft.so.1 using the standard library only; numpy
is used when it can be imported (zero-copy float32 input, numpy results),
never required.

    import graft

    with graft.Model.load("base.graft") as model:
        model.replace_head(2, class_names=["cat", "dog"])
        model.freeze_through("features")
        data = graft.Dataset.from_folder("pets/", width=224, height=224)
        model.fit(data, graft.Optimizer.adam(lr=0.01), epochs=5)
        print(model.evaluate(data).accuracy)
        print(model.predict(graft.Image.load("cat.jpg").resize(224, 224)))

ONNX models are read with ``Model.import_onnx(path or bytes)`` and written
with ``model.export_onnx(path)`` or ``model.export_onnx_bytes()``.

Modules: layers (layer constructors); the classes Model, Optimizer,
Dataset, Image, Tensor and Context are exported here. The library is found
through $GRAFT_LIBRARY, a copy inside the package, the source checkout's
lib/, or the system (see graft._lib); its major version must be the one
this package is written for, else importing fails with an ImportError
naming both.

Errors raise GraftError subclasses carrying ``code`` (graft's status) and
``message`` (graft's detailed message). See docs/PYTHON.md.
"""

from ._version import LIBRARY_MAJOR, __version__
from . import errors
from .errors import (
    CancelledError,
    FormatError,
    GraftError,
    GraftIOError,
    InternalError,
    InvalidArgumentError,
    NoMemoryError,
    NotFoundError,
    NumericError,
    RangeError,
    ShapeError,
    StateError,
    UnsupportedError,
    VersionError,
)
from . import _lib
from . import layers
from .context import Allocator, Context, default_context
from .data import Dataset
from .image import AUGMENT_PRESETS, Image, augment_preset, image_format
from .layers import Layer
from .model import INPUT, LoadEntry, LoadReport, Model, ModelLayer, WeightStatus
from .optim import Optimizer
from .tensor import Tensor
from .training import EvalResult, Progress, ReduceLROnPlateau, TargetEvalResult

#: Path of the shared library in use.
library_path = _lib.PATH


def version():
    """The loaded library's version string, e.g. "1.0.0"."""
    return _lib.decode(_lib.C.graft_version_string())


def version_number():
    """The loaded library's GRAFT_VERSION_NUMBER (MAJOR*10000 + MINOR*100 +
    PATCH)."""
    return _lib.C.graft_version_number()


def has_blas():
    """True when matrix products can run through OpenBLAS."""
    return bool(_lib.C.graft_has_blas())


def blas_core_name():
    """The kernels OpenBLAS chose for this processor ("Haswell", ...), or
    "none" without BLAS."""
    return _lib.decode(_lib.C.graft_blas_core_name())


def strerror(code):
    """graft's short description of a status code."""
    return _lib.strerror(code)


def have_numpy():
    """True when numpy is importable and results are numpy arrays."""
    from . import _arrays

    return _arrays.have_numpy()


__all__ = [
    "AUGMENT_PRESETS", "Allocator", "CancelledError", "Context", "Dataset", "EvalResult", "TargetEvalResult", "FormatError",
    "GraftError", "GraftIOError", "INPUT", "Image", "InternalError", "InvalidArgumentError",
    "LIBRARY_MAJOR", "Layer", "LoadEntry", "LoadReport", "Model", "ModelLayer",
    "NoMemoryError", "NotFoundError", "NumericError", "Optimizer", "Progress", "RangeError",
    "ReduceLROnPlateau",
    "ShapeError", "StateError", "Tensor", "UnsupportedError", "VersionError", "WeightStatus",
    "augment_preset", "blas_core_name", "default_context", "errors", "has_blas", "have_numpy", "image_format", "layers",
    "library_path", "strerror", "version", "version_number", "__version__",
]
