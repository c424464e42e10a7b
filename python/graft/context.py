"""Contexts, and the base class of every object that owns a graft handle."""

import ctypes
import threading

from . import _api
from . import _lib
from . import errors

CTX_USE_BLAS = _api.GRAFT_CTX_USE_BLAS
CTX_NUM_THREADS = _api.GRAFT_CTX_NUM_THREADS
CTX_WINOGRAD = _api.GRAFT_CTX_WINOGRAD
CTX_CHECK_INPUTS = _api.GRAFT_CTX_CHECK_INPUTS


class Allocator:
    """Memory hooks for a :class:`Context`.

    graft routes every allocation of the context and of the objects created
    in it through :meth:`alloc` and :meth:`free`. This default
    implementation uses the C library's malloc and free, counts the bytes in
    use (``in_use``, ``peak``, ``allocations``) and refuses allocations that
    would take ``in_use`` above ``limit`` bytes (None: no limit), which graft
    reports as :class:`~graft.NoMemoryError`. Subclasses may override both
    methods; :meth:`alloc` returns an address (int) or 0, :meth:`free`
    accepts 0. An exception raised by a hook is not propagated into graft:
    alloc then returns 0 and free does nothing, and the exception is kept in
    ``last_exception``.

    The hooks are called from C for every allocation, so a context with an
    Allocator is slower than one without; use it for accounting and tests.
    """

    def __init__(self, limit=None):
        self.limit = limit
        self.in_use = 0
        self.peak = 0
        self.allocations = 0
        self.last_exception = None
        self._sizes = {}
        libc = ctypes.CDLL(None)
        self._malloc = libc.malloc
        self._malloc.restype = ctypes.c_void_p
        self._malloc.argtypes = [ctypes.c_size_t]
        self._free = libc.free
        self._free.restype = None
        self._free.argtypes = [ctypes.c_void_p]

    def alloc(self, size):
        """Returns the address of size new bytes, or 0 to refuse."""
        if self.limit is not None and self.in_use + size > self.limit:
            return 0
        ptr = self._malloc(size) or 0
        if ptr:
            self._sizes[ptr] = size
            self.in_use += size
            self.peak = max(self.peak, self.in_use)
            self.allocations += 1
        return ptr

    def free(self, ptr):
        """Releases memory alloc() returned; accepts 0."""
        if ptr:
            self.in_use -= self._sizes.pop(ptr, 0)
            self._free(ptr)

    def _thunks(self):
        """The C function pointers for graft_allocator (kept alive by the
        context)."""

        def c_alloc(_opaque, size):
            try:
                return self.alloc(int(size)) or None
            except BaseException as e:  # never let an exception into C
                self.last_exception = e
                return None

        def c_free(_opaque, ptr):
            try:
                self.free(ptr or 0)
            except BaseException as e:
                self.last_exception = e

        return _lib.ALLOC_FN(c_alloc), _lib.FREE_FN(c_free)


class Context:
    """A graft context: the allocator, settings and error messages of the
    objects created in it.

    Most programs never make one: every constructor takes ``ctx=None``,
    meaning the calling thread's default context (:func:`default_context`).
    Make your own to use allocator hooks, or to keep objects used by
    different threads apart.

    Rules (graft's): one thread at a time may use a context and its objects;
    distinct contexts may be used from different threads at once. Objects
    keep their context alive; :meth:`close` frees it once the last of them
    is closed.

    Args:
        use_blas: None (default: OpenBLAS when the library has it), True or
            False (graft's reference matrix code).
        allocator: an :class:`Allocator` (or subclass) to route memory
            through, or None for malloc/free.
    """

    def __init__(self, *, use_blas=None, allocator=None):
        self._handle = None
        self._children = 0
        self._closing = False
        self.allocator = allocator
        self._thunks = None
        out = ctypes.c_void_p()
        if allocator is None:
            _lib.call(_lib.C.graft_ctx_create, ctypes.byref(out))
        else:
            self._thunks = allocator._thunks()
            spec = _lib.new_struct(_lib.Allocator, alloc=self._thunks[0], free=self._thunks[1])
            _lib.call(_lib.C.graft_ctx_create_advanced, ctypes.byref(spec), ctypes.byref(out))
        self._handle = out.value
        if use_blas is not None:
            self.use_blas = use_blas

    # -- handle bookkeeping, used by the objects created in the context --

    @property
    def handle(self):
        """The graft_ctx pointer (int). Raises ValueError once closed."""
        if self._handle is None or self._closing:
            raise ValueError("the graft context is closed")
        return self._handle

    def _retain(self):
        self._children += 1

    def _release(self):
        self._children -= 1
        if self._closing and self._children == 0:
            self._free()

    def _free(self):
        if self._handle is not None:
            _lib.C.graft_ctx_free(self._handle)
            self._handle = None

    def close(self):
        """Frees the context now, or as soon as the last object created in
        it is closed. Safe to call more than once."""
        self._closing = True
        if self._children == 0:
            self._free()

    @property
    def closed(self):
        """True once close() was called."""
        return self._closing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # Every object holds a reference to its context, so by the time this
        # runs no object of the context is left.
        try:
            if self._handle is not None and self._children == 0:
                self._free()
        except Exception:
            pass

    # -- settings --

    @property
    def use_blas(self):
        """Whether matrix products run through OpenBLAS (GRAFT_CTX_USE_BLAS)."""
        v = ctypes.c_int()
        _lib.call(_lib.C.graft_ctx_get_int, self.handle, CTX_USE_BLAS, ctypes.byref(v))
        return bool(v.value)

    @use_blas.setter
    def use_blas(self, value):
        _lib.call(_lib.C.graft_ctx_set_int, self.handle, CTX_USE_BLAS, 1 if value else 0)

    @property
    def num_threads(self):
        """Threads the matrix products may use (GRAFT_CTX_NUM_THREADS). It is
        OpenBLAS's process-wide setting: setting it here changes it for every
        context."""
        v = ctypes.c_int()
        _lib.call(_lib.C.graft_ctx_get_int, self.handle, CTX_NUM_THREADS, ctypes.byref(v))
        return v.value

    @num_threads.setter
    def num_threads(self, value):
        _lib.call(_lib.C.graft_ctx_set_int, self.handle, CTX_NUM_THREADS, int(value))

    @property
    def winograd(self):
        """When stride-1 3x3 and 5x5 convolutions run by Winograd's algorithm
        (GRAFT_CTX_WINOGRAD): 1 (default) where it pays off, 2 wherever the
        shape allows, 0 never."""
        v = ctypes.c_int()
        _lib.call(_lib.C.graft_ctx_get_int, self.handle, CTX_WINOGRAD, ctypes.byref(v))
        return v.value

    @winograd.setter
    def winograd(self, value):
        _lib.call(_lib.C.graft_ctx_set_int, self.handle, CTX_WINOGRAD, int(value))

    @property
    def check_inputs(self):
        """Whether forward, predict, evaluate and fit refuse inputs holding
        NaN or an infinity with NumericError (GRAFT_CTX_CHECK_INPUTS; True by
        default). False skips that read of the input; fit still stops when
        the loss, a gradient or a parameter would not be finite."""
        v = ctypes.c_int()
        _lib.call(_lib.C.graft_ctx_get_int, self.handle, CTX_CHECK_INPUTS, ctypes.byref(v))
        return bool(v.value)

    @check_inputs.setter
    def check_inputs(self, value):
        _lib.call(_lib.C.graft_ctx_set_int, self.handle, CTX_CHECK_INPUTS, 1 if value else 0)

    @property
    def last_error(self):
        """The last failure's message in this context (graft_errmsg(ctx)),
        "" when none."""
        return _lib.decode(_lib.C.graft_errmsg(self.handle)) or ""

    def __repr__(self):
        state = "closed" if self._handle is None else "%d object(s)" % self._children
        return "<graft.Context %s>" % state


_default = threading.local()


def default_context():
    """The calling thread's default context, created on first use. Objects
    made with ``ctx=None`` use it, so everything one thread makes can be
    combined (a layer and a model must share a context)."""
    ctx = getattr(_default, "ctx", None)
    if ctx is None or ctx.closed:
        ctx = Context()
        _default.ctx = ctx
    return ctx


def resolve(ctx):
    """ctx, or the thread's default context for None."""
    if ctx is None:
        return default_context()
    if not isinstance(ctx, Context):
        raise TypeError("ctx must be a graft.Context or None, not %s" % type(ctx).__name__)
    return ctx


class Handle:
    """Base of every object that owns a graft handle: it frees the handle in
    close(), on leaving a ``with`` block, or when collected, and keeps its
    context alive until then."""

    _free_name = None  # the C destructor, e.g. "graft_model_free"
    _handle = None
    _ctx = None

    def _adopt(self, ctx, handle):
        self._ctx = ctx
        self._handle = handle
        self._busy = 0
        ctx._retain()

    @property
    def handle(self):
        """The C pointer (int). Raises ValueError once closed."""
        if self._handle is None:
            raise ValueError("this graft.%s is closed" % type(self).__name__)
        return self._handle

    @property
    def context(self):
        """The :class:`Context` the object belongs to."""
        return self._ctx

    @property
    def closed(self):
        """True once the object is closed (or its handle was handed over)."""
        return self._handle is None

    def _disown(self):
        """Forgets the handle without freeing it (its new owner frees it)."""
        if self._handle is not None:
            self._handle = None
            self._ctx._release()

    def close(self):
        """Frees the C object. Safe to call more than once."""
        if self._handle is None:
            return
        if getattr(self, "_busy", 0):
            raise errors.StateError(
                errors.E_STATE, "graft.%s.close(): the object is in use by a running fit"
                % type(self).__name__)
        handle, self._handle = self._handle, None
        getattr(_lib.C, self._free_name)(handle)
        self._ctx._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
