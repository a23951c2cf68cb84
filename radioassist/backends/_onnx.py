"""Run a vision classifier with ONNX Runtime on the CPU: the ``engine`` option of the ``vision`` backend.

ONNX Runtime folds each batch normalisation into its convolution and, for
grey input (equal channels: rendered radio cutouts), runs the first
convolution on one channel with the channels' weights summed, pads the
convolutions' channels with zero filters to the CPU's vector width and runs
convolutions of inputs smaller than their kernels as matrix products; it runs
the small convolutional networks shipped with radioassist 1.4-1.5x faster
than eager torch on the CPU, and its threads suffer far less than torch's
OpenMP threads when another process keeps a core busy.  Its logits equal
torch's to float32 rounding (folded and summed weights round differently:
~3e-4 on logits of a few units; see ``benchmarks/bench_predict.py``).

Same source, same numbers: every forward pass runs on a block of `BLOCK`
images (the last block of a call padded), a grey image always through the
one-channel graph and a colour image through the full one, so an image's
logits do not depend on the batch, its position in it or the other images.

The model is exported once per checkpoint and package versions (one to two
seconds, with torch), checked against torch on the images it first runs (every
form of the graph), and kept on disk (`cache_dir`, keyed by the weights'
SHA-256, the configuration and the torch and transformers versions, read from
their package metadata): a later process runs the cached graphs without
importing torch, transformers or onnx.  Anything that fails (an operator the
exporter does not know, a larger difference than `TOLERANCE`) falls back to
torch with a warning.  Needs ``pip install 'radioassist[onnx]'``.
"""

import functools
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

__all__ = ["ENGINES", "BLOCK", "TOLERANCE", "available", "cache_dir", "choose_engine", "block_logits",
           "probabilities"]

#: Values of the ``engine`` option.
ENGINES = ("auto", "torch", "onnxruntime")
#: Images of every forward pass (ONNX Runtime and torch alike): a call's last block is padded, so that an
#: image's numbers never depend on how many images came with it.  Chosen with ``benchmarks/bench_predict.py``
#: (its block-size table): on the shipped models the cost per image is flat from 8 to 32 images a block and
#: rises above, while one source costs a whole block (~4-9 ms for 16 on a loaded 2-core machine).
BLOCK = 16
#: Largest difference of probabilities between ONNX Runtime and torch accepted when a model is exported.
TOLERANCE = 1e-3
#: Version of the export's cache key (changed with what goes into it).
_KEY_FORM = 2
_CHECKED = 32  # images checked against torch when the model is exported


def available():
    """Whether ``onnxruntime`` and ``onnx`` (the exporter needs it) can be imported (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def cache_dir():
    """Folder of the exported models (not made until an export is written).

    ``$RADIOASSIST_CACHE_DIR/onnx`` if that variable is set, else the
    ``onnx`` folder of the cache folder astropy gives radioassist
    (``$XDG_CACHE_HOME/radioassist`` if it exists, else ``~/.radioassist/cache``).

    Returns
    -------
    `pathlib.Path` or None
        None when ``RADIOASSIST_CACHE_DIR`` is set to an empty string: no disk cache.
    """
    env = os.environ.get("RADIOASSIST_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() / "onnx" if env.strip() else None
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and (Path(xdg) / "radioassist").is_dir():
        return Path(xdg) / "radioassist" / "onnx"
    return Path.home() / ".radioassist" / "cache" / "onnx"


@functools.lru_cache(maxsize=None)
def _package_version(name):
    """A package's version from its metadata (no import), or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cache_path(loaded):
    """Where the export of this checkpoint is cached, or None (no weights hash, no cache folder).

    The key needs no import of torch or transformers: their versions come from their package metadata.
    """
    folder = cache_dir()
    if folder is None or not loaded.sha256:
        return None
    key = json.dumps([_KEY_FORM, loaded.sha256, loaded.architecture, loaded.config_dict(),
                      _package_version("torch"), _package_version("transformers")], sort_keys=True, default=str)
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.onnx"


class _State:
    """Per loaded checkpoint: the exported graph, its derived forms and one session per (graph, threads)."""

    def __init__(self, loaded):
        self.proto = None
        self.grey_proto = None  # the graph for grey input (False: the model has none), see _grey_graph
        self.matmul_proto = None  # the same with small convolutions as matrix products, see _matmul_graph
        self.derived_files = {}  # their files in the disk cache
        self.sessions = {}  # (graph, threads) -> session
        self.failed = None
        self.checked = set()  # graphs checked against torch in this process (at export)
        self.lock = threading.Lock()
        try:
            self.path = _cache_path(loaded)
        except Exception:  # an odd configuration: no disk cache
            self.path = None


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
    if state.path is not None:  # never reuse a cached export that failed (nor its derived forms)
        for path in (state.path, *(p for files in state.derived_files.values() for p in files)):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
    msg = f"model {source}: cannot run it with onnxruntime ({state.failed}); using torch"
    if explicit:
        warnings.warn(msg, RadioassistWarning, stacklevel=5)
    else:
        log.info(msg)


def choose_engine(loaded, *, engine, device):
    """What runs the network: ``'onnxruntime'`` or ``'torch'``, from the option and the environment only.

    ``'auto'`` is ONNX Runtime whenever ``onnxruntime`` and ``onnx`` are
    installed and the model is a float32 model on the CPU (exported on first
    use), torch otherwise, and torch for a model whose export failed; never a
    matter of how many images a call has or how many came before.

    Parameters
    ----------
    loaded : object
        The backend's loaded checkpoint (``.dtype``, ``.source``).
    engine : str
        ``'auto'``, ``'torch'`` or ``'onnxruntime'`` (see `ENGINES`).
    device : str
        Torch device of the backend: ONNX Runtime runs CPU float32 models only.

    Returns
    -------
    str
    """
    if engine not in ENGINES:
        msg = f"engine must be one of {', '.join(ENGINES)}, got {engine!r}"
        raise InputError(msg)
    if engine == "torch":
        return "torch"
    explicit = engine == "onnxruntime"
    if str(device) != "cpu" or loaded.dtype != "float32":
        if explicit:
            msg = f"engine='onnxruntime' runs float32 models on the CPU only, not {loaded.dtype} on {device}"
            raise InputError(msg)
        return "torch"
    if not available():
        if explicit:
            from .._optional_deps import require

            require("onnxruntime", purpose="engine='onnxruntime'")
            require("onnx", purpose="engine='onnxruntime' (exporting the model)")
        return "torch"
    return "torch" if _state(loaded).failed is not None else "onnxruntime"


def probabilities(loaded, logits):
    """float32 probabilities of float32 logits (temperature, then softmax or sigmoid), row by row in numpy."""
    logits = np.asarray(logits, dtype=np.float32) / np.float32(loaded.temperature)
    if loaded.multilabel:
        return (np.float32(1) / (np.float32(1) + np.exp(-logits))).astype(np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def torch_logits(loaded, values, grey):
    """float32 numpy logits of numpy pixel values with torch on the CPU (the reference of the export check)."""
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(values))
        if grey:  # one channel standing for the model's equal channels
            x = x.expand(-1, int(loaded.spec["num_channels"]), -1, -1)
        return loaded.model(pixel_values=x.contiguous()).logits.float().numpy()


def _graph_for(state, grey):
    """The graph an image runs through: one channel (as matrix products where they pay) for grey images."""
    if grey and _grey_graph(state) is not None:
        return "grey, matmul" if _matmul_graph(state) is not None else "grey"
    return "full"


def _proto(state, graph):
    return {"full": state.proto, "grey": state.grey_proto, "grey, matmul": state.matmul_proto}[graph]


def _inputs(loaded, graph, values, grey):
    if grey and graph == "full":
        values = np.broadcast_to(values, (len(values), int(loaded.spec["num_channels"]), *values.shape[2:]))
    return np.ascontiguousarray(values, dtype=np.float32)


def _export_and_check(loaded, state, values, grey, explicit):
    """Export the model (torch), make its derived graphs, check each against torch, then cache the export."""
    channels = int(loaded.spec["num_channels"])
    full = _inputs(loaded, "full", values[:_CHECKED], grey)
    import torch

    state.proto = _export(loaded.model, torch.from_numpy(full[:2].copy()))
    log.info("exported model %s to ONNX (%d bytes) for onnxruntime", loaded.source, len(state.proto))
    cases = [("full", full, False)]
    if channels > 1:  # the one-channel forms, on one channel of the images (equal channels for torch)
        one = np.ascontiguousarray(full[:, :1])
        cases += [(graph, one, True) for graph in ("grey", "grey, matmul")
                  if (_grey_graph(state) if graph == "grey" else _matmul_graph(state)) is not None]
    for graph, x, as_grey in cases:
        reference = probabilities(loaded, torch_logits(loaded, x, as_grey))
        got = _session(_proto(state, graph), 1).run(None, {"pixel_values": x})[0]
        diff = float(np.abs(reference - probabilities(loaded, got)).max()) if got.shape == reference.shape \
            else np.inf
        if not diff <= TOLERANCE:
            raise ValueError(f"probabilities differ from torch's by {diff:.2g} (> {TOLERANCE:g}) ({graph} graph)")
        state.checked.add(graph)
        log.info("onnxruntime runs model %s (%s graph; probabilities within %.1g of torch)", loaded.source,
                 graph, diff)
    _save(state.path, state.proto)  # checked: later processes run it as it is


def block_logits(loaded, values, *, grey, threads, explicit=False):
    """float32 logits of one block of pixel values with ONNX Runtime, or None when it cannot run the model.

    Parameters
    ----------
    loaded : object
        The backend's loaded checkpoint.
    values : `numpy.ndarray`
        float32 ``(BLOCK, C, h, w)`` pixel values; ``(BLOCK, 1, h, w)`` with
        ``grey=True`` for one channel standing for the model's equal channels.
    grey : bool
    threads : int
        Threads of the session.
    explicit : bool, optional
        ``engine='onnxruntime'`` was asked for: a failure warns (else it is logged).

    Returns
    -------
    `numpy.ndarray` or None
        None after a failure (the caller runs torch; the model stays on torch).
    """
    state = _state(loaded)
    try:
        with state.lock:  # export, graph and session once; then sessions run concurrently (they are thread-safe)
            if state.failed is not None:
                return None
            if state.proto is None and state.path is not None and state.path.is_file():
                state.proto = state.path.read_bytes()
            if state.proto is None:
                _export_and_check(loaded, state, values, grey, explicit)
            graph = _graph_for(state, grey)
            session = state.sessions.get((graph, threads))
            if session is None:
                session = state.sessions[graph, threads] = _session(_proto(state, graph), threads)
        return session.run(None, {"pixel_values": _inputs(loaded, graph, values, grey)})[0]
    except Exception as exc:  # ImportError, exporter errors, onnxruntime errors, a failed check...
        with state.lock:
            _fail(state, loaded.source, exc, explicit)
        return None


def _derived_graph(state, attr, tag, make):
    """A graph made once from the export by ``make()`` and kept as ``state.<attr>`` (False: none).

    Kept in the disk cache beside the export, named after the export's own hash and ``tag``
    (``<key>.<hash>.<tag>.onnx``, or an empty ``<key>.<hash>.<tag>.none`` when ``make`` gives
    None), so that later processes need not import ``onnx`` (~0.7 s) to make it again, and a
    changed or damaged export never meets an old derived graph.
    """
    value = getattr(state, attr)
    path = none_path = None
    if value is None:
        if state.path is not None:
            digest = hashlib.sha256(state.proto).hexdigest()[:16]
            path, none_path = (state.path.with_name(f"{state.path.stem}.{digest}.{tag}.{ext}")
                               for ext in ("onnx", "none"))
            state.derived_files[attr] = (path, none_path)
        try:
            if path is not None and path.is_file():
                value = path.read_bytes()
            elif none_path is not None and none_path.is_file():
                value = False
        except OSError:
            pass
    if value is None:
        try:
            value = make() or False
        except Exception as exc:  # an odd graph: keep the one it was to be made from
            log.info("no %s form of the ONNX graph: %s", tag, exc)
            value = False
        if path is not None:
            _save(path if value else none_path, value or b"")
    setattr(state, attr, value)
    return value or None


def _grey_graph(state):
    """The graph for grey input (bytes), made once from the export; None when the model has no such form.

    Its first convolution takes one channel (`_collapse_first_convolution`) and its channels are
    padded to the CPU's vector width (`_pad_channels`); cached on disk as
    ``<key>.<hash>.c16.grey.onnx`` (see `_derived_graph`).
    """
    block = _channel_block()

    def make():
        proto = _collapse_first_convolution(state.proto)
        return _pad_channels(proto, block) if proto and block > 1 else proto

    return _derived_graph(state, "grey_proto", f"c{block}.grey", make)


def _matmul_graph(state):
    """The grey graph with its convolutions of inputs smaller than their kernels as matrix products.

    (`_small_convolutions_as_matmul`); None when no convolution qualifies.  Cached on disk as
    ``<key>.<hash>.c16.mm1.grey.onnx`` (see `_derived_graph`).
    """
    grey = _grey_graph(state)
    if grey is None:
        return None

    def make():
        proto = _small_convolutions_as_matmul(grey)
        return None if proto is grey else proto

    return _derived_graph(state, "matmul_proto", f"c{_channel_block()}.{_MATMUL_FORM}.grey", make)


def _collapse_first_convolution(proto):
    """The graph with a one-channel input when its input only feeds a convolution (else None).

    With equal input channels, ``conv(x, W) = conv(x[:, :1], W.sum(axis=1))``: the first convolution
    of a network on grey images replicated to 3 channels does a third of the work.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(proto)
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        return None
    name = inputs[0].name
    users = [node for node in graph.node if name in node.input]
    if len(users) != 1 or users[0].op_type != "Conv" or list(users[0].input).count(name) != 1:
        return None
    conv = users[0]
    if conv.input[0] != name or any(a.name == "group" and a.i != 1 for a in conv.attribute):
        return None
    weight = conv.input[1]
    if weight not in initializers or sum(list(node.input).count(weight) for node in graph.node) != 1:
        return None
    w = numpy_helper.to_array(initializers[weight])
    dims = inputs[0].type.tensor_type.shape.dim
    if w.ndim != 4 or w.shape[1] < 2 or len(dims) != 4 or dims[1].dim_value != w.shape[1]:
        return None
    summed = w.astype(np.float64).sum(axis=1, keepdims=True).astype(w.dtype)
    initializers[weight].CopyFrom(numpy_helper.from_array(summed, weight))
    dims[1].dim_value = 1
    return model.SerializeToString()


@functools.lru_cache(maxsize=1)
def _channel_block():
    """Channels per vector of ONNX Runtime's blocked (NCHWc) convolutions on this CPU (1: none).

    16 float32 with AVX-512, 8 with AVX2 (x86 only: other CPUs run the plain layout).
    """
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return 1
    if features.get("AVX512F"):
        return 16
    return 8 if features.get("AVX2") else 1


#: Version of `_small_convolutions_as_matmul`, in the cache name of its graph.
_MATMUL_FORM = "mm1"
#: Largest matrix (elements) that `_small_convolutions_as_matmul` makes of a convolution.
_MATMUL_MAX_ELEMENTS = 1 << 22

#: Operators that keep a channel that is zero everywhere zero (and act on each channel alone, or add two
#: tensors of the same channels).
_ZERO_PRESERVING = ("Relu", "MaxPool", "AveragePool", "Add")


def _initializers_and_uses(graph):
    """The graph's initializers by name, and how many node inputs name each tensor."""
    uses = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    return {i.name: i for i in graph.initializer}, uses


def _plain_convolution(node, initializers, uses):
    """Whether ``node`` is a convolution of one group with its own weight (and bias), free to rewrite."""
    return (node.op_type == "Conv" and len(node.input) > 1
            and all(a.name != "group" or a.i == 1 for a in node.attribute)
            and all(p in initializers and uses.get(p) == 1 for p in node.input[1:] if p))


def _pad_channels(proto, block):
    """The graph with its convolutions' channels padded with zero filters to a multiple of ``block``.

    ONNX Runtime runs convolutions in blocks of ``block`` channels (NCHWc); a
    network with, say, 24 channels on an AVX-512 CPU falls back to slower
    kernels and reorders its tensors between layers.  A zero filter with a
    zero bias gives a channel of zeros, which ReLU, pooling and residual
    additions keep zero and which the next convolution, given zero weights for
    it, ignores: the logits are those of the original graph (to float32
    rounding).  Channels are padded where every tensor that carries them comes
    from such a convolution or operator (`_ZERO_PRESERVING`) and goes only to
    them; anything else (a pooled feature vector, a weight shared by two
    convolutions, a graph output) leaves those channels as they are.

    Parameters
    ----------
    proto : bytes
        A serialised ONNX model.
    block : int
        Channels per vector.

    Returns
    -------
    bytes
        The padded model, or ``proto`` itself when nothing needs padding.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(proto)
    graph = model.graph
    initializers, uses = _initializers_and_uses(graph)
    producers = {name: node for node in graph.node for name in node.output}
    consumers = {}
    for node in graph.node:
        for name in set(node.input):
            consumers.setdefault(name, []).append(node)

    def plain_conv(node):
        return _plain_convolution(node, initializers, uses)

    parent = {}

    def find(name):
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    def union(a, b):
        a, b = find(a), find(b)
        if a != b:
            parent[a] = b

    for node in graph.node:  # tensors whose channels are the same channels
        if node.op_type in _ZERO_PRESERVING and len(node.output) == 1:
            for name in node.input:
                union(name, node.output[0])
    groups = {}
    for node in graph.node:
        for name in (*node.input, *node.output):
            if name:
                groups.setdefault(find(name), set()).add(name)
    boundary = {v.name for v in graph.input} | {v.name for v in graph.output} | set(initializers)

    def convolutions(members):  # (convolutions making, convolutions reading) the channels, or None
        if members & boundary:
            return None
        makers, readers = [], []
        for name in members:
            maker = producers.get(name)
            if maker is None or len(maker.output) != 1:
                return None
            if plain_conv(maker):
                makers.append(maker)
            elif maker.op_type not in _ZERO_PRESERVING:
                return None
            for user in consumers.get(name, ()):
                if plain_conv(user) and list(user.input).count(name) == 1 and user.input[0] == name:
                    readers.append(user)
                elif user.op_type not in _ZERO_PRESERVING:
                    return None
        return (makers, readers) if makers else None

    nodes, pad_out, pad_in = {}, {}, {}  # convolutions by id(), and the channels to add to their outputs/inputs
    for members in groups.values():
        found = convolutions(members)
        if found is None:
            continue
        makers, readers = found
        channels = {numpy_helper.to_array(initializers[conv.input[1]]).shape[0] for conv in makers}
        if len(channels) != 1:
            continue
        extra = -channels.pop() % block
        if extra:
            nodes.update((id(conv), conv) for conv in (*makers, *readers))
            pad_out.update((id(conv), extra) for conv in makers)
            pad_in.update((id(conv), extra) for conv in readers)
    if not pad_out:
        return proto
    for key, conv in nodes.items():
        weight = numpy_helper.to_array(initializers[conv.input[1]])
        out_extra, in_extra = pad_out.get(key, 0), pad_in.get(key, 0)
        weight = np.pad(weight, [(0, out_extra), (0, in_extra)] + [(0, 0)] * (weight.ndim - 2))
        initializers[conv.input[1]].CopyFrom(numpy_helper.from_array(weight, conv.input[1]))
        if out_extra and len(conv.input) > 2 and conv.input[2]:
            bias = np.pad(numpy_helper.to_array(initializers[conv.input[2]]), (0, out_extra))
            initializers[conv.input[2]].CopyFrom(numpy_helper.from_array(bias, conv.input[2]))
    del graph.value_info[:]  # shapes of the padded tensors changed: ONNX Runtime infers them again
    return model.SerializeToString()


def _small_convolutions_as_matmul(proto, *, max_elements=_MATMUL_MAX_ELEMENTS):
    """The graph with each convolution of an input smaller than its kernel written as a matrix product.

    A 3 x 3 convolution of a 2 x 2 feature map (the last stage of a small
    ResNet on 64-pixel images) spends most of its multiply-adds on the zero
    padding, and ONNX Runtime runs such tiny maps far below its peak; as one
    ``(C*H*W) x (C'*H'*W')`` matrix (the convolution applied to each unit
    input) it does fewer multiply-adds in a single matrix product: ~5% of the
    shipped B6 model's forward pass.  Only plain convolutions (one group, their
    own weight and bias, explicit padding, 2-D) whose input and output shapes
    are known apart from the batch, with ``H * W < kh * kw`` (fewer
    multiply-adds than the convolution) and a matrix of at most
    ``max_elements`` elements are rewritten; the logits are the same to float32
    rounding.

    Parameters
    ----------
    proto : bytes
        A serialised ONNX model.
    max_elements : int, optional
        Largest matrix made.

    Returns
    -------
    bytes
        The rewritten model, or ``proto`` itself when no convolution qualifies.
    """
    import onnx
    import torch
    from onnx import helper, numpy_helper, shape_inference

    model = onnx.load_from_string(proto)
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for value in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    graph = model.graph
    initializers, uses = _initializers_and_uses(graph)
    changed = False
    for node in list(graph.node):
        if not _plain_convolution(node, initializers, uses):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        params = [p for p in node.input[1:] if p]
        weight = numpy_helper.to_array(initializers[node.input[1]])
        ins, outs = shapes.get(node.input[0]), shapes.get(node.output[0])
        if (weight.ndim != 4 or weight.dtype != np.float32 or not ins or not outs or len(ins) != 4
                or len(outs) != 4 or None in ins[1:] or None in outs[1:]):
            continue
        (c, h, w), (co, ho, wo), (kh, kw) = ins[1:], outs[1:], weight.shape[2:]
        if h * w >= kh * kw or c * h * w * co * ho * wo > max_elements or c != weight.shape[1]:
            continue
        top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
        units = torch.eye(c * h * w, dtype=torch.float64).reshape(-1, c, h, w)
        with torch.no_grad():
            matrix = torch.nn.functional.conv2d(
                torch.nn.functional.pad(units, (left, right, top, bottom)),
                torch.from_numpy(weight.astype(np.float64)), stride=list(attrs.get("strides", [1, 1])),
                dilation=list(attrs.get("dilations", [1, 1])))
        if tuple(matrix.shape[1:]) != (co, ho, wo):
            continue
        matrix = matrix.reshape(c * h * w, co * ho * wo).numpy().astype(np.float32)
        bias = (numpy_helper.to_array(initializers[node.input[2]]) if len(params) > 1
                else np.zeros(co, np.float32))
        out = node.output[0]
        flat, mat, vec, shape, product = (f"{out}/as_matmul/{part}"
                                          for part in ("flat", "weight", "bias", "shape", "out"))
        graph.initializer.extend([numpy_helper.from_array(matrix, mat),
                                  numpy_helper.from_array(np.repeat(bias, ho * wo).astype(np.float32), vec),
                                  numpy_helper.from_array(np.array([-1, co, ho, wo], np.int64), shape)])
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for k, new in enumerate([helper.make_node("Flatten", [node.input[0]], [flat], axis=1),
                                 helper.make_node("Gemm", [flat, mat, vec], [product]),
                                 helper.make_node("Reshape", [product, shape], [out])]):
            graph.node.insert(at + k, new)
        for name in params:
            graph.initializer.remove(initializers[name])
        changed = True
    return model.SerializeToString() if changed else proto


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
