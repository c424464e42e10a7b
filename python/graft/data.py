"""Labelled datasets (graft_dataset): from memory, IDX files (MNIST), CSV
files and folders of images."""

import ctypes

from . import _api
from . import _arrays
from . import _lib
from . import image as _image
from .context import Handle, resolve

# The option values by name: GRAFT_CSV_LABEL_LAST is "last", and so on.
_CSV_LABEL = _api.named("GRAFT_CSV_LABEL_")
_RESIZE = _api.named("GRAFT_FOLDER_RESIZE_")
_NORMALIZE = _api.named("GRAFT_FOLDER_NORM_")
_ON_ERROR = _api.named("GRAFT_FOLDER_ON_ERROR_")
_VERIFY = _api.named("GRAFT_FOLDER_VERIFY_")
_GRID_LABEL = _api.named("GRAFT_GRID_LABEL_")


def _choice(table, value, what):
    try:
        return table[value]
    except KeyError:
        raise ValueError("%s must be one of %s, not %r"
                         % (what, ", ".join(map(repr, table)), value)) from None


def _prod(dims):
    n = 1
    for d in dims:
        n *= d
    return n


def _sample_shape(feat, count, sample_shape):
    """The shape of one of count samples in the features feat: sample_shape
    as a tuple, or taken from feat's shape (all but its first axis, or flat
    samples); ValueError when the values do not split into count samples."""
    if sample_shape is None:
        if len(feat.shape) >= 2:
            sample_shape = feat.shape[1:]
        elif count > 0 and feat.count % count == 0:
            sample_shape = (feat.count // count,)
        else:
            raise ValueError("cannot split %d features into %d samples" % (feat.count, count))
    sample_shape = tuple(int(d) for d in (
        (sample_shape,) if isinstance(sample_shape, int) else sample_shape))
    if feat.count != count * _prod(sample_shape):
        raise ValueError("features hold %d values, but %d samples of shape %s need %d"
                         % (feat.count, count, sample_shape, count * _prod(sample_shape)))
    return sample_shape


class Dataset(Handle):
    """A labelled set of samples of one shape.

    A dataset is a sequence: ``len(ds)``, ``ds[i]`` (a ``(features, label)``
    pair, features a numpy array when numpy is present, else nested lists)
    and ``for features, label in ds``. Make one with :meth:`from_memory`;
    :meth:`split` gives a training and a validation part.
    """

    _free_name = "graft_dataset_free"

    def __init__(self, *args, **kwargs):
        raise TypeError("use Dataset.from_memory(), from_callback(), from_grid() or another "
                        "from_*() to make a dataset")

    @classmethod
    def _wrap(cls, ctx, handle, sample_shape, keep):
        self = cls.__new__(cls)
        self._adopt(ctx, handle)
        self._sample_shape = tuple(sample_shape) if sample_shape is not None else None
        self._keep = keep
        return self

    @classmethod
    def from_memory(cls, features, labels, *, n_classes=None, sample_shape=None, copy=True,
                    ctx=None):
        """A dataset of samples held in memory.

        Args:
            features: the samples, shape (count, *sample_shape): a numpy
                array, a buffer (array.array("f"), memoryview) or nested
                lists. A flat buffer is split into count = len(labels)
                samples.
            labels: count class indices in [0, n_classes) (list of ints,
                array.array("i"), numpy integer array).
            n_classes: the number of classes (default: the largest label + 1).
            sample_shape: the per-sample shape, e.g. (1, 28, 28) (default:
                the features' shape without its first dimension, or
                (features per sample,) for flat features).
            copy: True (default): graft copies both arrays. False: graft
                reads them in place (no copy for numpy float32 / int32
                C-contiguous arrays and writable float32 / int32 buffers);
                the dataset (and its splits) keep them alive, and they must
                not change while the dataset is in use.

        Raises:
            RangeError: a label out of range (the message names it).
            NumericError: a NaN or infinite feature.
            ShapeError: a shape graft cannot take.
        """
        ctx = resolve(ctx)
        lab = _arrays.int32_input(labels, "labels")
        if len(lab.shape) != 1:
            raise ValueError("labels must be one-dimensional, not of shape %s" % (lab.shape,))
        count = lab.count
        feat = _arrays.float_input(features, "features")
        sample_shape = _sample_shape(feat, count, sample_shape)
        if n_classes is None:
            if count == 0:
                raise ValueError("n_classes cannot be inferred from no labels")
            n_classes = max((ctypes.c_int32 * count).from_address(lab.address)) + 1
        dims = _lib.int64_array(sample_shape, "sample_shape")
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_from_memory, ctx.handle, count, len(sample_shape),
                  dims, feat.address, lab.address, int(n_classes), 1 if copy else 0,
                  ctypes.byref(out))
        keep = None if copy else (feat, lab)
        return cls._wrap(ctx, out.value, sample_shape, keep)

    @classmethod
    def from_targets(cls, features, targets, *, sample_shape=None, copy=True, ctx=None):
        """A dataset of samples with float targets instead of class labels:
        0/1 values per label for a multi-label model, or the values a
        regression model learns (graft_dataset_from_memory_targets()).

        Args:
            features: as for :meth:`from_memory`.
            targets: shape (count, n_targets) (numpy array, nested lists;
                a flat buffer is one target per sample).
            sample_shape, copy, ctx: as for :meth:`from_memory`.

        Such a dataset has n_classes 0, its labels are -1, and
        :attr:`n_targets` is the targets per sample. Since 1.3.

        Raises:
            NumericError: a NaN or infinite feature or target.
            ShapeError: a shape graft cannot take.
        """
        ctx = resolve(ctx)
        tgt = _arrays.float_input(targets, "targets")
        if len(tgt.shape) == 1:
            count, n_targets = tgt.shape[0], 1
        elif len(tgt.shape) == 2:
            count, n_targets = tgt.shape
        else:
            raise ValueError("targets must be of shape (count, n_targets), not %s"
                             % (tgt.shape,))
        feat = _arrays.float_input(features, "features")
        sample_shape = _sample_shape(feat, count, sample_shape)
        dims = _lib.int64_array(sample_shape, "sample_shape")
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_from_memory_targets, ctx.handle, count,
                  len(sample_shape), dims, feat.address, int(n_targets), tgt.address,
                  1 if copy else 0, ctypes.byref(out))
        keep = None if copy else (feat, tgt)
        return cls._wrap(ctx, out.value, sample_shape, keep)

    @property
    def n_targets(self):
        """Float targets per sample (0 for a dataset of class labels). Since 1.3."""
        return _lib.C.graft_dataset_target_count(self.handle)

    def gather_targets(self, positions):
        """The targets of the samples at positions, shape (n, n_targets).
        Since 1.3."""
        positions = [int(p) for p in positions]
        n = len(positions)
        out = _arrays.float_output((n, max(1, self.n_targets)))
        _lib.call(_lib.C.graft_dataset_gather_targets, self.handle,
                  _lib.int64_array(positions, "positions"), n, out.address)
        return out.result()

    @classmethod
    def from_idx(cls, images_path, labels_path, *, scale=1.0 / 255, n_classes=0, ctx=None):
        """A dataset from a pair of IDX files (MNIST, Fashion-MNIST; plain or
        .gz). Sample i is (1, height, width) with values pixel * scale
        (default 1/255: values in [0, 1]). n_classes 0 (default): the
        largest label + 1."""
        ctx = resolve(ctx)
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_from_idx, ctx.handle, _lib.encode_path(images_path),
                  _lib.encode_path(labels_path), float(scale), int(n_classes),
                  ctypes.byref(out))
        return cls._wrap(ctx, out.value, None, None)

    @classmethod
    def from_csv(cls, path, *, label_column="last", header_rows=0, scale=1.0,
                 sample_shape=None, n_classes=0, delimiter=",", n_targets=0, ctx=None):
        """A dataset from a text file of one sample per line (plain or .gz).

        label_column: "last" (default) or "first".
        header_rows: lines skipped at the top (default 0).
        scale: every feature is multiplied by it (default 1).
        sample_shape: e.g. (1, 8, 8); default (F,), F the features of a row.
        n_classes: 0 (default): the largest label + 1.
        delimiter: ",", ";", "|", ":" or "\\t".
        n_targets: 0 (default): one label field; else that many float
            target fields in its place (multi-label or regression; see
            :meth:`from_targets`). Since 1.3.
        """
        ctx = resolve(ctx)
        opts = _lib.new_struct(_lib.CsvOpts,
                               label_column=_choice(_CSV_LABEL, label_column, "label_column"),
                               header_rows=int(header_rows), scale=float(scale),
                               n_classes=int(n_classes), n_targets=int(n_targets))
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ValueError("delimiter must be one character")
        opts.delimiter = ord(delimiter)
        if sample_shape is not None:
            sample_shape = tuple(int(d) for d in sample_shape)
            if not 1 <= len(sample_shape) <= _lib.MAX_DIMS - 1:
                raise ValueError("sample_shape must have 1 to %d sizes" % (_lib.MAX_DIMS - 1))
            opts.ndim = len(sample_shape)
            opts.dims = sample_shape  # range-checked, the places after it zero
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_from_csv, ctx.handle, _lib.encode_path(path),
                  ctypes.byref(opts), ctypes.byref(out))
        return cls._wrap(ctx, out.value, sample_shape, None)

    @classmethod
    def from_folder(cls, root, *, channels=3, width=224, height=224, resize="shorter_crop",
                    shorter_side=0, normalize="scale", scale=1.0, mean=(0.0, 0.0, 0.0),
                    std=(1.0, 1.0, 1.0), augment=False, crop_scale_min=0.08,
                    crop_scale_max=1.0, crop_ratio_min=0.75, crop_ratio_max=4.0 / 3.0,
                    flip_prob=0.5, brightness=0.0, contrast=0.0, seed=0, threads=2,
                    on_error="fail", verify="header", fill=0.0, ctx=None):
        """A dataset of the images under root/<class name>/<file> (.png,
        .jpg, .jpeg), classes sorted by folder name, as torchvision's
        ImageFolder. Images are decoded when samples are read, into
        (channels, height, width) tensors.

        resize: "shorter_crop" (default: shorter side to shorter_side, 0
            meaning round(max(width, height) * 256 / 224), then the central
            crop), "stretch" or "letterbox" (the whole image, aspect kept,
            padded with fill; since graft 1.3).
        normalize: "scale" (value * scale; default), "imagenet" or
            "mean_std" (with mean and std per channel).
        augment: True for seeded training augmentation: a random resized
            crop (crop_scale_*, crop_ratio_*), a flip with flip_prob,
            brightness and contrast jitter; fit() varies it by epoch.
            Since graft 1.3 also a preset name ("none", "light",
            "standard", "strong": graft.augment_preset() for width x
            height) or a dict of Image.augment() arguments (no seed; a
            crop of 0 x 0 or width x height): those steps instead of the
            crop_* to contrast arguments, which then keep their defaults.
        threads: decoding threads (default 2).
        on_error: "fail" (default) or "skip" unreadable files (listed in
            :attr:`skipped`).
        verify: "header" (default, fast) or "decode" every image now.

        Defaults are graft's (GRAFT_FOLDER_OPTS_INIT).
        """
        ctx = resolve(ctx)
        spec = None
        if isinstance(augment, str):
            augment = _image.augment_preset(augment, width, height)
        if isinstance(augment, dict):
            spec = _image._augment_spec(**augment)
        mean = [float(v) for v in mean]
        std = [float(v) for v in std]
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std take 3 values (the first `channels` are read)")
        opts = _lib.new_struct(
            _lib.FolderOpts, channels=int(channels), width=int(width), height=int(height),
            resize=_choice(_RESIZE, resize, "resize"), shorter_side=int(shorter_side),
            normalize=_choice(_NORMALIZE, normalize, "normalize"), scale=float(scale),
            mean=(ctypes.c_float * 3)(*mean), std=(ctypes.c_float * 3)(*std),
            augment=1 if augment else 0, crop_scale_min=float(crop_scale_min),
            crop_scale_max=float(crop_scale_max), crop_ratio_min=float(crop_ratio_min),
            crop_ratio_max=float(crop_ratio_max), flip_prob=float(flip_prob),
            brightness=float(brightness), contrast=float(contrast), seed=int(seed),
            threads=int(threads), on_error=_choice(_ON_ERROR, on_error, "on_error"),
            verify=_choice(_VERIFY, verify, "verify"), fill=float(fill))
        if spec is not None:
            opts.augment_spec = ctypes.pointer(spec)  # spec lives until the call returns
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_from_folder, ctx.handle, _lib.encode_path(root),
                  ctypes.byref(opts), ctypes.byref(out))
        return cls._wrap(ctx, out.value, (int(channels), int(height), int(width)), None)

    @classmethod
    def from_callback(cls, fn, count, sample_shape, n_classes, *, deterministic=False,
                      ctx=None):
        """A dataset of count samples that fn makes when they are read.

        fn(index) returns ``(features, label)`` for sample index (0 to
        count - 1): features prod(sample_shape) floats (a numpy array, a
        buffer or nested lists, of any shape holding that many values),
        label an int in [0, n_classes). It runs on the thread that reads
        the dataset (``ds[i]``, :meth:`gather`, ``Model.fit()``, ...), one
        sample at a time, and must not use graft objects of the dataset's
        context.

        An exception raised in fn fails the read that called it and is
        raised from it, with the graft error (naming the sample) as its
        cause; it never crosses into C. A label out of range is a
        RangeError naming the sample. Features are not known to be finite,
        so fit and evaluate check each batch (NumericError naming the
        sample).

        deterministic: True when fn gives the same values for an index
            every time (no augmentation), which lets fit cache features of
            a frozen trunk; False (default) otherwise.
        """
        ctx = resolve(ctx)
        if not callable(fn):
            raise TypeError("fn must be callable")
        sample_shape = tuple(int(d) for d in (
            (sample_shape,) if isinstance(sample_shape, int) else sample_shape))
        per = _prod(sample_shape)

        def trampoline(_user_data, index, features, label):
            try:
                values, lab = fn(index)
                buf = _arrays.float_input(values, "features of sample %d" % index)
                if buf.count != per:
                    raise ValueError("fn(%d) gave %d features; samples of shape %s hold %d"
                                     % (index, buf.count, sample_shape, per))
                lab = int(lab)
                if not -(1 << 31) <= lab < (1 << 31):
                    raise OverflowError("fn(%d) gave the label %d, out of int32's range"
                                        % (index, lab))
                ctypes.memmove(features, buf.address, 4 * per)
                ctypes.c_int32.from_address(label).value = lab
                return 0
            except BaseException as e:  # never let an exception cross into C
                _lib.note_callback_exception(e)
                return _api.GRAFT_E_CANCELLED

        thunk = _lib.SAMPLE_FN(trampoline)
        dims = _lib.int64_array(sample_shape, "sample_shape")
        flags = _api.GRAFT_CALLBACK_DETERMINISTIC if deterministic else 0
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_from_callback, ctx.handle, int(count),
                  len(sample_shape), dims, int(n_classes), flags, thunk, None,
                  ctypes.byref(out))
        return cls._wrap(ctx, out.value, sample_shape, (thunk, fn))

    @classmethod
    def from_grid(cls, path, cell_width, cell_height, *, labels="row", margin=0, spacing=0,
                  rows=0, columns=0, count=0, n_classes=0, channels=0, normalize="scale",
                  scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), ctx=None):
        """A dataset cut from one image (a sprite sheet) of equal cells.

        Cell (r, c) is the cell_width x cell_height rectangle at
        (margin + c * (cell_width + spacing), margin + r * (cell_height +
        spacing)); sample k is cell (k // columns, k % columns), the tensor
        (channels, cell_height, cell_width).

        labels: "row" (default: each row of cells is a class), "column",
            or a sequence of one label per sample.
        rows, columns: 0 (default): as many whole cells as fit.
        count: 0 (default): every cell; else the first count cells.
        n_classes: 0 (default): the largest label + 1.
        channels: 0 (default) keeps the file's; 1 or 3 convert.
        normalize: "scale" (value * scale; default), "imagenet" or
            "mean_std" (with mean and std per channel), as from_folder().
        """
        ctx = resolve(ctx)
        mean = [float(v) for v in mean]
        std = [float(v) for v in std]
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std take 3 values (the first `channels` are read)")
        opts = _lib.new_struct(
            _lib.GridOpts, cell_width=int(cell_width), cell_height=int(cell_height),
            margin=int(margin), spacing=int(spacing), rows=int(rows), columns=int(columns),
            count=int(count), n_classes=int(n_classes), channels=int(channels),
            normalize=_choice(_NORMALIZE, normalize, "normalize"), scale=float(scale),
            mean=(ctypes.c_float * 3)(*mean), std=(ctypes.c_float * 3)(*std))
        lab = None
        if isinstance(labels, str):
            opts.label_by = _choice({k: v for k, v in _GRID_LABEL.items() if k != "array"},
                                    labels, "labels")
        else:
            lab = _arrays.int32_input(labels, "labels")
            opts.label_by = _api.GRAFT_GRID_LABEL_ARRAY
            opts.labels = lab.address
            if int(count) == 0:
                opts.count = lab.count
            elif lab.count < int(count):
                raise ValueError("labels holds %d values for count %d samples"
                                 % (lab.count, int(count)))
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_from_grid, ctx.handle, _lib.encode_path(path),
                  ctypes.byref(opts), ctypes.byref(out))
        return cls._wrap(ctx, out.value, None, None)

    def __len__(self):
        return _lib.C.graft_dataset_size(self.handle)

    @property
    def class_names(self):
        """The class names of a folder dataset (its sub-folders), else None."""
        h = self.handle
        if _lib.C.graft_dataset_class_name(h, 0) is None:
            return None
        return [_lib.decode(_lib.C.graft_dataset_class_name(h, c))
                for c in range(_lib.C.graft_dataset_class_count(h))]

    def sample_path(self, i):
        """The file of sample i of a folder dataset, else None."""
        return _lib.decode(_lib.C.graft_dataset_sample_path(self.handle, int(i)))

    @property
    def skipped(self):
        """(path, reason) of each file a folder dataset left out
        (on_error="skip")."""
        h = self.handle
        return [(_lib.decode(_lib.C.graft_dataset_skipped_path(h, i)),
                 _lib.decode(_lib.C.graft_dataset_skipped_reason(h, i)))
                for i in range(_lib.C.graft_dataset_skipped_count(h))]

    @property
    def deterministic(self):
        """True when reading a sample always gives the same values (no
        augmentation)."""
        return _lib.C.graft_dataset_is_deterministic(self.handle) == 1

    def set_epoch(self, epoch):
        """Sets the epoch augmentation draws for (fit() does this itself)."""
        _lib.call(_lib.C.graft_dataset_set_epoch, self.handle, int(epoch))

    def gather(self, positions):
        """Reads the samples at positions (folder datasets decode them in
        parallel): returns (features of shape (n, *sample_shape), labels)."""
        positions = [int(p) for p in positions]
        n = len(positions)
        out = _arrays.float_output((n,) + tuple(self.sample_shape))
        labels = _arrays.int32_output((n,))
        _lib.call(_lib.C.graft_dataset_gather, self.handle,
                  _lib.int64_array(positions, "positions"), n, out.address, labels.address)
        return out.result(), labels.result()

    @property
    def n_classes(self):
        """The number of classes."""
        return _lib.C.graft_dataset_class_count(self.handle)

    @property
    def sample_shape(self):
        """The per-sample shape (without the batch dimension)."""
        if self._sample_shape is None:
            ndim = ctypes.c_int()
            dims = (ctypes.c_int64 * _lib.MAX_DIMS)()
            _lib.call(_lib.C.graft_dataset_sample_shape, self.handle, ctypes.byref(ndim), dims)
            self._sample_shape = tuple(dims[k] for k in range(ndim.value))
        return self._sample_shape

    def _get(self, i, want_features):
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("dataset index %d out of range for %d samples" % (i, n))
        label = ctypes.c_int32()
        if not want_features:
            _lib.call(_lib.C.graft_dataset_get, self.handle, i, None, ctypes.byref(label))
            return None, label.value
        out = _arrays.float_output(self.sample_shape)
        _lib.call(_lib.C.graft_dataset_get, self.handle, i, out.address, ctypes.byref(label))
        return out.result(), label.value

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._get(k, True) for k in range(*i.indices(len(self)))]
        return self._get(int(i), True)

    def __iter__(self):
        for i in range(len(self)):
            yield self._get(i, True)

    @property
    def labels(self):
        """Every sample's label, as a list."""
        return [self._get(i, False)[1] for i in range(len(self))]

    def split(self, val_fraction=0.2, *, seed=0):
        """Splits into (train, val): round(val_fraction * len) samples drawn
        by a permutation from seed go to val, the rest to train, each in the
        original order. The same data, fraction and seed always give the
        same split. Both parts may outlive this dataset."""
        t, v = ctypes.c_void_p(), ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_split, self.handle, float(val_fraction), int(seed),
                  ctypes.byref(t), ctypes.byref(v))
        train = Dataset._wrap(self._ctx, t.value, self._sample_shape, self._keep)
        val = Dataset._wrap(self._ctx, v.value, self._sample_shape, self._keep)
        return train, val

    def split_stratified(self, val_fraction=0.2, *, seed=0):
        """Splits into (train, val) class by class: round(val_fraction *
        len) samples go to val, each class giving about val_fraction of its
        samples and never its last one (graft_dataset_split_stratified()).
        The same labels, fraction and seed always give the same split. Both
        parts may outlive this dataset."""
        t, v = ctypes.c_void_p(), ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_split_stratified, self.handle, float(val_fraction),
                  int(seed), ctypes.byref(t), ctypes.byref(v))
        train = Dataset._wrap(self._ctx, t.value, self._sample_shape, self._keep)
        val = Dataset._wrap(self._ctx, v.value, self._sample_shape, self._keep)
        return train, val

    def subset_per_class(self, k, *, seed=0):
        """At most k samples of each class, drawn by seed, in the original
        order (graft_dataset_subset_per_class()); a class with k or fewer
        samples gives all of them. The subset may outlive this dataset."""
        out = ctypes.c_void_p()
        _lib.call(_lib.C.graft_dataset_subset_per_class, self.handle, int(k), int(seed),
                  ctypes.byref(out))
        return Dataset._wrap(self._ctx, out.value, self._sample_shape, self._keep)

    def __repr__(self):
        if self.closed:
            return "<graft.Dataset closed>"
        return "<graft.Dataset %d samples of shape %s, %d classes>" % (
            len(self), self.sample_shape, self.n_classes)
