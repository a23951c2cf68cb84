"""Run a vision classifier with ONNX Runtime on the CPU: the ``engine`` option of the ``vision`` backend.

ONNX Runtime folds each batch normalisation into its convolution and runs the
small convolutional networks shipped with radioassist about 1.4x (one thread)
to 1.8x (two threads) faster than eager torch on the CPU, with logits equal to
float32 rounding (the folded weights round differently: ~1e-4 on logits of a
few units; see ``benchmarks/bench_predict.py``).  The model is exported once
per checkpoint (one to two seconds) and kept in memory and on disk (`cache_dir`,
keyed by the weights' SHA-256, the configuration and the torch and
transformers versions), so ``engine='auto'`` uses ONNX Runtime at once for
a checkpoint exported before and exports only once a checkpoint has
classified `AUTO_AFTER` images in the process.  The first batch of a process
is checked against torch and anything that fails (no ``onnxruntime`` or
``onnx``, an operator the exporter does not know, a larger difference) falls
back to torch with a warning.  Needs ``pip install 'radioassist[onnx]'``.
"""

import hashlib
import importlib.util
import io
import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from ..exceptions import InputError, RadioassistWarning
from ..logger import log

__all__ = ["ENGINES", "AUTO_AFTER", "AUTO_MIN_BATCH", "TOLERANCE", "cache_dir", "logits_runner"]

#: Values of the ``engine`` option.
ENGINES = ("auto", "torch", "onnxruntime")
#: Images a checkpoint classifies with torch before ``engine='auto'`` exports it to ONNX Runtime.
AUTO_AFTER = 2048
#: Fewest images of a call for which ``engine='auto'`` loads an export from the disk cache.
AUTO_MIN_BATCH = 64
#: Largest difference of probabilities between ONNX Runtime and torch accepted on the first batch.
TOLERANCE = 1e-3


def available():
    """Whether ``onnxruntime`` and ``onnx`` (the exporter needs it) can be imported (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def cache_dir():
    """Folder of the exported models: ``$RADIOASSIST_CACHE_DIR/onnx``, else astropy's cache folder.

    Returns
    -------
    `pathlib.Path` or None
        None when ``RADIOASSIST_CACHE_DIR`` is set to an empty string (no
        disk cache) or no cache folder can be made.
    """
    env = os.environ.get("RADIOASSIST_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() / "onnx" if env.strip() else None
    try:
        from astropy.config.paths import get_cache_dir_path

        return Path(get_cache_dir_path("radioassist")) / "onnx"
    except Exception:  # no writable home folder
        return None


def _cache_path(loaded):
    """Where the export of this checkpoint is cached, or None (no weights hash, no cache folder)."""
    import torch
    import transformers

    folder = cache_dir()
    if folder is None or not loaded.sha256:
        return None
    config = loaded.model.config.to_dict()
    key = json.dumps([loaded.sha256, type(loaded.model).__name__, config, torch.__version__,
                      transformers.__version__], sort_keys=True, default=str)
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.onnx"


class _State:
    """Per loaded checkpoint: images seen, the exported graph and one session per thread count."""

    def __init__(self, loaded):
        self.seen = 0
        self.proto = None
        self.sessions = {}
        self.failed = None
        self.checked = False
        self.lock = threading.Lock()
        try:
            self.path = _cache_path(loaded)
        except Exception:  # an odd configuration: no disk cache
            self.path = None
        self.on_disk = self.path is not None and self.path.is_file()


_STATES_LOCK = threading.Lock()


def _state(loaded):
    with _STATES_LOCK:
        state = getattr(loaded, "_onnx_state", None)
        if state is None:
            state = _State(loaded)
            loaded._onnx_state = state
        return state


def _export(model, sample):
    """The ONNX graph (bytes) of ``model(pixel_values=x).logits`` with a dynamic batch axis."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values):
            return self.inner(pixel_values=pixel_values).logits

    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(Logits(model).eval(), (sample,), buffer, input_names=["pixel_values"],
                          output_names=["logits"], dynamic_axes={"pixel_values": {0: "batch"}},
                          dynamo=False)
    return buffer.getvalue()


def _session(proto, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # no busy waiting between batches: leave the cores to the threads that cut and render
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(proto, options, providers=["CPUExecutionProvider"])


def _fail(state, source, exc, explicit):
    state.failed = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    if state.path is not None:  # never reuse a cached export that failed
        try:
            state.path.unlink(missing_ok=True)
        except OSError:
            pass
    msg = f"model {source}: cannot run it with onnxruntime ({state.failed}); using torch"
    if explicit:
        warnings.warn(msg, RadioassistWarning, stacklevel=4)
    else:
        log.info(msg)


def logits_runner(loaded, *, engine, device, n_images, threads):
    """A function ``pixel_values -> logits`` (float32 torch tensors) for this call, or None for plain torch.

    Parameters
    ----------
    loaded : object
        The backend's loaded checkpoint (``.model``, ``.source``).
    engine : str
        ``'auto'``, ``'torch'`` or ``'onnxruntime'`` (see `ENGINES`).
    device : str
        Torch device of the backend: ONNX Runtime runs CPU float32 models only.
    n_images : int
        Images of this ``predict`` call (``'auto'`` counts them).
    threads : int
        Threads the call runs on.

    Returns
    -------
    callable or None
        Takes contiguous ``(n, C, h, w)`` float32 pixel values; the first call
        also runs torch and falls back to it (returning its logits) when the
        two differ by more than `TOLERANCE` in probability.
    """
    if engine not in ENGINES:
        msg = f"engine must be one of {', '.join(ENGINES)}, got {engine!r}"
        raise InputError(msg)
    if engine == "torch":
        return None
    import torch

    explicit = engine == "onnxruntime"
    if str(device) != "cpu" or loaded.model.dtype != torch.float32:
        if explicit:
            msg = (f"engine='onnxruntime' runs float32 models on the CPU only, not {loaded.model.dtype} "
                   f"on {device}")
            raise InputError(msg)
        return None
    state = _state(loaded)
    with state.lock:
        if state.failed is not None:
            return None
        if not explicit:
            state.seen += int(n_images)
            ready = state.proto is not None or (state.on_disk and n_images >= AUTO_MIN_BATCH)
            if not ready and (state.seen <= AUTO_AFTER or not available()):
                return None
        if explicit and not available():
            from .._optional_deps import require

            require("onnxruntime", purpose="engine='onnxruntime'")
            require("onnx", purpose="engine='onnxruntime' (exporting the model)")
    return lambda pixel_values: _run(loaded, state, pixel_values, int(threads), explicit)


def _run(loaded, state, pixel_values, threads, explicit):
    import torch

    with state.lock:
        if state.failed is not None:
            return loaded.model(pixel_values=pixel_values).logits.float()
        try:
            if state.proto is None and state.on_disk:
                state.proto = state.path.read_bytes()
            if state.proto is None:
                state.proto = _export(loaded.model, pixel_values[:2])
                log.info("exported model %s to ONNX (%d bytes) for onnxruntime", loaded.source,
                         len(state.proto))
                _save(state.path, state.proto)
            session = state.sessions.get(threads)
            if session is None:
                session = state.sessions[threads] = _session(state.proto, threads)
            values = np.ascontiguousarray(pixel_values.numpy(), dtype=np.float32)
            logits = torch.from_numpy(session.run(None, {"pixel_values": values})[0])
        except Exception as exc:  # ImportError, exporter errors, onnxruntime errors...
            _fail(state, loaded.source, exc, explicit)
            return loaded.model(pixel_values=pixel_values).logits.float()
        if not state.checked:
            reference = loaded.model(pixel_values=pixel_values).logits.float()
            if reference.shape != logits.shape:
                diff = np.inf
            else:
                diff = float((_probs(loaded, reference) - _probs(loaded, logits)).abs().max())
            if not diff <= TOLERANCE:
                _fail(state, loaded.source, ValueError(
                    f"probabilities differ from torch's by {diff:.2g} (> {TOLERANCE:g})"), explicit)
                return reference
            state.checked = True
            log.info("onnxruntime runs model %s (probabilities within %.1g of torch)", loaded.source, diff)
        return logits


def _save(path, proto):
    """Write the export to the disk cache (atomically; a read-only or full disk costs the next export)."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial.write_bytes(proto)
        os.replace(partial, path)
    except OSError as exc:
        log.info("could not cache the ONNX export in %s: %s", path.parent, exc)


def _probs(loaded, logits):
    import torch

    logits = logits / loaded.temperature
    return torch.sigmoid(logits) if loaded.multilabel else torch.softmax(logits, dim=-1)
