"""Status codes and the exceptions that carry them.

Every fallible graft call returns ``GRAFT_OK`` (0) or a negative status code.
The binding turns a negative status into an exception: an instance of the
:class:`GraftError` subclass registered for that code (:class:`ShapeError`
for ``GRAFT_E_SHAPE``, and so on), or of :class:`GraftError` itself for a
code this version of the binding does not know. Each exception carries

* ``code``: the C status (a negative int, one of the ``E_*`` constants), and
* ``message``: graft's detailed message for the failed call, in the form
  ``"function(): cause"`` (``graft_errmsg()``).

Most subclasses also derive from the built-in exception a Python programmer
would expect, so ``except ValueError`` catches a bad argument and
``except LookupError`` a missing layer name.

This module needs no shared library: it can be imported on its own.
"""

from . import _api

OK = _api.GRAFT_OK
E_INVALID_ARG = _api.GRAFT_E_INVALID_ARG
E_NOMEM = _api.GRAFT_E_NOMEM
E_SHAPE = _api.GRAFT_E_SHAPE
E_RANGE = _api.GRAFT_E_RANGE
E_IO = _api.GRAFT_E_IO
E_FORMAT = _api.GRAFT_E_FORMAT
E_UNSUPPORTED = _api.GRAFT_E_UNSUPPORTED
E_STATE = _api.GRAFT_E_STATE
E_NOT_FOUND = _api.GRAFT_E_NOT_FOUND
E_VERSION = _api.GRAFT_E_VERSION
E_NUMERIC = _api.GRAFT_E_NUMERIC
E_CANCELLED = _api.GRAFT_E_CANCELLED
E_INTERNAL = _api.GRAFT_E_INTERNAL

# The C names of the codes (every GRAFT_OK and GRAFT_E_* of graft.h), for
# messages and repr().
STATUS_NAMES = {value: name for name, value in _api.CONSTANTS.items()
                if name == "GRAFT_OK" or name.startswith("GRAFT_E_")}


class GraftError(Exception):
    """A graft call failed.

    Attributes:
        code: the C status code (negative int; see the ``E_*`` constants).
        message: graft's detailed message, ``"function(): cause"``.
    """

    def __init__(self, code, message):
        self.code = int(code)
        self.message = str(message)
        super().__init__(self.message)

    @property
    def status_name(self):
        """The C name of the code, e.g. ``"GRAFT_E_SHAPE"``."""
        return STATUS_NAMES.get(self.code, "status %d" % self.code)

    def __str__(self):
        return self.message

    def __repr__(self):
        return "%s(%s, %r)" % (type(self).__name__, self.status_name, self.message)

    def __reduce__(self):
        return (type(self), (self.code, self.message))


class InvalidArgumentError(GraftError, ValueError):
    """GRAFT_E_INVALID_ARG: a missing object or a bad value."""


class NoMemoryError(GraftError, MemoryError):
    """GRAFT_E_NOMEM: an allocation failed."""


class ShapeError(GraftError, ValueError):
    """GRAFT_E_SHAPE: tensor shapes do not fit the operation."""


class RangeError(GraftError, ValueError):
    """GRAFT_E_RANGE: an index, label or value is out of range."""


class GraftIOError(GraftError):
    """GRAFT_E_IO: reading or writing a file failed (the message names the
    file and the system's reason)."""


class FormatError(GraftError, ValueError):
    """GRAFT_E_FORMAT: a file or buffer is corrupt or not graft's."""


class UnsupportedError(GraftError, NotImplementedError):
    """GRAFT_E_UNSUPPORTED: a valid request graft does not implement."""


class StateError(GraftError, RuntimeError):
    """GRAFT_E_STATE: the call is not valid in the object's state."""


class NotFoundError(GraftError, LookupError):
    """GRAFT_E_NOT_FOUND: a named item does not exist."""


class VersionError(GraftError):
    """GRAFT_E_VERSION: a file or caller needs a newer graft."""


class NumericError(GraftError, ArithmeticError):
    """GRAFT_E_NUMERIC: NaN or infinity where a finite value is needed."""


class CancelledError(GraftError):
    """GRAFT_E_CANCELLED: a callback asked to stop."""


class InternalError(GraftError, RuntimeError):
    """GRAFT_E_INTERNAL: a broken internal invariant (please report it)."""


_CLASSES = {
    E_INVALID_ARG: InvalidArgumentError,
    E_NOMEM: NoMemoryError,
    E_SHAPE: ShapeError,
    E_RANGE: RangeError,
    E_IO: GraftIOError,
    E_FORMAT: FormatError,
    E_UNSUPPORTED: UnsupportedError,
    E_STATE: StateError,
    E_NOT_FOUND: NotFoundError,
    E_VERSION: VersionError,
    E_NUMERIC: NumericError,
    E_CANCELLED: CancelledError,
    E_INTERNAL: InternalError,
}


def exception_class(code):
    """The exception class for a status code (:class:`GraftError` for codes
    this binding does not know; new codes may appear in later versions)."""
    return _CLASSES.get(int(code), GraftError)


def error_for(code, message):
    """A new exception instance of the right class for code and message."""
    return exception_class(code)(code, message)
