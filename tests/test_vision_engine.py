"""The ``engine`` option of the vision backend: ONNX Runtime on the CPU, torch the reference and fallback."""

import warnings

import numpy as np
import pytest

from radioassist.exceptions import InputError, RadioassistWarning

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from radioassist.backends import _onnx  # noqa: E402
from radioassist.backends.vision import VisionBackend  # noqa: E402

needs_onnx = pytest.mark.skipif(not _onnx.available(),
                                reason="needs onnxruntime and onnx (radioassist[onnx])")


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    """A disk cache of exported models of each test's own (never the user's)."""
    monkeypatch.setenv("RADIOASSIST_CACHE_DIR", str(tmp_path))
    return tmp_path / "onnx"


@pytest.fixture(scope="module")
def first_rgb(shared_data):
    """80 real FIRST cutouts (FR-DEEP, 150 x 150) rendered as the pipeline renders them."""
    from astropy.io import fits

    from radioassist.render import render

    files = sorted((shared_data / "frdeep_v2" / "FIRST").glob("*.fits"))[::8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FIRST headers: TAB characters in COMMENT cards
        arrays = np.stack([np.squeeze(fits.getdata(f)).astype(np.float32) for f in files])
    return render(arrays, preset="radio-llava")


@pytest.fixture(scope="module")
def torch_reference(first_rgb):
    return VisionBackend(engine="torch").predict(first_rgb, "B6")


def test_engine_option_is_checked(first_rgb):
    with pytest.raises(InputError, match="engine must be one of auto, torch, onnxruntime"):
        VisionBackend(engine="tensorrt").predict(first_rgb[:2], "B6")
    with pytest.raises(InputError, match="float32 models on the CPU only"):
        VisionBackend(engine="onnxruntime", dtype="bfloat16").predict(first_rgb[:2], "B6")


@needs_onnx
def test_onnxruntime_gives_the_labels_of_torch(first_rgb, torch_reference):
    backend = VisionBackend(engine="onnxruntime")
    got = backend.predict(first_rgb, "B6")
    state = backend.load("B6")._onnx_state
    assert state.proto is not None and state.failed is None  # onnxruntime ran
    # every form of the graph was checked against torch when the model was exported
    assert state.checked == {"full", "grey", "grey, matmul"}
    assert list(got.labels) == list(torch_reference.labels)
    assert np.abs(got.probabilities - torch_reference.probabilities).max() <= _onnx.TOLERANCE
    few = backend.predict(first_rgb[:5], "B6")  # a small call runs on one thread: a session of its own
    assert ("grey, matmul", 1) in state.sessions  # rendered cutouts are grey: the one-channel graph, always
    np.testing.assert_array_equal(few.probabilities, got.probabilities[:5])
    colour = first_rgb[:40].copy()
    colour[..., 2] //= 2  # not grey: the full graph
    mixed = backend.predict(np.concatenate([colour, first_rgb[40:]]), "B6")
    assert any(graph == "full" for graph, _ in state.sessions)
    np.testing.assert_array_equal(mixed.probabilities[40:], got.probabilities[40:])  # grey ones as before
    expected = VisionBackend(engine="torch").predict(colour, "B6")
    assert np.abs(mixed.probabilities[:40] - expected.probabilities).max() <= _onnx.TOLERANCE


@pytest.mark.parametrize("engine", [pytest.param("onnxruntime", marks=needs_onnx), "torch"])
def test_same_image_same_numbers_whatever_the_batch(first_rgb, engine):
    """Same source, same numbers: batches of 1, 7, 64 and 512, shuffled, in one or two threads side by side."""
    from concurrent.futures import ThreadPoolExecutor

    from radioassist._threads import one_thread_call

    grey = np.ascontiguousarray(first_rgb[..., 0])
    images = np.concatenate([np.rot90(grey, k, axes=(1, 2)) for k in range(4)]
                            + [np.rot90(grey[:, ::-1], k, axes=(1, 2)) for k in range(4)])  # 640 images
    images = np.ascontiguousarray(images[:600])
    backend = VisionBackend(engine=engine)
    reference = backend.predict(images, "B6").probabilities
    for batch in (1, 7, 64, 512):
        if batch == 1:
            chosen = np.arange(0, len(images), 15)  # a sample of single images (each one a padded block)
        else:
            chosen = np.arange(len(images))
        got = np.concatenate([backend.predict(images[chosen[i:i + batch]], "B6").probabilities
                              for i in range(0, len(chosen), batch)])
        np.testing.assert_array_equal(got, reference[chosen], err_msg=f"batches of {batch}")
    order = np.random.default_rng(0).permutation(len(images))
    np.testing.assert_array_equal(backend.predict(images[order], "B6").probabilities, reference[order])
    rgb = list(np.repeat(images[:9, ..., None], 3, axis=-1))  # grey images as a list of RGB arrays
    np.testing.assert_array_equal(backend.predict(rgb, "B6").probabilities, reference[:9])

    def one_thread(chunk):  # how classify runs predict calls side by side (predict_workers 2)
        with one_thread_call():
            return backend.predict(images[chunk], "B6").probabilities

    chunks = np.array_split(order, 6)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for chunk, got in zip(chunks, pool.map(one_thread, chunks)):
            np.testing.assert_array_equal(got, reference[chunk])


@needs_onnx
@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_prepared_grey_images_give_the_labels_of_torch(first_rgb, torch_reference, engine):
    """classify's path: grey images prepared in one thread (one channel), classified in another."""
    import threading

    from radioassist.backends import PreparedImages

    backend = VisionBackend(engine=engine, batch_size=32)
    grey = np.ascontiguousarray(first_rgb[..., 0])
    prepared = backend.prepare(grey, "B6")
    assert isinstance(prepared, PreparedImages) and len(prepared) == len(grey)
    assert all(values.shape[1] == 1 and one for _, values, one in prepared.payload[1])  # one channel for three
    box = {}
    worker = threading.Thread(target=lambda: box.update(out=backend.predict(prepared, "B6")))
    worker.start()
    worker.join()
    got = box["out"]
    assert list(got.labels) == list(torch_reference.labels)
    assert np.abs(got.probabilities - torch_reference.probabilities).max() <= _onnx.TOLERANCE
    if engine == "onnxruntime":
        assert {graph for graph, _ in backend.load("B6")._onnx_state.sessions} == {"grey, matmul"}
    else:
        np.testing.assert_array_equal(got.probabilities, torch_reference.probabilities)
    with pytest.raises(InputError, match="cannot be classified by .* for task B3"):
        backend.predict(prepared, "B3")
    with pytest.raises(InputError, match="cannot be classified by"):
        VisionBackend(engine=engine).predict(prepared, "B6")  # another backend's


@needs_onnx
def test_auto_engine_is_chosen_by_the_environment(first_rgb, monkeypatch):
    """'auto' runs ONNX Runtime from the first image when it is installed (never after a count), else torch."""
    backend = VisionBackend()  # engine='auto'
    one = backend.predict(first_rgb[:1], "B6")
    assert backend.load("B6")._onnx_state.proto is not None  # exported on first use
    explicit = VisionBackend(engine="onnxruntime").predict(first_rgb[:1], "B6")
    np.testing.assert_array_equal(one.probabilities, explicit.probabilities)
    monkeypatch.setattr(_onnx, "available", lambda: False)
    without = VisionBackend()
    got = without.predict(first_rgb[:1], "B6")
    assert getattr(without.load("B6"), "_onnx_state", None) is None  # torch: no export was tried
    np.testing.assert_array_equal(got.probabilities,
                                  VisionBackend(engine="torch").predict(first_rgb[:1], "B6").probabilities)


@needs_onnx
def test_a_failed_export_falls_back_to_torch_with_a_warning(first_rgb, torch_reference, monkeypatch):
    def broken(model, sample):
        raise RuntimeError("Unsupported: ONNX export of operator foo")

    monkeypatch.setattr(_onnx, "_export", broken)
    backend = VisionBackend(engine="onnxruntime")
    with pytest.warns(RadioassistWarning,
                      match="cannot run it with onnxruntime .*operator foo.*; using torch"):
        got = backend.predict(first_rgb, "B6")
    assert list(got.labels) == list(torch_reference.labels)
    np.testing.assert_array_equal(got.probabilities, torch_reference.probabilities)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once: later calls use torch quietly
        again = backend.predict(first_rgb, "B6")
    np.testing.assert_array_equal(again.probabilities, torch_reference.probabilities)


@needs_onnx
def test_a_disagreeing_engine_is_not_used(first_rgb, torch_reference, onnx_cache, monkeypatch):
    real = _onnx._session

    class Skewed:
        def __init__(self, session):
            self.session = session

        def run(self, names, feeds):
            logits = self.session.run(names, feeds)[0]
            logits[:, 0] += 0.5  # (the same shift on every logit would leave the probabilities as they are)
            return [logits]

    monkeypatch.setattr(_onnx, "_session", lambda proto, threads: Skewed(real(proto, threads)))
    backend = VisionBackend(engine="onnxruntime")
    with pytest.warns(RadioassistWarning, match="probabilities differ from torch's"):
        got = backend.predict(first_rgb, "B6")
    np.testing.assert_array_equal(got.probabilities, torch_reference.probabilities)
    exports = [p for p in onnx_cache.glob("*.onnx") if p.name.count(".") == 1]
    assert exports == []  # an export that failed its check is never cached


@needs_onnx
def test_an_export_cached_on_disk_runs_without_torch(first_rgb, onnx_cache, monkeypatch):
    first = VisionBackend(engine="onnxruntime").predict(first_rgb[:8], "B6")
    cached = [p for p in onnx_cache.glob("*.onnx") if not p.name.endswith(".grey.onnx")]
    matmul = list(onnx_cache.glob("*.mm1.grey.onnx"))  # the one-channel form with matrix products
    grey = [p for p in onnx_cache.glob("*.grey.onnx") if p not in matmul]  # and without
    assert len(cached) == 1 and len(grey) == 1 and len(matmul) == 1
    # a later process loads them from the disk: no export, no onnx import, no graph surgery, no torch model
    for name in ("_export", "_collapse_first_convolution", "_small_convolutions_as_matmul", "torch_logits"):
        monkeypatch.setattr(_onnx, name, _must_not_run)
    backend = VisionBackend()  # engine='auto', a fresh load
    got = backend.predict(first_rgb[:8], "B6")
    loaded = backend.load("B6")
    assert loaded._model is None  # the torch model was never loaded: config, labels and spec from JSON
    np.testing.assert_array_equal(got.probabilities, first.probabilities)
    state = loaded._onnx_state
    assert state.proto == cached[0].read_bytes() and state.matmul_proto == matmul[0].read_bytes()
    monkeypatch.undo()
    monkeypatch.setenv("RADIOASSIST_CACHE_DIR", str(onnx_cache.parent))
    cached[0].write_bytes(b"not an onnx graph")  # a damaged cache: torch, and the file goes
    damaged = VisionBackend()
    again = damaged.predict(first_rgb[:8], "B6")
    expected = VisionBackend(engine="torch").predict(first_rgb[:8], "B6")
    np.testing.assert_array_equal(again.probabilities, expected.probabilities)
    assert damaged.load("B6")._onnx_state.failed and not cached[0].exists()
    monkeypatch.setenv("RADIOASSIST_CACHE_DIR", "")
    assert _onnx.cache_dir() is None


def _must_not_run(*args, **kwargs):
    raise AssertionError("the export or a graph was made again (or torch ran) instead of the disk cache")


@needs_onnx
def test_the_one_channel_graph_only_when_the_input_feeds_one_convolution():
    class Stem(torch.nn.Module):
        def __init__(self, skip):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.skip = skip

        def forward(self, pixel_values):
            y = self.conv(pixel_values)
            return y + pixel_values.mean(dim=1, keepdim=True) if self.skip else y

    torch.manual_seed(0)
    x = torch.rand(2, 1, 8, 8).expand(-1, 3, -1, -1).contiguous()  # equal channels, as grey images
    plain = Stem(skip=False).eval()
    graph = _onnx._collapse_first_convolution(_onnx._export(_Wrapped(plain), x))
    one = _onnx._session(graph, 1).run(None, {"pixel_values": x[:, :1].numpy()})[0]
    np.testing.assert_allclose(one, plain(x).detach().numpy(), atol=1e-5)
    assert _onnx._collapse_first_convolution(_onnx._export(_Wrapped(Stem(skip=True).eval()), x)) is None


@needs_onnx
def test_channels_padded_to_the_vector_width_give_the_same_logits():
    """Zero filters pad a residual network's 24 channels to 32; a pooled feature vector is left alone."""
    from onnx import numpy_helper

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(1, 24, 7, stride=2, padding=3)
            self.pool = torch.nn.MaxPool2d(3, stride=2, padding=1)
            self.a = torch.nn.Conv2d(24, 24, 3, padding=1)
            self.b = torch.nn.Conv2d(24, 24, 3, padding=1, bias=False)
            self.down = torch.nn.Conv2d(24, 40, 3, stride=2, padding=1)
            self.head = torch.nn.Linear(40, 3)

        def forward(self, pixel_values):
            x = self.pool(torch.relu(self.stem(pixel_values)))
            x = torch.relu(x + self.b(torch.relu(self.a(x))))
            x = torch.relu(self.down(x))  # 40 channels: pooled into the head, so never padded
            return self.head(x.mean(dim=(2, 3)))

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.rand(4, 1, 32, 32)
    proto = _onnx._export(_Wrapped(net), x)
    padded = _onnx._pad_channels(proto, 16)
    shapes = {i.name: numpy_helper.to_array(i).shape for i in _onnx_model(padded).graph.initializer}
    assert sorted(s[:2] for s in shapes.values() if len(s) == 4) == [(32, 1), (32, 32), (32, 32), (40, 32)]
    got = _onnx._session(padded, 1).run(None, {"pixel_values": x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), atol=1e-5)
    assert _onnx._pad_channels(proto, 8) is proto  # 24 and 40 channels fill vectors of 8 already
    assert _onnx._channel_block() in (1, 8, 16)


def test_convolutions_of_maps_smaller_than_their_kernels_become_matrix_products():
    """A 3x3 convolution of a 2x2 map becomes a matrix product (same logits); larger maps stay as they are."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.down = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)  # 4x4 -> 2x2: kept (16 >= 9)
            self.tiny = torch.nn.Conv2d(16, 16, 3, padding=1)  # 2x2 -> 2x2: a 64 x 64 matrix
            self.odd = torch.nn.Conv2d(16, 12, (3, 2), padding=(1, 0), dilation=(1, 1), bias=False)
            self.head = torch.nn.Linear(12, 3)

        def forward(self, pixel_values):
            x = torch.relu(self.down(pixel_values))
            x = torch.relu(x + self.tiny(x))
            return self.head(self.odd(x).mean(dim=(2, 3)))  # 2x2 -> 2x1, no bias, unequal kernel sides

    torch.manual_seed(1)
    net = Net().eval()
    x = torch.randn(5, 8, 4, 4)
    proto = _onnx._export(_Wrapped(net), x)
    rewritten = _onnx._small_convolutions_as_matmul(proto)
    ops = [node.op_type for node in _onnx_model(rewritten).graph.node]
    assert ops.count("Conv") == 1 and ops.count("Gemm") == 3  # the head's, and one for each small convolution
    got = _onnx._session(rewritten, 1).run(None, {"pixel_values": x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), atol=1e-5)
    assert _onnx._small_convolutions_as_matmul(proto, max_elements=100) is proto  # too large a matrix: kept


def _onnx_model(proto):
    import onnx

    return onnx.load_from_string(proto)


class _Wrapped(torch.nn.Module):
    """A module called as ``model(pixel_values=x).logits``, as transformers classifiers are."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, pixel_values):
        class Output:
            logits = self.inner(pixel_values)

        return Output
