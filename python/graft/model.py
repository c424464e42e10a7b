"""Models: building, inspecting, transfer learning, training, prediction,
files, checkpoints and ONNX import and export (graft_model)."""

import contextlib
import ctypes
import enum
import operator
import signal
import threading

from . import _api
from . import _arrays
from . import _lib
from . import errors
from .context import Handle, resolve
from .data import _NORMALIZE, _RESIZE, Dataset, _choice
from .image import Image
from .layers import Layer
from .optim import Optimizer
from .tensor import borrowed_view, values_of
from .training import MONITORS, EvalResult, Progress, ReduceLROnPlateau, TargetEvalResult

INPUT = _api.GRAFT_MODEL_INPUT  # the model input's name in input lists

# GRAFT_MODEL_* options
_OPT_FROZEN_BN_TRAINS = _api.GRAFT_MODEL_FROZEN_BN_TRAINS
_OPT_FEATURE_CACHE = _api.GRAFT_MODEL_FEATURE_CACHE
_OPT_FEATURE_CACHE_MB = _api.GRAFT_MODEL_FEATURE_CACHE_MB
_OPT_TASK = _api.GRAFT_MODEL_TASK
_TASKS = {"classification": _api.GRAFT_TASK_CLASSIFICATION,
          "multi_label": _api.GRAFT_TASK_MULTI_LABEL,
          "regression": _api.GRAFT_TASK_REGRESSION}
_REGRESSION_LOSSES = {"mse": _api.GRAFT_LOSS_MSE, "l1": _api.GRAFT_LOSS_L1}


def _float_array(values, n, what):
    """A ctypes float array of n values (a sequence or a numpy array), or
    None for None."""
    if values is None:
        return None
    vals = [float(v) for v in values]
    if len(vals) != n:
        raise ValueError("%s has %d values, needs %d" % (what, len(vals), n))
    return (ctypes.c_float * max(1, n))(*vals)


def _prod(dims):
    n = 1
    for d in dims:
        n *= d
    return n


def _catch_sigint(flag):
    """While graft runs, Python's default Ctrl-C handler would raise
    KeyboardInterrupt wherever Python code next runs, which in a fit is the
    progress callback's entry, where it cannot be caught. When that handler
    is installed (and this is the main thread), it is replaced by one that
    only records the interrupt; the fit then stops at the next batch and
    KeyboardInterrupt is raised after it returns. Returns the handler to
    restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None
        return signal.signal(signal.SIGINT, lambda signum, frame: flag.append(signum))
    except (ValueError, OSError):
        return None


class WeightStatus(enum.IntEnum):
    """What :meth:`Model.load_weights` did with a tensor (GRAFT_WEIGHT_*)."""

    #: copied from the file
    LOADED = _api.GRAFT_WEIGHT_LOADED
    #: same name, other shape: kept its own values
    SHAPE_MISMATCH = _api.GRAFT_WEIGHT_SHAPE_MISMATCH
    #: no tensor of that name in the file: kept its own values
    NOT_IN_FILE = _api.GRAFT_WEIGHT_NOT_IN_FILE
    #: in the file only: ignored
    NOT_IN_MODEL = _api.GRAFT_WEIGHT_NOT_IN_MODEL


class LoadEntry:
    """One tensor of a :class:`LoadReport`: ``name`` ("layer/param"),
    ``status`` (a :class:`WeightStatus`) and ``detail`` (e.g. both shapes)."""

    __slots__ = ("name", "status", "detail")

    def __init__(self, name, status, detail):
        self.name, self.status, self.detail = name, status, detail

    def __iter__(self):
        return iter((self.name, self.status, self.detail))

    def __repr__(self):
        return "<LoadEntry %s %s %s>" % (self.name, self.status.name, self.detail)


class LoadReport:
    """What :meth:`Model.load_weights` did, one entry per tensor of either
    side. Iterable; ``loaded``, ``shape_mismatch``, ``not_in_file`` and
    ``not_in_model`` list the names with each status."""

    def __init__(self, entries):
        self.entries = list(entries)

    def _names(self, status):
        return [e.name for e in self.entries if e.status == status]

    @property
    def loaded(self):
        return self._names(WeightStatus.LOADED)

    @property
    def shape_mismatch(self):
        return self._names(WeightStatus.SHAPE_MISMATCH)

    @property
    def not_in_file(self):
        return self._names(WeightStatus.NOT_IN_FILE)

    @property
    def not_in_model(self):
        return self._names(WeightStatus.NOT_IN_MODEL)

    def __iter__(self):
        return iter(self.entries)

    def __len__(self):
        return len(self.entries)

    def __repr__(self):
        return "<graft.LoadReport loaded=%d shape_mismatch=%d not_in_file=%d not_in_model=%d>" % (
            len(self.loaded), len(self.shape_mismatch), len(self.not_in_file),
            len(self.not_in_model))


class ModelLayer:
    """A layer of a model, looked up by name on every use (so it never
    dangles: after the model drops the layer, using it raises NotFoundError).

    Attributes (read live from the model): ``name``, ``index``, ``kind``,
    ``inputs`` (names), ``output_shape`` (per sample), ``params`` (scalar
    parameter count, buffers excluded), ``trainable`` (settable),
    ``lr_scale`` (settable).
    """

    __slots__ = ("_model", "_name")

    def __init__(self, model, name):
        self._model = model
        self._name = name

    @property
    def model(self):
        """The :class:`Model` the layer belongs to."""
        return self._model

    @property
    def name(self):
        return self._name

    @property
    def index(self):
        """The layer's position in the model."""
        return self._model._index(self._name)

    def _layer_handle(self):
        return _lib.C.graft_model_layer(self._model.handle, self.index)

    @property
    def kind(self):
        """The layer kind ("conv2d", "dense", ...)."""
        return _lib.decode(_lib.C.graft_layer_kind(self._layer_handle()))

    @property
    def inputs(self):
        """The names of the layers (or "input") this layer reads."""
        m, i = self._model.handle, self.index
        return [_lib.decode(_lib.C.graft_model_layer_input_name(m, i, k))
                for k in range(_lib.C.graft_model_layer_input_count(m, i))]

    @property
    def output_shape(self):
        """The per-sample output shape (a tuple, no batch dimension)."""
        return self._model._shape(self.index)

    @property
    def params(self):
        """The number of scalar parameters (buffers excluded)."""
        return _lib.C.graft_model_layer_param_count(self._model.handle, self.index)

    @property
    def trainable(self):
        """True when the layer's parameters are trained, False when frozen."""
        return _lib.C.graft_model_layer_trainable(self._model.handle, self.index) == 1

    @trainable.setter
    def trainable(self, value):
        self._model._check_idle("ModelLayer.trainable")
        _lib.call(_lib.C.graft_model_set_trainable_by_name, self._model.handle,
                  _lib.encode(self._name, "name"), 1 if value else 0)

    @property
    def lr_scale(self):
        """The learning-rate multiplier of the layer (1 for new layers)."""
        return _lib.C.graft_model_layer_lr_scale(self._model.handle, self.index)

    @lr_scale.setter
    def lr_scale(self, value):
        self._model._check_idle("ModelLayer.lr_scale")
        i = self.index
        _lib.call(_lib.C.graft_model_set_lr_scale, self._model.handle, i, i, float(value))

    # -- parameters --

    def _params(self):
        """(name, value tensor handle, is_trainable) of each parameter."""
        lh = self._layer_handle()
        found = []
        for k in range(_lib.C.graft_layer_param_count(lh)):
            name, value, flag = ctypes.c_char_p(), ctypes.c_void_p(), ctypes.c_int()
            _lib.call(_lib.C.graft_layer_param, lh, k, ctypes.byref(name), ctypes.byref(value),
                      None, ctypes.byref(flag))
            found.append((_lib.decode(name.value), value.value, bool(flag.value)))
        return found

    def _param(self, name):
        for pname, handle, _ in self._params():
            if pname == name:
                return handle
        raise errors.NotFoundError(errors.E_NOT_FOUND, "layer \"%s\" has no parameter \"%s\""
                                   % (self._name, name))

    @property
    def param_names(self):
        """Names of the layer's parameters and buffers ("weight", "bias",
        "running_mean", ...)."""
        return [p[0] for p in self._params()]

    def parameters(self):
        """A dict: parameter or buffer name -> a copy of its values (numpy
        array or nested lists)."""
        return {name: values_of(h) for name, h, _ in self._params()}

    def get_parameter(self, name):
        """A copy of one parameter's values."""
        return values_of(self._param(name))

    def set_parameter(self, name, values):
        """Copies values (as many as the parameter holds, any shape) into
        the parameter or buffer called name."""
        self._model._check_idle("ModelLayer.set_parameter")
        handle = self._param(name)
        buf = _arrays.float_input(values, "values")
        _lib.call(_lib.C.graft_tensor_copy_from, handle, buf.address, buf.count)

    def __repr__(self):
        try:
            return "<graft.ModelLayer %s (%s) %s params=%d%s>" % (
                self._name, self.kind, self.output_shape, self.params,
                "" if self.trainable else " frozen")
        except (errors.GraftError, ValueError):
            return "<graft.ModelLayer %s (gone)>" % self._name

    def __eq__(self, other):
        return (isinstance(other, ModelLayer) and other._model is self._model
                and other._name == self._name)

    def __hash__(self):
        return hash((id(self._model), self._name))


def _preprocess_struct(value):
    """A graft_preprocess from a dict as Model.preprocess takes (missing keys:
    GRAFT_PREPROCESS_INIT's defaults)."""
    if not isinstance(value, dict):
        raise TypeError("preprocess is a dict (see Model.preprocess) or None, not %r"
                        % (value,))
    known = {"channels", "width", "height", "resize", "shorter_side", "normalize",
             "scale", "mean", "std"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise TypeError("preprocess has no key %r" % unknown[0])
    # GRAFT_PREPROCESS_INIT's defaults, then the keys given.
    p = _lib.new_struct(_lib.Preprocess, channels=3, width=224, height=224, scale=1.0,
                        std=(ctypes.c_float * 3)(1.0, 1.0, 1.0))
    for key in ("channels", "width", "height", "shorter_side"):
        if key in value:
            setattr(p, key, value[key])
    if "resize" in value:
        p.resize = _choice(_RESIZE, value["resize"], "resize")
    if "normalize" in value:
        p.normalize = _choice(_NORMALIZE, value["normalize"], "normalize")
    if "scale" in value:
        p.scale = float(value["scale"])
    for key in ("mean", "std"):
        if key in value:
            v = [float(x) for x in value[key]]
            if len(v) != 3:
                raise ValueError("%s takes 3 values (the first `channels` are read)" % key)
            setattr(p, key, (ctypes.c_float * 3)(*v))
    return p


class Model(Handle):
    """A network of named layers: the last layer added is the output.

    ``Model(input_shape)`` (or :meth:`create`) makes an empty model whose
    input has that per-sample shape, e.g. ``(1, 28, 28)``; :meth:`load`
    reads a saved one. A model is a sequence of its layers: ``len(model)``,
    ``model[0]``, ``model["fc"]``, ``for layer in model``.

    Arrays passed in (``x``) are numpy arrays, buffers or nested lists of
    shape (N, *input_shape); also accepted are one sample of exactly
    input_shape, (N, F) with each row a flattened sample, a flat buffer of
    N samples, and an :class:`~graft.Image` or a list of images of one size
    (read in place, no copy for a single image). Results are numpy arrays
    when numpy is importable, nested lists otherwise.
    """

    _free_name = "graft_model_free"

    def __init__(self, input_shape, *, seed=0, ctx=None):
        ctx = resolve(ctx)
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_model_create, ctx.handle, len(shape),
                  _lib.int64_array(shape, "input_shape"), int(seed), ctypes.byref(out))
        self._adopt(ctx, out.value)

    @classmethod
    def create(cls, input_shape, *, seed=0, ctx=None):
        """An empty model (the same as ``Model(input_shape, ...)``). seed
        drives the initialisation of every layer added."""
        return cls(input_shape, seed=seed, ctx=ctx)

    @classmethod
    def _wrap(cls, ctx, handle):
        self = cls.__new__(cls)
        self._adopt(ctx, handle)
        return self

    @classmethod
    def load(cls, path, *, ctx=None):
        """Loads a model saved by :meth:`save` (or the model of a
        checkpoint). Raises GraftIOError, FormatError (with what and where),
        VersionError (a newer format)."""
        ctx = resolve(ctx)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_model_load, ctx.handle, _lib.encode_path(path), ctypes.byref(out))
        return cls._wrap(ctx, out.value)

    @classmethod
    def load_buffer(cls, data, *, ctx=None):
        """Loads a model from the bytes of a model file (read, not kept)."""
        ctx = resolve(ctx)
        data = bytes(data)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_model_load_buffer, ctx.handle, data, len(data),
                  ctypes.byref(out))
        return cls._wrap(ctx, out.value)

    @classmethod
    def load_checkpoint_buffer(cls, data, *, ctx=None):
        """Loads a checkpoint from its bytes (read, not kept), as
        :meth:`save_checkpoint_bytes` gives them. Returns ``(model,
        optimizer)``. Since 1.3."""
        ctx = resolve(ctx)
        data = bytes(data)
        m, o = ctypes.c_void_p(), ctypes.c_void_p()
        _lib.call(_lib.C.graft_checkpoint_load_buffer, ctx.handle, data, len(data),
                  ctypes.byref(m), ctypes.byref(o))
        return cls._wrap(ctx, m.value), Optimizer._wrap(ctx, o.value)

    @classmethod
    def load_checkpoint(cls, path, *, ctx=None):
        """Loads a checkpoint written by :meth:`save_checkpoint`. Returns
        ``(model, optimizer)``; fitting on with the same options continues
        exactly as if training had not stopped."""
        ctx = resolve(ctx)
        m, o = ctypes.c_void_p(), ctypes.c_void_p()
        _lib.call(_lib.C.graft_checkpoint_load, ctx.handle, _lib.encode_path(path),
                  ctypes.byref(m), ctypes.byref(o))
        return cls._wrap(ctx, m.value), Optimizer._wrap(ctx, o.value)

    def clone(self, *, share_weights=False):
        """A second model with the same layers, weights, trainable flags,
        class names, options and schedule, in the same context
        (graft_model_clone()); its predictions are bit for bit this
        model's.

        share_weights: False (default) copies the weights: the clone is a
        model of its own. True makes the clone read this model's weight
        tensors (no copy): it predicts only (fit raises StateError), and
        weights changed on either side show in both. Either may be closed
        first. A clone is one way to give each thread a model; predict and
        predict_topk may also be called on one model from many threads
        (see docs/PYTHON.md, "Objects, lifetime and threads")."""
        self._check_idle("clone")
        out = ctypes.c_void_p()
        flags = _api.GRAFT_CLONE_SHARE_WEIGHTS if share_weights else 0
        _lib.call(_lib.C.graft_model_clone, self.handle, flags, ctypes.byref(out))
        return type(self)._wrap(self._ctx, out.value)

    @classmethod
    def import_onnx(cls, source, *, keep_softmax=False, batch_axis=True, input_name=None,
                    bound=None, seed=0, input_shape=None, preprocess=None, ctx=None):
        """Imports an ONNX model with its weights (graft_onnx_import()).

        source: the file's path (str or os.PathLike), or its contents (bytes,
            bytearray or memoryview; read, not kept).

        Each ONNX node becomes a layer named after the node (see graft.h),
        so the layers can be frozen, cut and replaced by name. The graph
        needs one float input of fixed shape (NCHW for images; sizes the
        file leaves open are given with input_shape) and one output.

        Args:
            keep_softmax: False (default) drops a Softmax that produces the
                graph output, so the model outputs logits as fit() and
                predict() expect; True keeps it as a softmax layer.
            batch_axis: True (default): the graph input's first axis is the
                batch; False: the graph takes one sample (graft adds the
                batch axis).
            input_name: the graph input that becomes the model input; None
                (default): the only input with no initializer and no bound
                value.
            bound: None, or a dict mapping the names of other graph inputs
                to constant values in the ONNX shape of each input (read,
                not kept).
            seed: the model's seed (initialisation of layers added later).
            input_shape: None (default), or the graph input's full ONNX
                shape, batch axis included when batch_axis is True, e.g.
                (1, 3, 48, 192): fixes the sizes the file leaves open
                (symbolic or unset height, width, sequence length...), and
                every shape the graph computes from them. Sizes the file
                fixes must be given unchanged, and the rank must match
                (InvalidArgumentError naming the axis). The batch entry may
                be None, 0 or -1 (left symbolic); the model takes any batch
                size either way. Without it, a file with open sizes raises
                UnsupportedError naming every open axis. Since 1.2.
            preprocess: None (default): the model's :attr:`preprocess` is
                the one graft wrote into the file's metadata_props, if any;
                or a dict as :attr:`preprocess` takes, which the model gets
                instead. Since 1.3.

        Raises GraftIOError, FormatError (a malformed file: where and what),
        UnsupportedError (an operator, attribute or shape graft cannot
        compute, naming the node), NotFoundError (input_name), VersionError
        (an opset above 18), ShapeError.
        """
        ctx = resolve(ctx)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            fn, args = _lib.C.graft_onnx_import_buffer, (data, len(data))
        else:
            fn, args = _lib.C.graft_onnx_import, (_lib.encode_path(source),)
        return cls._import_onnx(ctx, fn, args, keep_softmax, batch_axis, input_name, bound,
                                seed, input_shape, preprocess)

    @classmethod
    def _import_onnx(cls, ctx, fn, source_args, keep_softmax, batch_axis, input_name, bound,
                     seed, input_shape=None, preprocess=None):
        opts = _lib.new_struct(_lib.OnnxImportOpts, keep_softmax=1 if keep_softmax else 0,
                               batch_axis=1 if batch_axis else 0, seed=int(seed))
        pre = None
        if preprocess is not None:
            pre = _preprocess_struct(preprocess)
            opts.preprocess = ctypes.pointer(pre)
        if input_name is not None:
            opts.input_name = _lib.encode(input_name, "input_name")
        shape = None
        if input_shape is not None:
            if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__"):
                raise TypeError("input_shape is a sequence of sizes, such as (1, 3, 48, 192), "
                                "not %r" % (input_shape,))
            sizes = []
            for k, v in enumerate(input_shape):
                try:
                    sizes.append(-1 if v is None else operator.index(v))
                except TypeError:
                    raise TypeError("input_shape[%d] is %r; sizes are whole numbers (None "
                                    "for a symbolic batch)" % (k, v)) from None
            shape = _lib.int64_array(sizes, "input_shape")
            opts.input_ndim = _lib.check_int(len(sizes), "len(input_shape)", "c_int")
            opts.input_shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64))
        bound = dict(bound or {})
        names, keep = _lib.string_array(list(bound), "bound names")
        values = (ctypes.c_void_p * max(len(bound), 1))()
        out = ctypes.c_void_p()
        with contextlib.ExitStack() as stack:
            # The arrays and the tensor views over them live until the call
            # returns; graft copies what it needs.
            bufs = [_arrays.float_input(v, "bound values") for v in bound.values()]
            for k, buf in enumerate(bufs):
                values[k] = stack.enter_context(borrowed_view(ctx, buf))
            if bound:
                opts.n_bound = len(bound)
                opts.bound_names = names
                opts.bound_values = values
            _lib.call(fn, ctx.handle, *source_args, ctypes.byref(opts), ctypes.byref(out))
        del keep, bufs, shape, pre
        return cls._wrap(ctx, out.value)

    @staticmethod
    def _export_opts(opset, fold_batch_norm, input_name, output_name):
        opts = _lib.new_struct(_lib.OnnxExportOpts, opset=int(opset),
                               fold_batch_norm=1 if fold_batch_norm else 0)
        if input_name is not None:
            opts.input_name = _lib.encode(input_name, "input_name")
        if output_name is not None:
            opts.output_name = _lib.encode(output_name, "output_name")
        return opts

    def export_onnx(self, path, *, opset=13, fold_batch_norm=False, input_name=None,
                    output_name=None):
        """Writes the model as an ONNX file (graft_onnx_export(); atomically)
        whose graph computes what :meth:`forward` computes, with a symbolic
        batch size "N". Layer names become node names, so
        :meth:`import_onnx` gives the layers back under their names.

        Args:
            opset: 13 (default) to 17.
            fold_batch_norm: True folds a batch norm that reads a conv read
                by nothing else into the conv's weight and bias (the same
                results at inference); False (default) exports
                BatchNormalization.
            input_name, output_name: the graph's input and output names
                (default "input" and "output").
        """
        self._check_idle("export_onnx")
        opts = self._export_opts(opset, fold_batch_norm, input_name, output_name)
        _lib.call(_lib.C.graft_onnx_export, self.handle, _lib.encode_path(path),
                  ctypes.byref(opts))

    def export_onnx_bytes(self, *, opset=13, fold_batch_norm=False, input_name=None,
                          output_name=None):
        """The ONNX file :meth:`export_onnx` writes, as bytes
        (graft_onnx_export_buffer())."""
        self._check_idle("export_onnx_bytes")
        opts = self._export_opts(opset, fold_batch_norm, input_name, output_name)
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        _lib.call(_lib.C.graft_onnx_export_buffer, self.handle, ctypes.byref(opts),
                  ctypes.byref(data), ctypes.byref(size))
        try:
            return ctypes.string_at(data.value, size.value)
        finally:
            _lib.C.graft_onnx_buffer_free(self._ctx.handle, data.value)

    def save(self, path):
        """Saves the model (atomically: the file at path is either the old
        or the complete new one)."""
        _lib.call(_lib.C.graft_model_save, self.handle, _lib.encode_path(path))

    def save_checkpoint(self, path, optimizer):
        """Saves the model and the optimizer's full state (atomically)."""
        _lib.call(_lib.C.graft_checkpoint_save, self.handle, optimizer.handle,
                  _lib.encode_path(path))

    def _bytes_of(self, fn, *args):
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        _lib.call(fn, self.handle, *args, ctypes.byref(data), ctypes.byref(size))
        try:
            return ctypes.string_at(data.value, size.value)
        finally:
            _lib.C.graft_buffer_free(self._ctx.handle, data.value)

    def save_bytes(self):
        """The bytes :meth:`save` writes (graft_model_save_buffer());
        :meth:`load_buffer` reads them back. Since 1.3."""
        return self._bytes_of(_lib.C.graft_model_save_buffer)

    def save_checkpoint_bytes(self, optimizer):
        """The bytes :meth:`save_checkpoint` writes
        (graft_checkpoint_save_buffer()); :meth:`load_checkpoint_buffer`
        reads them back. Since 1.3."""
        if not isinstance(optimizer, Optimizer):
            raise TypeError("optimizer must be a graft.Optimizer")
        return self._bytes_of(_lib.C.graft_checkpoint_save_buffer, optimizer.handle)

    # -- input preprocessing (since 1.3) --

    @property
    def preprocess(self):
        """How images become the model's input (graft_preprocess), saved
        with the model: a dict with the keys channels, width, height,
        resize ("shorter_crop" or "stretch"), shorter_side, normalize
        ("scale", "imagenet" or "mean_std"), scale, mean and std (the
        keyword arguments of :meth:`Dataset.from_folder`, so
        ``Dataset.from_folder(root, **model.preprocess)`` reads images as
        the model expects); None when the model has none.

        Set it to such a dict (missing keys take graft's defaults; the
        input must be (channels, height, width)) or to None to remove it.
        ``graft train`` records the one it trained with. Since 1.3."""
        p = _lib.new_struct(_lib.Preprocess)
        st = _lib.C.graft_model_get_preprocess(self.handle, ctypes.byref(p))
        if st == errors.E_NOT_FOUND:
            return None
        _lib.check(st)
        resize = {v: k for k, v in _RESIZE.items()}
        norm = {v: k for k, v in _NORMALIZE.items()}
        return {"channels": p.channels, "width": p.width, "height": p.height,
                "resize": resize[p.resize], "shorter_side": p.shorter_side,
                "normalize": norm[p.normalize], "scale": p.scale,
                "mean": tuple(p.mean), "std": tuple(p.std)}

    @preprocess.setter
    def preprocess(self, value):
        self._check_idle("preprocess")
        if value is None:
            _lib.call(_lib.C.graft_model_set_preprocess, self.handle, None)
            return
        p = _preprocess_struct(value)
        _lib.call(_lib.C.graft_model_set_preprocess, self.handle, ctypes.byref(p))

    def predict_image(self, source, k=None):
        """Decodes a PNG or JPEG image (a path, or its bytes), prepares it
        with the model's :attr:`preprocess` and predicts
        (graft_model_predict_image()). With k None (default), returns the
        probabilities of every class (shape (classes,)); with k an int, the
        k most probable classes, best first, as ``(indices, probs)``.
        Raises StateError when the model has no preprocessing, and the
        image errors of :meth:`Image.load`. Since 1.3."""
        self._check_idle("predict_image")
        kk = 0 if k is None else int(k)
        classes = self.n_classes
        room = max(1, kk if 1 <= kk <= classes else (classes if kk == 0 else 1))
        idx = _arrays.int32_output((room,))
        probs = _arrays.float_output((room,))
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            _lib.call(_lib.C.graft_model_predict_image_buffer, self.handle, data, len(data), kk,
                      idx.address, probs.address)
        else:
            _lib.call(_lib.C.graft_model_predict_image, self.handle, _lib.encode_path(source),
                      kk, idx.address, probs.address)
        if k is None:
            return probs.result()
        return idx.result(), probs.result()

    # -- bookkeeping --

    def _check_idle(self, what):
        if getattr(self, "_busy", 0):
            raise errors.StateError(errors.E_STATE, "graft.Model.%s: not allowed while the "
                                    "model is being fitted (inside a fit callback)" % what)

    def _index(self, layer):
        """The index of a layer given by name, ModelLayer or int (negative
        counts from the end)."""
        if isinstance(layer, ModelLayer):
            layer = layer.name
        if isinstance(layer, str):
            i = _lib.C.graft_model_find_layer(self.handle, _lib.encode(layer, "name"))
            if i < 0:
                raise errors.NotFoundError(errors.E_NOT_FOUND,
                                           "graft.Model: no layer named \"%s\"" % layer)
            return i
        i = int(layer)
        return i + len(self) if i < 0 else i

    def _shape(self, i):
        ndim = ctypes.c_int()
        dims = (ctypes.c_int64 * _lib.MAX_DIMS)()
        _lib.call(_lib.C.graft_model_layer_output_shape, self.handle, i, ctypes.byref(ndim),
                  dims)
        return tuple(dims[k] for k in range(ndim.value))

    # -- building and inspecting --

    def add(self, layer, name=None, inputs=None):
        """Adds layer under name, reading the previous layer's output (or the
        model input for the first layer), or the layers named in inputs (a
        name, a ModelLayer, or a list of them; "input" is the model input).
        The layer is built for those shapes and becomes the output.

        name: 1 to 63 characters of A-Z a-z 0-9 _ . : / -, unique; default
        the layer's kind, numbered if taken ("dense", "dense_1", ...).
        The model takes the layer over, also when adding fails. Returns the
        new :class:`ModelLayer`.
        """
        self._check_idle("add")
        if not isinstance(layer, Layer):
            raise TypeError("add() takes a graft Layer (see graft.layers), not %s"
                            % type(layer).__name__)
        lh = layer.handle
        if name is None:
            base = _lib.decode(_lib.C.graft_layer_kind(lh))
            name, k = base, 0
            while _lib.C.graft_model_find_layer(self.handle, name.encode()) >= 0:
                k += 1
                name = "%s_%d" % (base, k)
        if inputs is None:
            names = []
        else:
            if isinstance(inputs, (str, ModelLayer)):
                inputs = [inputs]
            names = [i.name if isinstance(i, ModelLayer) else i for i in inputs]
        arr, keep = _lib.string_array(names, "inputs")
        raw_name = _lib.encode(name, "name")
        mh = self.handle
        layer._disown()  # graft_model_add() consumes the layer, success or not
        _lib.call(_lib.C.graft_model_add, mh, raw_name, lh, len(names), arr)
        del keep
        return ModelLayer(self, name)

    def __len__(self):
        return _lib.C.graft_model_layer_count(self.handle)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(self)))]
        if isinstance(key, str):
            self._index(key)
            return ModelLayer(self, key)
        n = len(self)
        i = int(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("layer index %d out of range for %d layers" % (key, n))
        return ModelLayer(self, _lib.decode(_lib.C.graft_model_layer_name(self.handle, i)))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __contains__(self, name):
        if isinstance(name, ModelLayer):
            return name.model is self and name.name in self
        try:
            raw = _lib.encode(name, "name")
        except ValueError:  # a NUL byte: no layer is called that
            return False
        return _lib.C.graft_model_find_layer(self.handle, raw) >= 0

    @property
    def layers(self):
        """The layers, in order, as a list of :class:`ModelLayer`."""
        return list(self)

    @property
    def input_shape(self):
        """The per-sample input shape."""
        return self._shape(-1)

    @property
    def output_shape(self):
        """The per-sample output shape (the input's for an empty model)."""
        return self._shape(len(self) - 1)

    @property
    def n_classes(self):
        """The output's size per sample (the number of classes)."""
        return _lib.C.graft_model_class_count(self.handle)

    @property
    def class_names(self):
        """The class names (a list of str), or None when none are set.
        Assign a list of n_classes names to set them; they are saved with
        the model."""
        h = self.handle
        if _lib.C.graft_model_class_name(h, 0) is None:
            return None
        return [_lib.decode(_lib.C.graft_model_class_name(h, c))
                for c in range(_lib.C.graft_model_class_count(h))]

    @class_names.setter
    def class_names(self, names):
        self._check_idle("class_names")
        names = list(names)
        arr, keep = _lib.string_array(names, "class names")
        _lib.call(_lib.C.graft_model_set_class_names, self.handle, len(names), arr)
        del keep

    @property
    def epochs_done(self):
        """Training epochs completed (kept in files and checkpoints)."""
        return _lib.C.graft_model_epochs_done(self.handle)

    @property
    def param_count(self):
        """Total scalar parameters."""
        return _lib.C.graft_model_param_count(self.handle, 0)

    @property
    def trainable_param_count(self):
        """Scalar parameters of trainable layers."""
        return _lib.C.graft_model_param_count(self.handle, 1)

    @property
    def flops(self):
        """Forward floating-point operations per sample."""
        return _lib.C.graft_model_flops(self.handle)

    def summary(self):
        """A printable table: one row per layer (name, kind, inputs, output
        shape, parameters, trainable), then the totals."""
        needed = ctypes.c_size_t()
        _lib.call(_lib.C.graft_model_summary, self.handle, None, 0, ctypes.byref(needed))
        buf = ctypes.create_string_buffer(needed.value + 1)
        _lib.call(_lib.C.graft_model_summary, self.handle, buf, len(buf), None)
        return buf.value.decode("utf-8", "replace")

    def __repr__(self):
        if self.closed:
            return "<graft.Model closed>"
        return "<graft.Model %d layers, input %s, output %s>" % (
            len(self), self.input_shape, self.output_shape)

    # -- options --

    def _get_option(self, key):
        v = ctypes.c_int64()
        _lib.call(_lib.C.graft_model_get_option, self.handle, key, ctypes.byref(v))
        return v.value

    def _set_option(self, key, value):
        self._check_idle("option")
        _lib.call(_lib.C.graft_model_set_option, self.handle, key, int(value))

    @property
    def frozen_bn_trains(self):
        """False (default): frozen batch norms run in inference mode; True:
        they use batch statistics and update their running statistics."""
        return bool(self._get_option(_OPT_FROZEN_BN_TRAINS))

    @frozen_bn_trains.setter
    def frozen_bn_trains(self, value):
        self._set_option(_OPT_FROZEN_BN_TRAINS, 1 if value else 0)

    @property
    def feature_cache(self):
        """True (default): fit() computes a frozen, deterministic trunk's
        output once per sample and trains the rest on it."""
        return bool(self._get_option(_OPT_FEATURE_CACHE))

    @feature_cache.setter
    def feature_cache(self, value):
        self._set_option(_OPT_FEATURE_CACHE, 1 if value else 0)

    @property
    def feature_cache_mb(self):
        """Memory the feature cache may use, in MiB (default 1024)."""
        return self._get_option(_OPT_FEATURE_CACHE_MB)

    @feature_cache_mb.setter
    def feature_cache_mb(self, value):
        self._set_option(_OPT_FEATURE_CACHE_MB, value)

    @property
    def task(self):
        """What the outputs are (saved with the model; since 1.3):
        "classification" (default: softmax cross-entropy on labels),
        "multi_label" (sigmoid binary cross-entropy on 0/1 targets; predict
        gives per-label probabilities) or "regression" (MSE or L1 on float
        targets; predict gives the outputs)."""
        v = self._get_option(_OPT_TASK)
        return next(k for k, t in _TASKS.items() if t == v)

    @task.setter
    def task(self, value):
        if value not in _TASKS:
            raise ValueError("task must be one of %s, not %r" % (sorted(_TASKS), value))
        self._set_option(_OPT_TASK, _TASKS[value])

    # -- transfer learning --

    def set_trainable(self, first, last=None, trainable=True):
        """Makes layers first..last (inclusive; names, ModelLayers or
        indices, negative from the end; last defaults to first) trainable
        or frozen."""
        self._check_idle("set_trainable")
        a = self._index(first)
        b = a if last is None else self._index(last)
        _lib.call(_lib.C.graft_model_set_trainable, self.handle, a, b, 1 if trainable else 0)

    def freeze(self, first=0, last=-1):
        """Freezes layers first..last (default: all)."""
        self.set_trainable(first, last, False)

    def unfreeze(self, first=0, last=-1):
        """Makes layers first..last (default: all) trainable."""
        self.set_trainable(first, last, True)

    def freeze_through(self, name):
        """Freezes every layer up to and including name; the ones after it
        become trainable."""
        self._check_idle("freeze_through")
        if isinstance(name, ModelLayer):
            name = name.name
        _lib.call(_lib.C.graft_model_freeze_through, self.handle, _lib.encode(name, "name"))

    def freeze_all_but_last(self, n):
        """Freezes all layers but the last n, which become trainable."""
        self._check_idle("freeze_all_but_last")
        _lib.call(_lib.C.graft_model_freeze_all_but_last, self.handle, int(n))

    def set_lr_scale(self, first, last, scale):
        """Multiplies the learning rate of layers first..last by scale
        (finite, >= 0), e.g. 0.1 to fine-tune a trunk gently."""
        self._check_idle("set_lr_scale")
        a = self._index(first)
        b = a if last is None else self._index(last)
        _lib.call(_lib.C.graft_model_set_lr_scale, self.handle, a, b, float(scale))

    def schedule_unfreeze(self, from_layer, epoch, lr_scale=1.0):
        """At the start of epoch (0-based, over the model's whole training),
        fit() makes from_layer and every layer after it trainable, giving
        the ones that were frozen the multiplier lr_scale. Saved with the
        model. epoch must not have passed: on a trained model give
        epochs_done + n (an earlier epoch raises InvalidArgumentError)."""
        self._check_idle("schedule_unfreeze")
        if isinstance(from_layer, ModelLayer):
            from_layer = from_layer.name
        _lib.call(_lib.C.graft_model_schedule_unfreeze, self.handle,
                  _lib.encode(from_layer, "from_layer"), int(epoch), float(lr_scale))

    def clear_unfreeze_schedule(self):
        """Removes every scheduled unfreeze."""
        self._check_idle("clear_unfreeze_schedule")
        _lib.call(_lib.C.graft_model_clear_unfreeze_schedule, self.handle)

    def cut(self, name):
        """Cuts the model after the layer called name, which becomes the
        output; only it and the layers it reads are kept."""
        self._check_idle("cut")
        if isinstance(name, ModelLayer):
            name = name.name
        _lib.call(_lib.C.graft_model_cut, self.handle, _lib.encode(name, "name"))

    def replace_head(self, n_classes, *, hidden_units=0, dropout=0.0, seed=0,
                     class_names=None):
        """Replaces the classifier: removes the dense layer that makes the
        output (and a softmax after it, and before it a dropout and a
        hidden dense + relu, as an earlier call makes: found by structure,
        not names), then appends an optional hidden dense + relu
        ("head/hidden", "head/relu"), an optional dropout ("head/dropout")
        and "head/fc", a dense layer of n_classes outputs, initialised from
        seed. A model without dense layer gets the head appended; other
        outputs are refused (see graft_model_replace_head() in graft.h).
        On any error the model is unchanged. New layers are trainable; the
        others keep their flags.

        class_names: None, or n_classes names (saved with the model).
        """
        self._check_idle("replace_head")
        keep = None
        spec = _lib.new_struct(_lib.HeadSpec, hidden_units=int(hidden_units),
                               dropout=float(dropout), seed=int(seed))
        if class_names is not None:
            names = list(class_names)
            if len(names) != n_classes:
                raise ValueError("class_names has %d names for %d classes"
                                 % (len(names), n_classes))
            arr, keep = _lib.string_array(names, "class names")
            spec.class_names = arr
        _lib.call(_lib.C.graft_model_replace_head, self.handle, int(n_classes),
                  ctypes.byref(spec))
        del keep

    def load_weights(self, path):
        """Loads from the model file at path every parameter and buffer
        whose layer name, layer kind, parameter name and shape all match,
        leaving the others as they are. Returns a :class:`LoadReport`."""
        self._check_idle("load_weights")
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_model_load_weights, self.handle, _lib.encode_path(path),
                  ctypes.byref(out))
        report = out.value
        try:
            entries = []
            for i in range(_lib.C.graft_load_report_count(report, -1)):
                name, status, detail = ctypes.c_char_p(), ctypes.c_int(), ctypes.c_char_p()
                _lib.call(_lib.C.graft_load_report_entry, report, i, ctypes.byref(name),
                          ctypes.byref(status), ctypes.byref(detail))
                try:
                    st = WeightStatus(status.value)
                except ValueError:
                    st = status.value
                entries.append(LoadEntry(_lib.decode(name.value), st,
                                         _lib.decode(detail.value)))
        finally:
            _lib.C.graft_load_report_free(report)
        return LoadReport(entries)

    # -- running --

    def _input(self, x):
        """A Buffer for x with a batch shape the model can take."""
        if isinstance(x, Image):
            buf = x._buffer()
        elif isinstance(x, (list, tuple)) and x and all(isinstance(i, Image) for i in x):
            shape = x[0].shape
            if any(i.shape != shape for i in x):
                raise ValueError("the images of a batch must all have one size")
            out = _arrays.float_output((len(x),) + shape)
            n = shape[0] * shape[1] * shape[2]
            for k, img in enumerate(x):
                ctypes.memmove(out.address + 4 * n * k, img._buffer().address, 4 * n)
            buf = _arrays.Buffer(out.address, out.shape, n * len(x), out, False)
        else:
            buf = _arrays.float_input(x, "x")
        want = self.input_shape
        shape, per = buf.shape, _prod(want)
        if shape == want:  # one sample
            shape = (1,) + want
        elif len(shape) == 1 and buf.count > 0 and buf.count % per == 0:  # flat samples
            shape = (buf.count // per,) + want
        elif len(shape) == 2 and shape[1] == per:  # one flat sample per row
            shape = (shape[0],) + want
        buf.shape = shape
        return buf

    def forward(self, x):
        """Runs the model in inference mode and returns the last layer's
        output (the logits, for a classifier), shape (N, ...)."""
        self._check_idle("forward")
        buf = self._input(x)
        with borrowed_view(self._ctx, buf) as t:
            out = ctypes.c_void_p()
            _lib.call(_lib.C.graft_model_forward, self.handle, t, ctypes.byref(out))
            return values_of(out.value)

    def predict(self, x):
        """Class probabilities (softmax of the outputs), shape (N, classes);
        per-label sigmoid probabilities for a multi-label model, the outputs
        for a regression model (see :attr:`task`)."""
        self._check_idle("predict")
        buf = self._input(x)
        out = _arrays.float_output((buf.shape[0], self.n_classes))
        with borrowed_view(self._ctx, buf) as t:
            with borrowed_view(self._ctx, out) as probs:
                _lib.call(_lib.C.graft_model_predict, self.handle, t, probs)
        return out.result()

    def predict_tta(self, x, views="flip"):
        """Class probabilities averaged over test-time augmentation views of
        each image of the batch x (N, C, H, W), shape (N, classes). views:
        "none" (predict()), "flip" (the image and its mirror; default),
        "crops" (the image and five crops of 7/8 of each side, resized
        back) or "all" (those six and their mirrors); or a combination of
        GRAFT_TTA_FLIP and GRAFT_TTA_CROPS. Since graft 1.3."""
        self._check_idle("predict_tta")
        if isinstance(views, str):
            table = {"none": 0, "flip": _api.GRAFT_TTA_FLIP, "crops": _api.GRAFT_TTA_CROPS,
                     "all": _api.GRAFT_TTA_FLIP | _api.GRAFT_TTA_CROPS}
            if views not in table:
                raise ValueError("views must be one of %s, not %r"
                                 % (", ".join(map(repr, table)), views))
            views = table[views]
        buf = self._input(x)
        out = _arrays.float_output((buf.shape[0], self.n_classes))
        with borrowed_view(self._ctx, buf) as t:
            with borrowed_view(self._ctx, out) as probs:
                _lib.call(_lib.C.graft_model_predict_tta, self.handle, t, int(views), probs)
        return out.result()

    def predict_topk(self, x, k=None):
        """The k most probable classes of each sample, best first: returns
        ``(indices, probs)``, each of shape (N, k). k in [1, classes];
        default min(5, classes)."""
        self._check_idle("predict_topk")
        buf = self._input(x)
        n = buf.shape[0]
        k = min(5, self.n_classes) if k is None else int(k)
        # A k graft refuses gets small buffers: graft checks k before writing.
        room = k if 1 <= k <= self.n_classes else 1
        idx = _arrays.int32_output((n, room))
        probs = _arrays.float_output((n, room))
        with borrowed_view(self._ctx, buf) as t:
            _lib.call(_lib.C.graft_model_predict_topk, self.handle, t, k, idx.address,
                      probs.address)
        return idx.result(), probs.result()

    def predict_dataset(self, dataset, *, batch_size=32, top1=False):
        """Class probabilities of every sample of dataset, shape
        (len(dataset), classes), in one call (graft_model_predict_dataset()):
        batches of batch_size in order, in inference mode; the dataset's
        labels are not used. With top1=True, returns ``(probs, top1)``, top1
        the most probable class of each sample (shape (len(dataset),))."""
        self._check_idle("predict_dataset")
        if not isinstance(dataset, Dataset):
            raise TypeError("dataset must be a graft.Dataset")
        n = len(dataset)
        probs = _arrays.float_output((n, self.n_classes))
        best = _arrays.int32_output((n,)) if top1 else None
        _lib.call(_lib.C.graft_model_predict_dataset, self.handle, dataset.handle,
                  int(batch_size), probs.address, best.address if best is not None else None)
        if top1:
            return probs.result(), best.result()
        return probs.result()

    def reinit(self, seed, *, first=None, last=None, trainable_only=False):
        """Fresh parameters, drawn exactly as a new model built with seed
        and the same layers would get them (graft_model_reinit()): so
        ``reinit(s)`` on a model built with seed s gives back its initial
        weights. Batch norm statistics are reset; scale_shift constants,
        trainable flags, class names and options are kept; epochs done
        become 0 and seed becomes the model's seed.

        first, last (layer indices, inclusive) or trainable_only=True
        re-initialise only those layers (graft_model_reinit_layers()),
        each as the whole call would; epochs and the seed are then kept.
        Optimizers are not touched: make a new one to train from scratch.
        Returns self."""
        self._check_idle("reinit")
        if first is None and last is None and not trainable_only:
            _lib.call(_lib.C.graft_model_reinit, self.handle, int(seed))
            return self
        count = _lib.C.graft_model_layer_count(self.handle)
        first = 0 if first is None else int(first)
        last = count - 1 if last is None else int(last)
        _lib.call(_lib.C.graft_model_reinit_layers, self.handle, first, last,
                  1 if trainable_only else 0, int(seed))
        return self

    def fit(self, train, optimizer, *, val=None, epochs=1, batch_size=32, seed=0,
            shuffle=True, callback=None, monitor="auto", min_delta=0.0, early_stopping=None,
            restore_best=False, save_best=None, reduce_on_plateau=None, class_weights=None,
            label_smoothing=0.0, sample_weights=None, pos_weight=None, regression_loss="mse",
            clip_grad_norm=0.0, mixup_alpha=0.0, cutmix_alpha=0.0):
        """Trains with softmax cross-entropy (or the loss of the model's
        :attr:`task`) on train for epochs more epochs, updating the model
        with optimizer, and evaluates val (a Dataset, optional) after every
        epoch.

        Losses (since 1.3; graft.h "Losses in graft_model_fit()"):
        class_weights: one weight per class (PyTorch's CrossEntropyLoss
        weight=), or "balanced" for count / (classes * count of the class)
        from train's labels. label_smoothing: in [0, 1]. sample_weights: one
        weight per sample of train, by position. pos_weight: multi-label,
        one per label (BCEWithLogitsLoss pos_weight=). regression_loss:
        "mse" or "l1". clip_grad_norm: 0 (off) or the largest total L2 norm
        of the gradients (clip_grad_norm_). mixup_alpha, cutmix_alpha: 0
        (off) or Beta(alpha, alpha) mixing of each batch (seeded; a frozen
        trunk is not cached while mixing).

        Built-in callbacks (graft.h, "Callbacks"), run at every epoch end
        before callback, all watching monitor: "auto" (the validation loss
        with val, else the training loss), "val_loss", "val_accuracy",
        "loss" or "accuracy". An epoch improves when it beats the best by
        more than min_delta.

        early_stopping: None, or the patience n >= 1: stop after n epochs in
            a row without improvement (as Keras' EarlyStopping).
        restore_best: True ends the fit with the model of the best epoch
            (parameters, batch-norm statistics, trainable flags and
            epochs_done; the optimizer goes on from its last step).
        save_best: None, or a path: a checkpoint of the model and the
            optimizer is written there (atomically) at every improvement.
        reduce_on_plateau: None, or a :class:`graft.ReduceLROnPlateau` (or a
            dict of its arguments): torch's ReduceLROnPlateau as a
            multiplier on the optimizer's scheduled rate.

        callback: None, or a callable taking a :class:`Progress`, called
        after every batch and every epoch; returning True stops training
        (early stopping). An exception raised in it stops training too and
        is re-raised when fit returns. While the callback runs the model
        may be saved or inspected, not changed or run.

        Ctrl-C stops the fit at the next batch and raises KeyboardInterrupt.

        Returns the list of end-of-epoch :class:`Progress` records.
        The order of samples depends only on seed and the epoch, so fitting
        2 epochs, saving a checkpoint, loading it and fitting 2 more gives
        the model 4 epochs in one call give.
        """
        self._check_idle("fit")
        if not isinstance(train, Dataset) or (val is not None and not isinstance(val, Dataset)):
            raise TypeError("train and val must be graft.Dataset objects")
        if not isinstance(optimizer, Optimizer):
            raise TypeError("optimizer must be a graft.Optimizer")
        history = []
        raised = []
        interrupted = []

        def on_progress(_user_data, p):
            if interrupted:
                return 1
            try:
                prog = Progress._read(p)
                if prog.event == "epoch":
                    history.append(prog)
                if callback is not None and callback(prog):
                    return 1
                return 0
            except BaseException as e:  # never let an exception cross into C
                raised.append(e)
                return 1

        if monitor not in MONITORS:
            raise ValueError("monitor must be one of %s, not %r"
                             % (", ".join(sorted(MONITORS)), monitor))
        if early_stopping is not None and (isinstance(early_stopping, bool) or
                                           not isinstance(early_stopping, int)):
            raise TypeError("early_stopping must be None or a patience (an int >= 1)")
        if early_stopping is not None and early_stopping < 1:
            raise ValueError("early_stopping is %d, must be None (off) or a patience >= 1"
                             % early_stopping)
        if isinstance(reduce_on_plateau, dict):
            reduce_on_plateau = ReduceLROnPlateau(**reduce_on_plateau)
        if reduce_on_plateau is not None and not isinstance(reduce_on_plateau, ReduceLROnPlateau):
            raise TypeError("reduce_on_plateau must be None, a graft.ReduceLROnPlateau or a dict")
        plateau = reduce_on_plateau or ReduceLROnPlateau(factor=0.0)
        save_path = None if save_best is None else _lib.encode_path(save_best)
        thunk = _lib.PROGRESS_FN(on_progress)
        opts = _lib.new_struct(_lib.FitOpts, epochs=int(epochs), batch_size=int(batch_size),
                               seed=int(seed), shuffle=1 if shuffle else 0, progress=thunk,
                               monitor=MONITORS[monitor], min_delta=float(min_delta),
                               early_stop_patience=(0 if early_stopping is None
                                                    else early_stopping),
                               restore_best=1 if restore_best else 0, save_best=save_path,
                               plateau_factor=plateau.factor, plateau_patience=plateau.patience,
                               plateau_threshold=plateau.threshold,
                               plateau_cooldown=plateau.cooldown, plateau_min_lr=plateau.min_lr)
        keep = self._loss_options(opts, train, class_weights, label_smoothing, sample_weights,
                                  pos_weight, regression_loss, clip_grad_norm, mixup_alpha,
                                  cutmix_alpha)
        busy = [self, optimizer, train] + ([val] if val is not None else [])
        args = (self.handle, optimizer.handle, train.handle,
                val.handle if val is not None else None, ctypes.byref(opts))
        for obj in busy:
            obj._busy += 1
        previous = _catch_sigint(interrupted)
        try:
            status = _lib.C.graft_model_fit(*args)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            for obj in busy:
                obj._busy -= 1
        if interrupted:
            raise KeyboardInterrupt
        if raised:
            if status < 0:
                raise raised[0] from errors.error_for(status, _lib.errmsg())
            raise raised[0]
        _lib.check(status)
        del keep
        return history

    def _loss_options(self, opts, train, class_weights, label_smoothing, sample_weights,
                      pos_weight, regression_loss, clip_grad_norm, mixup_alpha, cutmix_alpha):
        """Fills the 1.3 loss fields of opts; returns the arrays they point
        to, to be kept alive during the fit."""
        n_out = self.n_classes
        if isinstance(class_weights, str):
            if class_weights != "balanced":
                raise ValueError('class_weights must be values or "balanced", not %r'
                                 % class_weights)
            counts = [0] * n_out
            for y in train.labels:
                if 0 <= y < n_out:
                    counts[y] += 1
            total = float(sum(counts))
            class_weights = [total / (n_out * c) if c else 0.0 for c in counts]
        if regression_loss not in _REGRESSION_LOSSES:
            raise ValueError("regression_loss must be one of %s, not %r"
                             % (sorted(_REGRESSION_LOSSES), regression_loss))
        cw = _float_array(class_weights, n_out, "class_weights")
        pw = _float_array(pos_weight, n_out, "pos_weight")
        sw = _float_array(sample_weights, len(train), "sample_weights")
        opts.class_weights = ctypes.cast(cw, ctypes.c_void_p) if cw is not None else None
        opts.n_class_weights = n_out if cw is not None else 0
        opts.pos_weight = ctypes.cast(pw, ctypes.c_void_p) if pw is not None else None
        opts.n_pos_weight = n_out if pw is not None else 0
        opts.sample_weights = ctypes.cast(sw, ctypes.c_void_p) if sw is not None else None
        opts.n_sample_weights = len(train) if sw is not None else 0
        opts.label_smoothing = float(label_smoothing)
        opts.regression_loss = _REGRESSION_LOSSES[regression_loss]
        opts.clip_grad_norm = float(clip_grad_norm)
        opts.mixup_alpha = float(mixup_alpha)
        opts.cutmix_alpha = float(cutmix_alpha)
        return (cw, pw, sw)

    def evaluate_targets(self, dataset, *, batch_size=32, thresholds=None):
        """Evaluates a multi-label or regression model (see :attr:`task`)
        on a dataset of float targets (:meth:`Dataset.from_targets`);
        thresholds: multi-label only, None for 0.5 or one per label.
        Returns a :class:`TargetEvalResult`. Since 1.3."""
        self._check_idle("evaluate_targets")
        thr = _float_array(thresholds, self.n_classes, "thresholds")
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_model_evaluate_targets, self.handle, dataset.handle,
                  int(batch_size), thr, ctypes.byref(out))
        try:
            return TargetEvalResult(out.value, self.task)
        finally:
            _lib.C.graft_eval_free(out.value)

    def evaluate(self, dataset, *, batch_size=32, top_k=1):
        """Evaluates the model in inference mode on every sample of dataset;
        returns an :class:`EvalResult` (loss, accuracy, top-k accuracy,
        confusion matrix, per-class precision and recall)."""
        self._check_idle("evaluate")
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_model_evaluate, self.handle, dataset.handle, int(batch_size),
                  int(top_k), ctypes.byref(out))
        try:
            return EvalResult(out.value, int(top_k), self.class_names)
        finally:
            _lib.C.graft_eval_free(out.value)
