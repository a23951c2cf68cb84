"""The interface every classifier backend implements."""

import abc
import os

import numpy as np

from .._parameters import as_batch_size
from ..exceptions import BackendError, InputError, ModelError
from ..tasks import get_task

__all__ = ["Backend", "PreparedImages", "as_image_list", "image_groups"]


class Backend(abc.ABC):
    """Base class of classifier backends (``vision``, ``llava``, ``openai``...).

    A backend turns rendered cutouts (uint8 RGB images) into a
    `~radioassist.backends.Predictions` for a `~radioassist.tasks.Task`.
    Subclasses set :attr:`name` (through `~radioassist.backends.register_backend`)
    and :attr:`description`, list their extra options with defaults in
    :attr:`option_defaults`, and implement :meth:`predict`.  Heavy libraries
    (torch, transformers) are imported inside methods, never at module level.

    The contract every backend keeps (checked by
    `radioassist.backends.testing.BaseTestBackend`), with the signatures of
    this class exactly (an override that needs no task still takes one):

    * :meth:`predict` ``(images, task)``: a `~radioassist.backends.Predictions`;
    * :meth:`prepare` ``(images, task)``: the per-image work of :meth:`predict`
      that need not wait for the model (decoding, resizing, normalising), whose
      result :meth:`predict` takes instead of the images; the default returns the
      images as `as_image_list` makes them (grey replicated to RGB).
      `radioassist.classify` calls it in the thread that cuts and renders, while
      another thread runs :meth:`predict` on the previous batch;
    * :meth:`describe` ``(task=None)``: JSON-serialisable provenance (backend,
      model and its hash where known, device, dtype...), of the model used for
      ``task`` when one is given;
    * :meth:`input_spec` ``(task)``: what the model expects of its input
      (``render_preset``, ``pixel_scale_arcsec``, ``cutout_size_pix``...), ``{}``
      when it does not know;
    * :meth:`to_spec` ``()``: the settings that rebuild an equivalent backend in
      another process with `~radioassist.backends.backend_from_spec` (how
      `radioassist.classify` sends a backend to dask workers).  The default
      implementation returns the constructor arguments, which is right for any
      backend whose ``__init__`` takes ``model``, ``device``, ``dtype``,
      ``batch_size`` and the options of :attr:`option_defaults`.

    Parameters
    ----------
    model : str or path-like, optional
        Model to use: a local folder or a hub id; ``None`` for the backend's
        default.
    device : str, optional
        Torch device (``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'``).
    dtype : str, optional
        Compute dtype (``'float32'``, ``'bfloat16'``, ``'float16'``); the
        backend's choice when ``None``.
    batch_size : int, optional
        Images per forward pass.
    **options
        Backend-specific options (see :attr:`option_defaults` of the subclass).
    """

    #: Registry name, set by ``register_backend``.
    name = None
    #: One line shown by ``radioassist backends``.
    description = ""
    #: Extra keyword options the backend accepts, with their defaults.
    option_defaults = {}

    def __init__(self, *, model=None, device="cpu", dtype=None, batch_size=64, **options):
        batch_size = as_batch_size(batch_size)
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            known = ", ".join(sorted(self.option_defaults)) or "none"
            msg = (
                f"unknown option(s) {', '.join(unknown)} for backend {self.name!r}; "
                f"options it accepts besides model/device/dtype/batch_size: {known}"
            )
            raise BackendError(msg)
        self.model = model
        self.device = str(device)
        self.dtype = None if dtype is None else str(dtype).replace("torch.", "")
        self.batch_size = int(batch_size)
        self.options = {**self.option_defaults, **options}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} model={self.model!r} device={self.device!r}>"

    @abc.abstractmethod
    def predict(self, images, task):
        """Classify images for a task.

        Parameters
        ----------
        images : `numpy.ndarray` or list of `numpy.ndarray`
            uint8 RGB images, shape ``(N, H, W, 3)``, or a list of ``(H, W, 3)``
            arrays that may differ in size (as made by `radioassist.render.render`).
        task : `~radioassist.tasks.Task` or str
            The question to answer.

        Returns
        -------
        `~radioassist.backends.Predictions`
        """

    def prepare(self, images, task):
        """Turn rendered images into what :meth:`predict` takes, ahead of the model.

        `radioassist.classify` renders each batch as grey ``(N, H, W)`` uint8
        images and calls this in the thread that cuts and renders, while
        another thread runs :meth:`predict` on the previous batch: work done here
        (decoding, resizing, normalising) overlaps the model's.  The default
        returns ``as_image_list(images)`` (RGB, grey replicated), which every
        :meth:`predict` takes.  A backend that overrides it returns a
        `PreparedImages` (or anything its :meth:`predict` accepts besides
        images), and ``predict(prepare(images, task), task)`` must equal
        ``predict(images, task)``.

        Parameters
        ----------
        images : `numpy.ndarray` or list of `numpy.ndarray`
            uint8 images, as for :meth:`predict` (grey ``(N, H, W)`` allowed).
        task : `~radioassist.tasks.Task` or str

        Returns
        -------
        object
            Input for :meth:`predict`; ``len()`` gives the number of images.
        """
        get_task(task)
        return as_image_list(images)

    def predict_workers(self):
        """How many :meth:`predict` calls `radioassist.classify` may run at once, each in a thread of its own.

        1 (the default): one call at a time, in one helper thread, while the
        next batch is cut.  A backend whose :meth:`predict` is thread-safe and
        keeps a CPU core busy per call returns the number of cores it may
        use; each call then runs on one thread
        (`radioassist._threads.one_thread_call`): calls side by side keep the
        cores busier than one call split over all of them while another thread
        cuts the next batch.

        Returns
        -------
        int
        """
        return 1

    def describe(self, task=None):
        """Provenance of the classifications: backend name, model and its hash, dtype, device...

        Parameters
        ----------
        task : `~radioassist.tasks.Task` or str, optional
            Describe the model used for this task (backends whose model depends
            on the task, such as ``vision`` with its shipped defaults); the
            others ignore it.

        Returns
        -------
        dict
            JSON-serialisable; recorded in the output catalogue's ``meta``.
        """
        return {
            "backend": self.name,
            "model": None if self.model is None else str(self.model),
            "device": self.device,
            "dtype": self.dtype,
        }

    def input_spec(self, task):
        """What the model expects of its input cutouts for ``task``.

        Backends whose model was trained on cutouts of a given field return (some
        of) ``render_preset``, ``pixel_scale_arcsec``, ``cutout_size_pix``,
        ``beam_arcsec``, ``image_size`` and ``min_coverage``, so that a pipeline
        can cut and render to match.

        Parameters
        ----------
        task : `~radioassist.tasks.Task` or str

        Returns
        -------
        dict
            JSON-serialisable; ``{}`` when the backend knows nothing about its input.
        """
        return {}

    def to_spec(self):
        """The settings that rebuild an equivalent backend in another process.

        Returns
        -------
        dict
            ``{'backend': name, 'model': ..., 'device': ..., 'dtype': ...,
            'batch_size': ..., 'options': {...}}`` with JSON-friendly values
            (paths as strings, tuples as lists; few-shot example images stay
            uint8 arrays); `~radioassist.backends.backend_from_spec` turns it
            back into a backend.

        Raises
        ------
        BackendError
            If the class is not the one registered under :attr:`name` (an
            unregistered backend cannot be rebuilt elsewhere), or the backend
            holds a model that exists only in memory.

        Examples
        --------
        >>> from radioassist.backends import backend_from_spec, get_backend
        >>> spec = get_backend('vision', batch_size=16).to_spec()
        >>> spec['backend'], spec['model'], spec['batch_size']
        ('vision', None, 16)
        >>> backend_from_spec(spec).to_spec() == spec
        True
        """
        cls = type(self)
        # set by the registry on the class it builds for a name (not inherited by unregistered subclasses)
        if not self.name or vars(cls).get("_registered_name") != self.name:
            where = (f"registered as {self.name!r}" if self.name else "registered")
            msg = (f"backend {cls.__module__}.{cls.__qualname__} (name {self.name!r}) is not the class "
                   f"{where}, so it cannot be rebuilt from its settings in another process; register it with "
                   "radioassist.backends.register_backend (or the radioassist.backends entry-point group)")
            raise BackendError(msg)
        return {
            "backend": self.name,
            "model": _spec_value(self.model, "model"),
            "device": self.device,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "options": {key: _spec_value(value, key) for key, value in self.options.items()},
        }

    def model_labels(self, task):
        """The labels the backend's model can answer for ``task`` (the task's own labels by default)."""
        return tuple(get_task(task).labels)

    def check_task(self, task):
        """Raise `~radioassist.exceptions.ModelError` if the model cannot answer ``task``.

        Parameters
        ----------
        task : `~radioassist.tasks.Task` or str
        """
        task = get_task(task)
        labels = tuple(self.model_labels(task))
        if {lab.upper() for lab in labels} != {lab.upper() for lab in task.labels}:
            msg = (
                f"model {self.model!r} of backend {self.name!r} answers {', '.join(labels)}, "
                f"which does not fit task {task.id} (labels: {', '.join(task.labels)})"
            )
            raise ModelError(msg)
        return task


class PreparedImages:
    """Images a backend has already turned into its model's input (see `Backend.prepare`).

    Only the backend that made them takes them, and for the task they were
    made for; ``len()`` is the number of images.

    Parameters
    ----------
    backend : `Backend`
        The backend whose :meth:`~Backend.prepare` made them.
    task : `~radioassist.tasks.Task`
    n : int
        Number of images.
    payload : object
        Whatever the backend's :meth:`~Backend.predict` needs (model inputs...).
    """

    __slots__ = ("backend", "task", "n", "payload")

    def __init__(self, backend, task, *, n, payload):
        self.backend = backend
        self.task = get_task(task)
        self.n = int(n)
        self.payload = payload

    def __len__(self):
        return self.n

    def __repr__(self):
        return f"<PreparedImages of {self.n} image(s) for {self.task.id} by {self.backend!r}>"

    def check(self, backend, task):
        """Raise `~radioassist.exceptions.InputError` unless made by ``backend`` for ``task``; return the task."""
        task = get_task(task)
        if self.backend is not backend or self.task.id != task.id:
            msg = (f"{self!r} cannot be classified by {backend!r} for task {task.id}: pass images to "
                   "predict, or what this backend's prepare made for this task")
            raise InputError(msg)
        return task


def _spec_value(value, key):
    """A JSON-friendly copy of a setting for `Backend.to_spec` (paths as str, tuples as lists)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_spec_value(v, key) for v in value]
    if isinstance(value, dict):
        return {str(k): _spec_value(v, key) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float, np.ndarray)):
        return value
    msg = (f"backend setting {key}={value!r} ({type(value).__name__}) cannot be sent to another process; "
           "pass a path, hub id or plain value instead")
    raise BackendError(msg)


def _as_rgb(image, index):
    image = np.asarray(image)
    if image.dtype != np.uint8:
        msg = (
            f"image {index} has dtype {image.dtype}; backends expect uint8 RGB images: render cutouts "
            "first with radioassist.render.render"
        )
        raise InputError(msg)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        msg = f"image {index} has shape {image.shape}; expected (H, W, 3) uint8 RGB"
        raise InputError(msg)
    return image


def as_image_list(images):
    """Validate backend input and return it as a 4-D array or a list of ``(H, W, 3)`` uint8 arrays.

    Accepts a ``(N, H, W, 3)`` (or grey ``(N, H, W)``) uint8 array or a sequence of
    ``(H, W, 3)`` / ``(H, W)`` uint8 arrays; grey images are replicated to 3 channels.
    """
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            msg = (
                f"images have dtype {images.dtype}; backends expect uint8 RGB images: render cutouts first "
                "with radioassist.render.render"
            )
            raise InputError(msg)
        if images.ndim == 4 and images.shape[-1] == 3:
            return images
        if images.ndim == 4 and images.shape[-1] == 1:
            return np.repeat(images, 3, axis=-1)
        if images.ndim == 3 and images.shape[-1] != 3:  # a stack of grey images
            return np.repeat(images[..., None], 3, axis=-1)
        if images.ndim == 1 and images.size == 0:
            return np.zeros((0, 1, 1, 3), dtype=np.uint8)
        msg = (
            f"images must be a (N, H, W, 3) uint8 array or a list of (H, W, 3) arrays, got an array of "
            f"shape {images.shape}; wrap a single image as image[None]"
        )
        raise InputError(msg)
    if isinstance(images, (str, bytes)) or hasattr(images, "__fspath__"):
        msg = f"images must be uint8 RGB arrays, not a path ({images!r}); load and render the image first"
        raise InputError(msg)
    try:
        images = list(images)
    except TypeError:
        msg = f"images must be a (N, H, W, 3) uint8 array or a list of arrays, got {type(images).__name__}"
        raise InputError(msg) from None
    return [_as_rgb(image, i) for i, image in enumerate(images)]


def image_groups(images, batch_size):
    """Yield ``(indices, batch)`` with uint8 ``(n, H, W, 3)`` batches of equally sized images.

    ``indices`` are the positions of the batch's images in ``images`` (the
    output of :func:`as_image_list`).  Consecutive images of the same size share
    a batch; a batch has at most ``batch_size`` images.
    """
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), batch_size):
            stop = min(start + batch_size, len(images))
            yield np.arange(start, stop), images[start:stop]
        return
    by_shape = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(i)
    for indices in by_shape.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            yield np.asarray(chunk), np.stack([images[i] for i in chunk])
