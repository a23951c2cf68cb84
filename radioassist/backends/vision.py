"""The ``vision`` backend: any transformers image-classification checkpoint.

Works with the small models shipped in `radioassist.models` (the default for
tasks that have one), with checkpoints written by ``radioassist train``, and
with any ``AutoModelForImageClassification`` checkpoint (fine-tuned SigLIP,
ViT, ConvNeXt, ResNet...) in a local folder or on the Hugging Face hub.

Preprocessing follows what the checkpoint records: radioassist checkpoints
carry a ``radioassist`` block in ``config.json`` (image size, mean, std,
resampling, background clipping, and the pixel scale, beam and cutout size of
the training images); other checkpoints are read from their
``preprocessor_config.json``.

Same source, same numbers: an image's label and probabilities depend on the
image alone, never on the batch it comes in, its place in it, the other
images, the number of threads or what ran before in the process.  Grey images
(rendered radio cutouts) are preprocessed one by one with numpy
(`radioassist.preprocess.grey_model_input`), the engine is chosen by the
environment alone (`radioassist.backends._onnx.choose_engine`), and every
forward pass, ONNX Runtime or torch, runs on a block of
`~radioassist.backends._onnx.BLOCK` images (the last one padded), a grey image
through the one-channel graph and a colour image through the full one.

A radioassist checkpoint (a local folder whose ``config.json`` has a
``radioassist`` block, as the shipped models) is read from its JSON files:
labels, domain, temperature and preprocessing need no torch, and with ONNX
Runtime and an export cached on disk torch and transformers are never
imported; the torch model is loaded the first time something needs it
(exporting, the torch engine).
"""

import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
import threading
import types
import warnings
from pathlib import Path

import numpy as np

from ._checkpoint import check_checkpoint_folder, loading_model, weights_sha256
from ._checkpoint import looks_like_path as _looks_like_path
from ..exceptions import InputError, ModelError, RadioassistWarning
from ..logger import log
from ..preprocess import background_clip, grey_images, grey_model_input, model_input  # noqa: F401
from . import _onnx
from ..tasks import get_task
from .base import Backend, PreparedImages, as_image_list, image_groups
from .predictions import Predictions
from .registry import register_backend

__all__ = ["VisionBackend", "weights_sha256", "background_clip"]

_DTYPES = ("float32", "float16", "bfloat16", "float64")
# PIL resampling codes used by transformers image processors
_PIL_RESAMPLE = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bilinear"}


def _norm(label):
    return re.sub(r"[^A-Z0-9]", "", str(label).upper())


def _label_mapping(model_labels, task, source):
    """Index in ``task.labels`` of every model output, or a ModelError naming both label sets."""
    aliases = {_norm(k): v for k, v in (task.answer_aliases or {}).items()}
    mapping = []
    for label in model_labels:
        found = None
        for j, candidate in enumerate(task.labels):
            if str(label).strip().upper() == candidate.upper():
                found = j
                break
        if found is None:
            matches = [j for j, candidate in enumerate(task.labels) if _norm(candidate) == _norm(label)]
            if len(matches) == 1:
                found = matches[0]
            elif _norm(label) in aliases and aliases[_norm(label)] in task.labels:
                found = task.labels.index(aliases[_norm(label)])
        mapping.append(found)
    if len(model_labels) != task.n_classes or None in mapping or len(set(mapping)) != len(mapping):
        msg = (
            f"the labels of model {source} ({', '.join(map(str, model_labels))}) do not match the labels of "
            f"task {task.id} ({', '.join(task.labels)}); use a model trained for this task or train one "
            "with `radioassist train`"
        )
        raise ModelError(msg)
    return np.asarray(mapping)


class _JsonConfig(types.SimpleNamespace):
    """A checkpoint's ``config.json`` as attributes (what the backend reads of a transformers config)."""

    def __init__(self, data):
        super().__init__(**data)
        self._data = data

    def to_dict(self):
        return dict(self._data)


@dataclasses.dataclass(eq=False)
class _LoadedModel:
    """A checkpoint with everything needed to run it; the torch model itself is loaded when first needed."""

    source: object
    config: object
    spec: dict
    sha256: str = None
    local: bool = True
    dtype: str = "float32"
    loader: object = None  # () -> torch model, for a model not loaded yet
    _model: object = None

    @property
    def model(self):
        """The torch model (loaded now if it was not: imports torch and transformers)."""
        if self._model is None:
            with _MODEL_LOCK:
                if self._model is None:
                    self._model = self.loader()
        return self._model

    @property
    def architecture(self):
        names = getattr(self.config, "architectures", None)
        return names[0] if names else type(self.model).__name__

    def config_dict(self):
        return self.config.to_dict()

    def __post_init__(self):
        self.meta = dict(getattr(self.config, "radioassist", None) or {})
        id2label = {int(k): v for k, v in (self.config.id2label or {}).items()}
        self.labels = tuple(id2label[i] for i in sorted(id2label))
        self.multilabel = getattr(self.config, "problem_type", None) == "multi_label_classification" or bool(
            self.meta.get("multilabel", False)
        )
        self._mappings = {}
        temperature = self.meta.get("temperature")
        self.temperature = 1.0 if temperature is None else float(temperature)
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            msg = (f"model {self.source}: temperature in config.json must be a positive number, "
                   f"got {temperature!r}")
            raise ModelError(msg)

    def mapping(self, task):
        key = (task.id, task.labels)
        if key not in self._mappings:
            trained_for = self.meta.get("task")
            if trained_for and str(trained_for).upper() != task.id.upper():
                msg = (
                    f"model {self.source} was trained for task {trained_for}, not {task.id} "
                    f"(model labels: {', '.join(self.labels)}; task labels: {', '.join(task.labels)})"
                )
                raise ModelError(msg)
            if self.multilabel != task.multilabel:
                kind = "multi-label" if self.multilabel else "single-label"
                msg = (
                    f"model {self.source} is a {kind} classifier but task {task.id} is "
                    f"{'multi-label' if task.multilabel else 'single-label'}"
                )
                raise ModelError(msg)
            self._mappings[key] = _label_mapping(self.labels, task, self.source)
        return self._mappings[key]


@register_backend("vision")
class VisionBackend(Backend):
    """Image classifiers from transformers (``AutoModelForImageClassification``).

    Parameters
    ----------
    model : str or path-like, optional
        A checkpoint folder or a Hugging Face hub id.  ``None`` (default) uses the
        model shipped for each task (`radioassist.models.default_model`),
        loaded at the first prediction for that task.
    device : str, optional
        Torch device, ``'cpu'`` by default.
    dtype : str, optional
        ``'float32'``, ``'bfloat16'``, ``'float16'`` or ``'float64'`` weights.
        Default: the checkpoint's own (float32), run under bfloat16 autocast
        on CUDA devices (float16 where bfloat16 is unsupported).
    batch_size : int, optional
        Images a caller is advised to send per call (64; recorded in the
        provenance).  It does not change the numbers: forward passes always
        run on blocks of `radioassist.backends._onnx.BLOCK` images.
    allow_pickle : bool, optional
        Load pickle-only (``pytorch_model.bin``) checkpoints.  Off by default:
        unpickling can run arbitrary code, so only enable it for trusted files.
    trust_remote_code : bool, optional
        Allow model code from the hub (off by default).
    revision : str, optional
        Hub revision (branch, tag or commit) of a hub model.
    local_files_only : bool, optional
        Never reach the hub (true for local folders in any case).
    threshold : float, optional
        Probability above which a label is given, for multi-label models (0.5).
    engine : str, optional
        What runs the network: ``'torch'``, ``'onnxruntime'`` (needs
        ``pip install 'radioassist[onnx]'``; float32 models on the CPU only) or
        ``'auto'`` (default: ONNX Runtime whenever it is installed and the
        model runs in float32 on the CPU, from the first image, torch
        otherwise).  The choice depends on the environment alone, never on
        the number of images.  The model is exported at its first use (torch,
        one to two seconds), checked against torch and cached on disk; later
        processes run the cached export without importing torch.  ONNX Runtime
        is 1.4-1.5x faster on small convolutional networks and agrees with
        torch to float32 rounding (``benchmarks/bench_predict.py``).

    Notes
    -----
    Same source, same numbers: every forward pass runs on a block of
    `radioassist.backends._onnx.BLOCK` images (the last block of a call is
    padded), grey images are preprocessed one by one, and the engine does not
    change within a process, so an image's probabilities are the same bits
    whatever the batch it comes in (``docs/backends.rst``).

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.backends import get_backend
    >>> backend = get_backend('vision')
    >>> images = np.zeros((2, 150, 150, 3), dtype=np.uint8)
    >>> images[:, 70:80, 70:80] = 255
    >>> predictions = backend.predict(images, 'B3')
    >>> predictions.probabilities.shape
    (2, 2)
    """

    description = (
        "image classifiers from transformers (local folder or hub id); "
        "default: the small model shipped for the task (B3, B6)"
    )
    option_defaults = {
        "allow_pickle": False,
        "trust_remote_code": False,
        "revision": None,
        "local_files_only": None,
        "threshold": 0.5,
        "engine": "auto",
    }

    def __init__(self, *, model=None, device="cpu", dtype=None, batch_size=64, **options):
        super().__init__(model=model, device=device, dtype=dtype, batch_size=batch_size, **options)
        if self.dtype is not None and self.dtype not in _DTYPES:
            msg = f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}"
            raise InputError(msg)
        threshold = self.options["threshold"]
        if not 0 < float(threshold) < 1:
            msg = f"threshold must be between 0 and 1, got {threshold!r}"
            raise InputError(msg)
        self._loaded = {}
        self._last = None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ loading
    def _source(self, task):
        if self.model is not None:
            return self.model
        if task is None:
            msg = "the vision backend has no model=; a task is needed to choose the shipped default model"
            raise ModelError(msg)
        from ..models import default_model

        return default_model(task)

    def load(self, task=None):
        """Load (once) and return the checkpoint used for ``task``.

        With an explicit ``model=`` the task is not needed.  Raises `ModelError`
        if the checkpoint is missing, unsafe or corrupted.
        """
        source = self._source(None if task is None else get_task(task))
        key = str(source)
        loaded = self._loaded.get(key)
        if loaded is not None:  # loaded before: no lock (prepare and predict run in two threads)
            self._last = loaded
            return loaded
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = _load_checkpoint(
                    source,
                    device=self.device,
                    dtype=self.dtype,
                    **{
                        k: self.options[k]
                        for k in ("allow_pickle", "trust_remote_code", "revision", "local_files_only")
                    },
                )
            self._last = self._loaded[key]
            return self._loaded[key]

    def model_labels(self, task):
        return self.load(task).labels

    def check_task(self, task):
        task = get_task(task)
        self.load(task).mapping(task)
        return task

    def input_spec(self, task):
        loaded = self.load(task)
        meta = loaded.meta
        spec = {
            key: meta[key]
            for key in ("render_preset", "pixel_scale_arcsec", "beam_arcsec", "cutout_size_pix")
            if meta.get(key) is not None
        }
        spec["image_size"] = list(loaded.spec["size"])
        for key in ("frequency_mhz", "surveys", "training_samples", "min_coverage"):
            if meta.get(key) is not None:
                spec[key] = meta[key]
        return spec

    # ------------------------------------------------------------------ inference
    def prepare(self, images, task):
        """Preprocess images into the model's input tensors now (see `Backend.prepare`).

        Grey ``(N, H, W)`` uint8 images (how `radioassist.classify` renders
        them) stay one channel through the preprocessing; the result is a
        `~radioassist.backends.PreparedImages` that :meth:`predict` of this
        backend takes for the same task.

        Parameters
        ----------
        images : `numpy.ndarray` or list of `numpy.ndarray`
            uint8 images, ``(N, H, W, 3)``, grey ``(N, H, W)``, or a list.
        task : `~radioassist.tasks.Task` or str

        Returns
        -------
        `~radioassist.backends.PreparedImages`
        """
        task = get_task(task)
        images = _grey_or_rgb(images)
        loaded = self.load(task)
        loaded.mapping(task)
        spec = loaded.spec
        channels = int(spec["num_channels"])
        groups = []  # (indices, float32 pixel values, one channel standing for the model's equal channels)
        if isinstance(images, np.ndarray) and images.ndim == 3:  # grey (N, H, W): how classify renders
            values = grey_model_input(images, spec, expand=False)
            groups.append((np.arange(len(images)), values, values.shape[1] == 1 and channels > 1))
            return PreparedImages(self, task, n=len(images), payload=(loaded, groups))
        for indices, batch in image_groups(images, max(1, len(images))):  # images of one size together
            grey = grey_images(batch)  # image by image: a colour image never changes how a grey one runs
            if grey.any():
                values = grey_model_input(batch[grey][..., 0], spec, expand=False)
                groups.append((indices[grey], values, values.shape[1] == 1 and channels > 1))
            if not grey.all():
                import torch

                with torch.inference_mode():
                    values = model_input(batch[~grey], spec).numpy()
                groups.append((indices[~grey], values, False))
        return PreparedImages(self, task, n=len(images), payload=(loaded, groups))

    def predict(self, images, task):
        if isinstance(images, PreparedImages):
            task = images.check(self, task)
            prepared = images
        else:
            task = get_task(task)
            prepared = self.prepare(images, task)
        n = len(prepared)
        if n == 0:
            return Predictions.empty(task)
        loaded, groups = prepared.payload
        mapping = loaded.mapping(task)
        engine = _onnx.choose_engine(loaded, engine=self.options["engine"], device=self.device)
        # a handful of images on the CPU (one-source pipeline calls): one thread; workers waiting for a busy
        # core cost far more than the forward pass.  No lock is held while the model runs: prepare() of the
        # next batch and other threads' predictions go on meanwhile
        threads = _threads()
        single = str(self.device) == "cpu" and n <= _SINGLE_THREAD_MAX and threads > 1
        logits = np.empty((n, len(loaded.labels)), dtype=np.float32)
        for indices, values, grey in groups:
            for start in range(0, len(values), _onnx.BLOCK):
                block = _padded(values[start:start + _onnx.BLOCK])
                out = None
                if engine == "onnxruntime":
                    out = _onnx.block_logits(loaded, block, grey=grey, threads=1 if single else threads,
                                             explicit=self.options["engine"] == "onnxruntime")
                    if out is None:  # it failed (warned or logged once): torch from now on
                        engine = "torch"
                if out is None:
                    out = self._torch_logits(loaded, block, grey, single)
                logits[indices[start:start + _onnx.BLOCK]] = out[:min(_onnx.BLOCK, len(values) - start)]
        model_probs = _onnx.probabilities(loaded, logits).astype(np.float64)
        probabilities = np.zeros((n, task.n_classes), dtype=np.float64)
        probabilities[:, mapping] = model_probs
        if task.multilabel:
            threshold = float(self.options["threshold"])
            labels = [
                tuple(task.labels[j] for j in np.flatnonzero(row > threshold)) or (task.none_label,)
                for row in probabilities
            ]
        else:
            labels = [task.labels[j] for j in np.argmax(probabilities, axis=1)]
        return Predictions(task, labels, probabilities)

    def _torch_logits(self, loaded, block, grey, single):
        """float32 logits of one block with torch (on the backend's device, channels-last tensors)."""
        import torch

        from .._threads import one_torch_thread

        with one_torch_thread() if single else contextlib.nullcontext(), torch.inference_mode(), \
                _autocast(torch, self.device, self.dtype):
            x = torch.from_numpy(block).to(device=self.device, dtype=loaded.model.dtype)
            if grey:
                x = x.expand(-1, int(loaded.spec["num_channels"]), -1, -1)
            x = x.contiguous(memory_format=torch.channels_last)
            return loaded.model(pixel_values=x).logits.float().cpu().numpy()

    def predict_workers(self):
        """On a CPU of a few cores, one :meth:`predict` call per core torch may use (`Backend.predict_workers`).

        With up to `_SIDE_BY_SIDE_MAX` torch threads, that many calls run side
        by side, one thread each (on 2 cores: 1.86-1.89 cores busy instead of
        1.78-1.84 with one call on two threads).  With more threads, or on a
        GPU, one call at a time uses them all: the thread that cuts and renders
        could not feed more single-threaded calls, and each call in flight holds
        its network's activations.

        Returns
        -------
        int
        """
        threads = _threads()
        if str(self.device) != "cpu" or threads > _SIDE_BY_SIDE_MAX:
            return 1
        return max(1, threads)

    # ------------------------------------------------------------------ provenance
    def describe(self, task=None):
        """Provenance: backend, model path/id, SHA-256 of the weights, preprocessing, dtype, device.

        Parameters
        ----------
        task : `~radioassist.tasks.Task` or str, optional
            For ``model=None``: describe the default model of this task (the
            model used last otherwise).
        """
        info = {"backend": self.name, "device": self.device, "batch_size": self.batch_size}
        if task is not None or self.model is not None:
            loaded = self.load(task)
        else:
            loaded = self._last
        if loaded is None:
            from ..models import DEFAULT_MODELS

            info.update(model="default", default_models=dict(DEFAULT_MODELS))
            return info
        meta = loaded.meta
        info.update(
            {
                "model": str(loaded.source),
                "model_sha256": loaded.sha256,
                "model_revision": getattr(loaded.config, "_commit_hash", None),
                "architecture": loaded.architecture,
                "model_task": meta.get("task"),
                "labels": list(loaded.labels),
                "multilabel": loaded.multilabel,
                "dtype": loaded.dtype,
                "preprocessing": {
                    k: (list(v) if isinstance(v, tuple) else v) for k, v in loaded.spec.items()
                },
                "render_preset": meta.get("render_preset"),
                "pixel_scale_arcsec": meta.get("pixel_scale_arcsec"),
                "beam_arcsec": meta.get("beam_arcsec"),
                "cutout_size_pix": meta.get("cutout_size_pix"),
                "temperature": loaded.temperature,
                "torch_version": _onnx._package_version("torch"),
                "transformers_version": _onnx._package_version("transformers"),
            }
        )
        if loaded.multilabel:
            info["threshold"] = float(self.options["threshold"])
        return info


# ---------------------------------------------------------------------- helpers
#: Most images per ``predict`` call that run on one CPU thread.
_SINGLE_THREAD_MAX = 16
#: Most torch threads for which ``predict`` calls run side by side, one thread each (`VisionBackend.predict_workers`).
_SIDE_BY_SIDE_MAX = 4
_MODEL_LOCK = threading.RLock()


def _threads():
    """Threads a call may use: torch's count once torch is imported, else what torch would take.

    Without torch in the process (ONNX Runtime from the disk cache), the
    count torch would start with: ``OMP_NUM_THREADS`` if set, else the CPUs
    this process may run on; inside `radioassist._threads.one_thread_call`, 1.
    """
    from .. import _threads as threads

    if getattr(threads._local, "single", 0):
        return 1
    if "torch" in sys.modules:
        return threads.torch_threads()
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _padded(values):
    """A block of `_onnx.BLOCK` images: ``values`` and zeros after them (every forward pass has one shape)."""
    if len(values) == _onnx.BLOCK:
        return np.ascontiguousarray(values)
    block = np.zeros((_onnx.BLOCK, *values.shape[1:]), dtype=np.float32)
    block[:len(values)] = values
    return block


def _autocast(torch, device, dtype):
    """bf16 (fp16 where bf16 is unsupported) autocast on CUDA when no dtype was asked for; else nothing."""
    import contextlib

    if dtype is not None or not str(device).startswith("cuda"):
        return contextlib.nullcontext()
    half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=half)


def _load_checkpoint(source, *, device, dtype, allow_pickle, trust_remote_code, revision, local_files_only):
    """Load a checkpoint folder or hub id as a `_LoadedModel` (weights checked before unpickling anything).

    A local radioassist checkpoint (``config.json`` with a ``radioassist`` block) in float32 is read from
    its JSON files; its torch model loads when first needed.  Anything else loads with transformers now.
    """
    text = str(source)
    path = Path(text).expanduser()
    local = path.exists()
    if not local and (isinstance(source, Path) or _looks_like_path(text)):
        msg = f"model folder {text} does not exist"
        raise ModelError(msg)
    sha256 = None
    if local:
        has_safe = check_checkpoint_folder(path, allow_pickle=allow_pickle, label=text)
        use_safetensors = has_safe
        sha256 = weights_sha256(path)
        config = _check_recorded_hash(path, sha256)
    else:
        use_safetensors = None if allow_pickle else True
        config = None
    load = functools.partial(_load_torch_model, source, path=path, local=local, device=device, dtype=dtype,
                             use_safetensors=use_safetensors, trust_remote_code=trust_remote_code,
                             revision=revision, local_files_only=local_files_only)
    if (local and has_safe and isinstance(config.get("radioassist"), dict) and dtype in (None, "float32")
            and str(config.get("dtype", config.get("torch_dtype")) or "float32") == "float32"):
        _check_safetensors(path, label=text)  # a damaged weight file fails now, as when loading with torch
        json_config = _JsonConfig(config)
        spec = _preprocessing_spec(json_config, path, local=True, revision=revision,
                                   local_files_only=local_files_only)
        log.debug("read %s (sha256 %s) with preprocessing %s; its torch model loads when needed", text, sha256,
                  spec)
        return _LoadedModel(source=source, config=json_config, spec=spec, sha256=sha256, local=True,
                            dtype="float32", loader=load)
    model = load()
    config = model.config
    if not local:
        sha256 = _hub_sha256(text, revision)
    spec = _preprocessing_spec(
        config, path if local else text, local=local, revision=revision, local_files_only=local_files_only
    )
    log.debug("loaded %s (%s, sha256 %s) with preprocessing %s", text, type(model).__name__, sha256, spec)
    return _LoadedModel(source=source, config=config, spec=spec, sha256=sha256, local=local,
                        dtype=str(model.dtype).replace("torch.", ""), _model=model)


def _check_safetensors(folder, *, label):
    """Raise `ModelError` unless each ``*.safetensors`` file of ``folder`` is whole (its header read, no torch).

    A safetensors file is an 8-byte header length, a JSON header giving each tensor's byte range, then the
    data: the ranges must end where the file does.
    """
    for path in sorted(Path(folder).glob("*.safetensors")):
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                length = int.from_bytes(fh.read(8), "little")
                if not 0 < length <= size - 8:
                    raise ValueError(f"header length {length} does not fit a file of {size} bytes")
                header = json.loads(fh.read(length))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
            if 8 + length + max(ends, default=0) != size:
                raise ValueError(f"the tensors end at byte {8 + length + max(ends, default=0)} of a file of "
                                 f"{size} bytes (truncated or padded)")
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            msg = (f"could not load image-classification model {label}: {path.name} is not a whole safetensors "
                   f"file ({exc})")
            raise ModelError(msg) from exc


def _load_torch_model(source, *, path, local, device, dtype, use_safetensors, trust_remote_code, revision,
                      local_files_only):
    """The torch model of a checkpoint (transformers ``AutoModelForImageClassification``), in eval mode."""
    from .._optional_deps import require

    torch = require("torch", purpose="the vision backend")
    transformers = require("transformers", purpose="the vision backend")
    text = str(source)
    torch_dtype = getattr(torch, dtype) if dtype else None
    kwargs = dict(
        use_safetensors=use_safetensors,
        trust_remote_code=bool(trust_remote_code),
        local_files_only=True if local else bool(local_files_only),
        output_loading_info=True,
    )
    if revision is not None:
        kwargs["revision"] = revision
    if torch_dtype is not None:
        kwargs["dtype"] = torch_dtype
    with loading_model(f"image-classification model {text}"):
        model, info = transformers.AutoModelForImageClassification.from_pretrained(
            str(path) if local else text, **kwargs
        )
    missing = sorted(info.get("missing_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or mismatched:
        msg = (
            f"model {text} lacks trained weights for {len(missing) + len(mismatched)} tensors "
            f"(e.g. {(missing + [str(m) for m in mismatched])[:3]}); the weight file is incomplete or "
            "the checkpoint is a backbone without a classification head"
        )
        raise ModelError(msg)
    model.eval()
    try:
        # channels-last tensors make the convolutions of small CNNs ~1.5x faster on CPU (oneDNN)
        model.to(device=device, memory_format=torch.channels_last)
    except Exception as exc:
        msg = f"cannot move model {text} to device {device!r}: {exc}"
        raise ModelError(msg) from exc
    return model


def _check_recorded_hash(path, sha256):
    """The checkpoint's ``config.json`` (a dict), after checking the weights' hash it records, if any."""
    try:
        with open(path / "config.json", encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError) as exc:
        msg = f"config.json of model {path} cannot be read: {exc}"
        raise ModelError(msg) from exc
    expected = (config.get("radioassist") or {}).get("weights_sha256")
    if expected and sha256 != expected:
        msg = (
            f"the weights of model {path} are corrupted or were modified: SHA-256 {sha256} differs from "
            f"{expected} recorded in its config.json"
        )
        raise ModelError(msg)
    return config


def _hub_sha256(repo_id, revision):
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "model.safetensors", revision=revision)
        if isinstance(cached, str):
            return weights_sha256(Path(cached).parent)
    except Exception:  # provenance is best effort for hub models
        pass
    return None


def _read_processor_config(source, *, local, revision, local_files_only):
    if local:
        file = Path(source) / "preprocessor_config.json"
        if not file.is_file():
            return None
    else:
        try:
            from transformers.utils import cached_file

            file = cached_file(
                source,
                "preprocessor_config.json",
                revision=revision,
                local_files_only=bool(local_files_only),
                _raise_exceptions_for_missing_entries=False,
            )
        except Exception:
            file = None
        if not file:
            return None
    with open(file, encoding="utf-8") as fh:
        return json.load(fh)


def _size_pair(size):
    if size is None:
        return None
    if isinstance(size, (int, float)):
        return int(size), int(size)
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[-1])
    if "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    if "shortest_edge" in size:
        return int(size["shortest_edge"]), int(size["shortest_edge"])
    if "longest_edge" in size:
        return int(size["longest_edge"]), int(size["longest_edge"])
    return None


def _preprocessing_spec(config, source, *, local, revision, local_files_only):
    """Size, crop, resampling, rescale, mean and std the model expects."""
    channels = int(getattr(config, "num_channels", 3) or 3)
    if channels not in (1, 3):
        msg = f"model {source} expects {channels} input channels; only 1 (grey) or 3 (RGB) are supported"
        raise ModelError(msg)
    meta = getattr(config, "radioassist", None) or {}
    if meta.get("image_size"):
        size = _size_pair(meta["image_size"])
        spec = {
            "size": size,
            "crop": None,
            "resample": meta.get("resample", "bilinear"),
            "rescale": 1 / 255,
            "mean": list(meta.get("mean", [0.5] * channels)),
            "std": list(meta.get("std", [0.5] * channels)),
            "num_channels": channels,
            "background_clip_sigma": meta.get("background_clip_sigma"),
        }
    else:
        proc = _read_processor_config(
            source, local=local, revision=revision, local_files_only=local_files_only
        )
        if proc is None:
            size = _size_pair(getattr(config, "image_size", None)) or (224, 224)
            warnings.warn(
                f"model {source} has no preprocessor_config.json: resizing to {size[0]}x{size[1]} "
                "with mean=std=0.5; check that this matches how it was trained",
                RadioassistWarning,
            )
            proc = {}
        else:
            size = (
                _size_pair(proc.get("size")) or _size_pair(getattr(config, "image_size", None)) or (224, 224)
            )
        crop = None
        if proc.get("crop_pct") and proc.get("crop_pct") < 1 and size[0] < 384:
            crop = size
            size = (int(size[0] / proc["crop_pct"]), int(size[1] / proc["crop_pct"]))
        elif proc.get("do_center_crop") and proc.get("crop_size") is not None:
            crop = _size_pair(proc["crop_size"])
        if proc.get("do_resize", True) is False:
            size = None
        do_rescale = proc.get("do_rescale", True)
        mean = proc.get("image_mean", [0.5] * 3) if proc.get("do_normalize", True) else [0.0] * 3
        std = proc.get("image_std", [0.5] * 3) if proc.get("do_normalize", True) else [1.0] * 3
        mean = [float(m) for m in np.atleast_1d(mean)]
        std = [float(s) for s in np.atleast_1d(std)]
        if channels == 1:
            mean, std = [float(np.mean(mean))], [float(np.mean(std))]
        spec = {
            "size": size,
            "crop": crop,
            "resample": _PIL_RESAMPLE.get(proc.get("resample", 2), "bilinear"),
            "rescale": float(proc.get("rescale_factor", 1 / 255)) if do_rescale else 1.0,
            "mean": mean,
            "std": std,
            "num_channels": channels,
            "background_clip_sigma": None,
        }
    if len(spec["mean"]) not in (1, channels) or len(spec["std"]) not in (1, channels):
        msg = f"model {source}: image mean/std {spec['mean']}/{spec['std']} do not fit {channels} channels"
        raise ModelError(msg)
    if spec["resample"] not in ("nearest", "bilinear", "bicubic", "area"):
        msg = f"model {source}: unknown resampling {spec['resample']!r}"
        raise ModelError(msg)
    return spec


def _preprocess(batch, spec, *, device="cpu", dtype=None, memory_format=None, expand=True):
    """uint8 ``(n, H, W, 3)`` -> normalised float tensor ``(n, C, h, w)`` (`radioassist.preprocess.model_input`)."""
    return model_input(batch, spec, device=device, dtype=dtype, memory_format=memory_format, expand=expand)


def _grey_or_rgb(images):
    """`as_image_list`, except that a grey ``(N, H, W)`` uint8 array stays grey (the preprocessing takes it)."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 3 \
            and images.shape[-1] != 3 and images.size:
        return images
    return as_image_list(images)
