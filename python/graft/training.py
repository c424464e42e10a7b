"""Results of training and evaluation: fit progress and evaluation figures.

These are plain Python objects holding copies of graft's figures; they hold
no handle and stay valid after the call that made them.
"""

import math

from . import _api
from . import _lib

_P_EVENT = _api.GRAFT_PROGRESS_EVENT
_P_EPOCH = _api.GRAFT_PROGRESS_EPOCH
_P_EPOCHS = _api.GRAFT_PROGRESS_EPOCHS
_P_BATCH = _api.GRAFT_PROGRESS_BATCH
_P_BATCHES = _api.GRAFT_PROGRESS_BATCHES
_P_LOSS = _api.GRAFT_PROGRESS_LOSS
_P_ACCURACY = _api.GRAFT_PROGRESS_ACCURACY
_P_LR = _api.GRAFT_PROGRESS_LR
_P_IPS = _api.GRAFT_PROGRESS_IMAGES_PER_SEC
_P_VAL_LOSS = _api.GRAFT_PROGRESS_VAL_LOSS
_P_VAL_ACCURACY = _api.GRAFT_PROGRESS_VAL_ACCURACY
_P_LR_SCALE = _api.GRAFT_PROGRESS_LR_SCALE
_P_BEST_EPOCH = _api.GRAFT_PROGRESS_BEST_EPOCH
_P_BEST = _api.GRAFT_PROGRESS_BEST
_EVENT_BATCH_END = _api.GRAFT_EVENT_BATCH_END
_EVENT_EPOCH_END = _api.GRAFT_EVENT_EPOCH_END

_E_COUNT = _api.GRAFT_EVAL_COUNT
_E_LOSS = _api.GRAFT_EVAL_LOSS
_E_ACCURACY = _api.GRAFT_EVAL_ACCURACY
_E_TOPK = _api.GRAFT_EVAL_TOPK_ACCURACY
_E_F1_MACRO = _api.GRAFT_EVAL_F1_MACRO
_E_AUC_MACRO = _api.GRAFT_EVAL_AUC_MACRO

# Model.fit(monitor=...) -> GRAFT_MONITOR_*
MONITORS = {
    "auto": _api.GRAFT_MONITOR_AUTO,
    "val_loss": _api.GRAFT_MONITOR_VAL_LOSS,
    "val_accuracy": _api.GRAFT_MONITOR_VAL_ACCURACY,
    "loss": _api.GRAFT_MONITOR_LOSS,
    "accuracy": _api.GRAFT_MONITOR_ACCURACY,
}


def _none_if_nan(v):
    return None if math.isnan(v) else v


class Progress:
    """Where a fit is, passed to the ``callback`` of :meth:`graft.Model.fit`
    after every batch and every epoch.

    Attributes:
        event: "batch" (after a batch) or "epoch" (at the end of an epoch).
        epoch: the 1-based epoch, counted over the model's whole training.
        epochs: the epoch this fit runs up to.
        batch, batches: the 1-based batch within the epoch, and the number
            of batches per epoch.
        loss, accuracy: mean training loss and top-1 accuracy over the epoch
            so far.
        lr: the learning rate of the last step.
        images_per_sec: samples per second over the epoch so far.
        val_loss, val_accuracy: at epoch end with a validation set, else None.
        lr_scale: reduce_on_plateau's multiplier of the scheduled rate (1.0
            when off); at an epoch end, the one the next epoch uses.
        best_epoch, best: the epoch (whole training) with the best monitored
            figure in this fit and that value, when one of the built-in
            callbacks (early_stopping, restore_best, save_best,
            reduce_on_plateau) is on, else None.
    """

    __slots__ = ("event", "epoch", "epochs", "batch", "batches", "loss", "accuracy", "lr",
                 "images_per_sec", "val_loss", "val_accuracy", "lr_scale", "best_epoch", "best")

    @classmethod
    def _read(cls, p):
        get = _lib.C.graft_progress_get
        self = cls()
        ev = get(p, _P_EVENT)
        self.event = "epoch" if ev == _EVENT_EPOCH_END else "batch"
        self.epoch = int(get(p, _P_EPOCH))
        self.epochs = int(get(p, _P_EPOCHS))
        self.batch = int(get(p, _P_BATCH))
        self.batches = int(get(p, _P_BATCHES))
        self.loss = get(p, _P_LOSS)
        self.accuracy = get(p, _P_ACCURACY)
        self.lr = get(p, _P_LR)
        self.images_per_sec = get(p, _P_IPS)
        self.val_loss = _none_if_nan(get(p, _P_VAL_LOSS))
        self.val_accuracy = _none_if_nan(get(p, _P_VAL_ACCURACY))
        self.lr_scale = get(p, _P_LR_SCALE)
        best_epoch = _none_if_nan(get(p, _P_BEST_EPOCH))
        self.best_epoch = None if best_epoch is None else int(best_epoch)
        self.best = _none_if_nan(get(p, _P_BEST))
        return self

    def as_dict(self):
        """The attributes as a dict."""
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        text = "<graft.Progress %s end: epoch %d/%d batch %d/%d loss=%.4f acc=%.4f" % (
            self.event, self.epoch, self.epochs, self.batch, self.batches, self.loss,
            self.accuracy)
        if self.val_loss is not None:
            text += " val_loss=%.4f val_acc=%.4f" % (self.val_loss, self.val_accuracy)
        return text + ">"


class EvalResult:
    """The results of :meth:`graft.Model.evaluate`.

    Attributes:
        count: samples evaluated.
        loss: mean softmax cross-entropy.
        accuracy: top-1 accuracy in [0, 1].
        top_k, topk_accuracy: the k asked for and the top-k accuracy.
        n_classes: the number of classes.
        confusion: confusion[t][p] = samples of class t predicted as p
            (a list of lists of ints).
        precision, recall: per class (lists of floats; NaN where undefined:
            no sample predicted as, or none of, that class).
        f1: per class, 2 tp / (2 tp + fp + fn) (NaN for a class that is
            neither true nor predicted for any sample); f1_macro: their mean
            over the classes where defined (sklearn's average="macro").
        auc: per class, the one-vs-rest ROC-AUC of the softmax probability,
            ties counting one half (NaN when every sample or none is of the
            class); auc_macro: for two classes the binary AUC of class 1, else
            the mean over the classes where defined (sklearn's roc_auc_score).
        class_names: the model's class names, or None.
    """

    def __init__(self, handle, top_k, class_names):
        C = _lib.C
        self.count = int(C.graft_eval_get(handle, _E_COUNT))
        self.loss = C.graft_eval_get(handle, _E_LOSS)
        self.accuracy = C.graft_eval_get(handle, _E_ACCURACY)
        self.top_k = top_k
        self.topk_accuracy = C.graft_eval_get(handle, _E_TOPK)
        n = C.graft_eval_class_count(handle)
        self.n_classes = n
        self.confusion = [[C.graft_eval_confusion(handle, t, p) for p in range(n)]
                          for t in range(n)]
        self.precision = [C.graft_eval_precision(handle, c) for c in range(n)]
        self.recall = [C.graft_eval_recall(handle, c) for c in range(n)]
        self.f1 = [C.graft_eval_f1(handle, c) for c in range(n)]
        self.f1_macro = C.graft_eval_get(handle, _E_F1_MACRO)
        self.auc = [C.graft_eval_auc(handle, c) for c in range(n)]
        self.auc_macro = C.graft_eval_get(handle, _E_AUC_MACRO)
        self.class_names = class_names

    def __repr__(self):
        return "<graft.EvalResult count=%d loss=%.4f accuracy=%.4f>" % (
            self.count, self.loss, self.accuracy)


class ReduceLROnPlateau:
    """The reduce_on_plateau option of :meth:`graft.Model.fit`, with the
    semantics and defaults of torch.optim.lr_scheduler.ReduceLROnPlateau
    (threshold_mode "rel"; mode "min" for a loss, "max" for an accuracy):
    after more than ``patience`` epochs without a relative improvement of
    ``threshold``, the rate is multiplied by ``factor``, not below
    ``min_lr``, then ``cooldown`` epochs are not counted. The factor
    multiplies the optimizer's scheduled rate (warm-up, step, cosine keep
    their shape); the optimizer's lr itself is not changed."""

    __slots__ = ("factor", "patience", "threshold", "cooldown", "min_lr")

    def __init__(self, factor=0.1, patience=10, threshold=1e-4, cooldown=0, min_lr=0.0):
        self.factor = float(factor)
        self.patience = int(patience)
        self.threshold = float(threshold)
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)

    def __repr__(self):
        return ("graft.ReduceLROnPlateau(factor=%r, patience=%r, threshold=%r, cooldown=%r, "
                "min_lr=%r)" % (self.factor, self.patience, self.threshold, self.cooldown,
                               self.min_lr))


class TargetEvalResult:
    """The results of :meth:`graft.Model.evaluate_targets` (multi-label and
    regression models). Since 1.3.

    Attributes (None where undefined or not of the model's task):
        task: "multi_label" or "regression".
        count: samples evaluated.
        loss: mean binary cross-entropy (multi-label) or squared error.
        multi-label: subset_accuracy, hamming_loss, micro_precision,
            micro_recall, micro_f1, macro_f1; per label (lists): precision,
            recall, f1, support, thresholds.
        regression: mse, mae, r2 (means over outputs); per output (lists):
            output_mse, output_mae, output_r2.
    """

    def __init__(self, handle, task):
        C = _lib.C

        def get(key):
            return _none_if_nan(C.graft_eval_get(handle, key))

        def per(key):
            n = C.graft_eval_target_count(handle)
            return [_none_if_nan(C.graft_eval_target_get(handle, j, key)) for j in range(n)]

        self.task = task
        self.count = int(C.graft_eval_get(handle, _E_COUNT))
        self.loss = C.graft_eval_get(handle, _E_LOSS)
        self.subset_accuracy = get(_api.GRAFT_EVAL_SUBSET_ACCURACY)
        self.hamming_loss = get(_api.GRAFT_EVAL_HAMMING_LOSS)
        self.micro_precision = get(_api.GRAFT_EVAL_MICRO_PRECISION)
        self.micro_recall = get(_api.GRAFT_EVAL_MICRO_RECALL)
        self.micro_f1 = get(_api.GRAFT_EVAL_MICRO_F1)
        self.macro_f1 = get(_api.GRAFT_EVAL_MACRO_F1)
        self.mse = get(_api.GRAFT_EVAL_MSE)
        self.mae = get(_api.GRAFT_EVAL_MAE)
        self.r2 = get(_api.GRAFT_EVAL_R2)
        multi = task == "multi_label"
        self.precision = per(_api.GRAFT_EVAL_LABEL_PRECISION) if multi else None
        self.recall = per(_api.GRAFT_EVAL_LABEL_RECALL) if multi else None
        self.f1 = per(_api.GRAFT_EVAL_LABEL_F1) if multi else None
        self.support = [int(v) for v in per(_api.GRAFT_EVAL_LABEL_SUPPORT)] if multi else None
        self.thresholds = per(_api.GRAFT_EVAL_LABEL_THRESHOLD) if multi else None
        self.output_mse = None if multi else per(_api.GRAFT_EVAL_MSE)
        self.output_mae = None if multi else per(_api.GRAFT_EVAL_MAE)
        self.output_r2 = None if multi else per(_api.GRAFT_EVAL_R2)

    def __repr__(self):
        if self.task == "multi_label":
            return "<graft.TargetEvalResult multi_label count=%d loss=%.4f micro_f1=%s>" % (
                self.count, self.loss, self.micro_f1)
        return "<graft.TargetEvalResult regression count=%d mse=%.4f r2=%s>" % (
            self.count, self.mse, self.r2)
