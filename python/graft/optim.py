"""Optimizers and learning-rate schedules (graft_optim)."""

import ctypes

from . import _api
from . import _lib
from . import errors
from .context import Handle, resolve

# Optimizer kinds by name: GRAFT_OPTIM_SGD is "sgd", and so on.
KINDS = _api.named("GRAFT_OPTIM_")

# Hyperparameter names and their GRAFT_OPT_* keys: GRAFT_OPT_LR is "lr".
KEYS = _api.named("GRAFT_OPT_")

# Schedules by name: GRAFT_SCHEDULE_COSINE is "cosine".
SCHEDULES = _api.named("GRAFT_SCHEDULE_")
_SCHEDULE_NAMES = {v: k for k, v in SCHEDULES.items()}


def _key(name):
    try:
        return KEYS[name]
    except KeyError:
        raise KeyError("unknown hyperparameter %r; known: %s"
                       % (name, ", ".join(sorted(KEYS)))) from None


def _kind(kind):
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError("unknown optimizer kind %r; known: %s"
                         % (kind, ", ".join(KINDS))) from None


class Optimizer(Handle):
    """An optimizer with its hyperparameters, learning-rate schedule, step
    count and per-parameter state. Use one optimizer with one model.

    Make one with :meth:`sgd`, :meth:`adam` or :meth:`adamw`, whose keyword
    arguments default to graft's defaults, or ``Optimizer(kind, **values)``.
    Hyperparameters can be read and changed later by name:
    ``opt["lr"] = 0.001``, ``opt.lr``, :meth:`get`, :meth:`set`.

    Schedules (keyword ``schedule``): "constant" (default); "step": the rate
    is multiplied by ``gamma`` every ``step_epochs`` epochs; "cosine": from
    the base rate down to ``min_lr`` over ``cosine_epochs`` epochs (which
    must be set). ``warmup_epochs`` adds a linear warm-up from 0.
    """

    _free_name = "graft_optim_free"

    def __init__(self, kind="adam", *, ctx=None, **hyperparameters):
        ctx = resolve(ctx)
        code = _kind(kind)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_optim_create, ctx.handle, code, ctypes.byref(out))
        self._adopt(ctx, out.value)
        self._kind = kind
        try:
            for name, value in hyperparameters.items():
                self.set(name, value)
        except BaseException:
            self.close()
            raise

    @classmethod
    def _wrap(cls, ctx, handle):
        self = cls.__new__(cls)
        self._adopt(ctx, handle)
        self._kind = None
        return self

    @classmethod
    def sgd(cls, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, *,
            schedule="constant", step_epochs=10, gamma=0.1, cosine_epochs=0, min_lr=0.0,
            warmup_epochs=0.0, ctx=None):
        """SGD with optional momentum in [0, 1), Nesterov momentum and L2
        weight decay in [0, 1]. lr in (0, 10]."""
        return cls("sgd", ctx=ctx, lr=lr, momentum=momentum, nesterov=nesterov,
                   weight_decay=weight_decay, schedule=schedule, step_epochs=step_epochs,
                   gamma=gamma, cosine_epochs=cosine_epochs, min_lr=min_lr,
                   warmup_epochs=warmup_epochs)

    @classmethod
    def adam(cls, lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0, *,
             schedule="constant", step_epochs=10, gamma=0.1, cosine_epochs=0, min_lr=0.0,
             warmup_epochs=0.0, ctx=None):
        """Adam (Kingma and Ba); weight decay is added to the gradient."""
        return cls("adam", ctx=ctx, lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon,
                   weight_decay=weight_decay, schedule=schedule, step_epochs=step_epochs,
                   gamma=gamma, cosine_epochs=cosine_epochs, min_lr=min_lr,
                   warmup_epochs=warmup_epochs)

    @classmethod
    def adamw(cls, lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01, *,
              schedule="constant", step_epochs=10, gamma=0.1, cosine_epochs=0, min_lr=0.0,
              warmup_epochs=0.0, ctx=None):
        """Adam with decoupled weight decay (Loshchilov and Hutter)."""
        return cls("adamw", ctx=ctx, lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon,
                   weight_decay=weight_decay, schedule=schedule, step_epochs=step_epochs,
                   gamma=gamma, cosine_epochs=cosine_epochs, min_lr=min_lr,
                   warmup_epochs=warmup_epochs)

    @property
    def kind(self):
        """"sgd", "adam" or "adamw"; for an optimizer loaded from a
        checkpoint, "sgd" or None (graft does not report Adam vs AdamW)."""
        if self._kind is None:
            return "sgd" if "momentum" in self.hyperparameters() else None
        return self._kind

    def set(self, name, value):
        """Sets a hyperparameter by name ("lr", "momentum", ...; "schedule"
        takes "constant", "step" or "cosine"). Raises NotFoundError for a
        name this kind does not use, RangeError outside its bounds."""
        key = _key(name)
        if name == "schedule" and isinstance(value, str):
            try:
                value = SCHEDULES[value]
            except KeyError:
                raise ValueError("unknown schedule %r; known: %s"
                                 % (value, ", ".join(SCHEDULES))) from None
        if isinstance(value, bool):
            value = int(value)
        _lib.call(_lib.C.graft_optim_set, self.handle, key, float(value))

    def get(self, name):
        """A hyperparameter's value (float; bool for "nesterov", a name for
        "schedule")."""
        v = ctypes.c_double()
        _lib.call(_lib.C.graft_optim_get, self.handle, _key(name), ctypes.byref(v))
        if name == "schedule":
            return _SCHEDULE_NAMES.get(int(v.value), int(v.value))
        if name == "nesterov":
            return bool(v.value)
        return v.value

    __getitem__ = get
    __setitem__ = set

    @property
    def lr(self):
        """The base learning rate."""
        return self.get("lr")

    @lr.setter
    def lr(self, value):
        self.set("lr", value)

    def hyperparameters(self):
        """A dict of every hyperparameter this kind uses and its value."""
        found = {}
        for name in KEYS:
            try:
                found[name] = self.get(name)
            except errors.NotFoundError:
                pass
        return found

    def lr_at(self, epoch):
        """The learning rate the schedule gives at a point of training in
        epochs (2.5: half-way through the third epoch); NaN when undefined."""
        return _lib.C.graft_optim_lr_at(self.handle, float(epoch))

    @property
    def steps(self):
        """Number of updates made so far."""
        return _lib.C.graft_optim_steps(self.handle)

    @staticmethod
    def bounds(kind, name):
        """The closed range (lo, hi) of a hyperparameter for a kind (before
        the exclusions graft.h states, e.g. lr's lower bound 0 itself)."""
        lo, hi = ctypes.c_double(), ctypes.c_double()
        _lib.call(_lib.C.graft_optim_bounds, _kind(kind), _key(name), ctypes.byref(lo),
                  ctypes.byref(hi))
        return lo.value, hi.value

    def __repr__(self):
        if self.closed:
            return "<graft.Optimizer closed>"
        return "<graft.Optimizer %s lr=%g steps=%d>" % (self.kind, self.lr, self.steps)
