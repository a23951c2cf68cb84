"""A contract test-suite that every classifier backend should pass.

Subclass :class:`BaseTestBackend` in a pytest test module and provide two
fixtures, ``backend_factory`` (a callable taking backend options such as
``batch_size`` and returning a ready backend) and ``task``::

    from radioassist.backends.testing import BaseTestBackend

    class TestMyBackend(BaseTestBackend):
        @pytest.fixture
        def backend_factory(self, tmp_path):
            return lambda **options: get_backend('mine', model=..., **options)

        @pytest.fixture
        def task(self):
            return get_task('B6')

Generative backends that return free-text answers set ``generative = True``.

Besides predictions, the suite checks the exact contract of
`~radioassist.backends.Backend`: ``describe(task=None)``, ``input_spec(task)``
and ``to_spec()`` keep the base class's signatures and return JSON-serialisable
dicts, and a backend rebuilt from its ``to_spec()`` (sent through JSON, as to
another process) by `~radioassist.backends.backend_from_spec` has the same
settings, the same description and gives the same predictions on cutouts of a
simulated sky rendered as the backend asks.  The backend must therefore be
registered (`~radioassist.backends.register_backend`).
"""
import functools
import inspect
import json

import numpy as np
import pytest

from ..tasks import get_task
from .base import Backend
from .predictions import Predictions
from .registry import backend_from_spec

__all__ = ["BaseTestBackend", "make_test_images", "make_rendered_cutouts"]


def make_test_images(n, size=48, *, seed=0):
    """``n`` uint8 RGB images (``(n, size, size, 3)``) with a few Gaussian blobs on noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = rng.normal(0, 0.03, (size, size))
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.3, 0.7, 2) * size
            sigma = rng.uniform(0.02, 0.12) * size
            img += rng.uniform(0.3, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        img = (img - img.min()) / (img.max() - img.min()) * 255
        images[i] = img.astype(np.uint8)[:, :, None]
    return images


@functools.lru_cache(maxsize=8)
def _rendered(n, size, preset, seed):
    from astropy.coordinates import SkyCoord

    from ..cutouts import extract_cutouts
    from ..render import render
    from ..simulate import simulate_sky

    sky = simulate_sky(shape=(256, 256), n_sources=n, seed=seed)
    positions = SkyCoord(sky.catalog["ra"], sky.catalog["dec"], unit="deg")
    images = render(extract_cutouts(sky.image, positions, size=size, off_image="keep").data, preset=preset)
    images.setflags(write=False)
    return images


def make_rendered_cutouts(n, size=48, *, preset="radio-llava", seed=1):
    """Cutouts of ``n`` sources of a small simulated sky, rendered as a pipeline renders them.

    Parameters
    ----------
    n : int
        Number of sources (a mix of point, FR-I, FR-II and diffuse sources).
    size : int, optional
        Side of the cutouts in pixels.
    preset : str, optional
        Render preset (`radioassist.render.PRESETS`).
    seed : int, optional
        Seed of the simulated sky.

    Returns
    -------
    `numpy.ndarray`
        uint8 RGB images, shape ``(n, size, size, 3)``.
    """
    return np.array(_rendered(int(n), int(size), str(preset), int(seed)))


def _plain(value):
    """``value`` as JSON would give it back (arrays as lists), for comparisons."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


class BaseTestBackend:
    """Contract tests shared by all backends (a pytest mixin; see the module docstring)."""

    #: True for backends that generate text (then ``raw_answers`` must be filled).
    generative = False
    #: Side of the square test images.
    image_size = 48
    #: Absolute tolerance when comparing batched and one-at-a-time probabilities.
    atol = 1e-4

    @pytest.fixture
    def backend_factory(self):  # pragma: no cover - must be overridden
        pytest.skip("the backend test class must define a backend_factory fixture")

    @pytest.fixture
    def task(self):  # pragma: no cover - may be overridden
        return get_task("B6")

    @pytest.fixture
    def backend(self, backend_factory):
        return backend_factory()

    @pytest.fixture
    def images(self):
        return make_test_images(7, self.image_size)

    def _check(self, predictions, task, n):
        assert isinstance(predictions, Predictions)
        assert predictions.task == task
        assert len(predictions) == n
        assert predictions.probabilities.shape == (n, task.n_classes)
        if self.generative:
            assert predictions.raw_answers is not None and len(predictions.raw_answers) == n
        return predictions

    def test_is_backend(self, backend):
        assert isinstance(backend, Backend)
        assert backend.name
        info = backend.describe()
        assert info["backend"] == backend.name

    # ------------------------------------------------------------------ the Backend contract
    @pytest.mark.parametrize("method", ["predict", "prepare", "predict_workers", "describe", "input_spec",
                                        "to_spec"])
    def test_contract_signature(self, backend, method):
        ours = inspect.signature(getattr(type(backend), method))
        base = inspect.signature(getattr(Backend, method))
        assert ours == base, f"{type(backend).__name__}.{method}{ours} differs from Backend.{method}{base}"

    def test_predict_workers(self, backend):
        """How many predictions ``classify`` may run at once: a positive integer."""
        workers = backend.predict_workers()
        assert isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1

    def test_describe(self, backend, task):
        for info in (backend.describe(), backend.describe(None), backend.describe(task),
                     backend.describe(task.id)):
            assert isinstance(info, dict)
            assert info["backend"] == backend.name
            json.dumps(info)  # JSON-serialisable as it is (no default=)
        assert backend.describe(task) == backend.describe(task.id)

    def test_input_spec(self, backend, task):
        from ..render import PRESETS

        spec = backend.input_spec(task)
        assert isinstance(spec, dict)
        json.dumps(spec)
        assert spec == backend.input_spec(task.id)
        if spec.get("render_preset") is not None:
            assert spec["render_preset"] in PRESETS

    def test_to_spec_round_trip(self, backend, task):
        spec = backend.to_spec()
        assert set(spec) == {"backend", "model", "device", "dtype", "batch_size", "options"}
        assert spec["backend"] == backend.name and spec["batch_size"] == backend.batch_size
        assert set(spec["options"]) == set(backend.options)
        sent = json.loads(json.dumps(spec))  # what another process receives
        rebuilt = backend_from_spec(sent)
        assert rebuilt is not backend and type(rebuilt) is type(backend)
        assert _plain(rebuilt.to_spec()) == _plain(spec)
        # the same predictions on cutouts rendered as the backend asks, and then the same description
        preset = backend.input_spec(task).get("render_preset") or "radio-llava"
        images = make_rendered_cutouts(5, size=self.image_size, preset=preset)
        first, second = backend.predict(images, task), rebuilt.predict(images, task)
        assert second.labels == first.labels
        np.testing.assert_allclose(second.probabilities, first.probabilities, atol=self.atol)
        assert _plain(rebuilt.describe(task)) == _plain(backend.describe(task))
        assert _plain(rebuilt.input_spec(task)) == _plain(backend.input_spec(task))

    def test_output_shape_and_labels(self, backend, task, images):
        predictions = self._check(backend.predict(images, task), task, len(images))
        for label in predictions.labels:
            if label is None:
                continue
            if task.multilabel:
                assert set(label) <= set(task.labels) | {task.none_label}
            else:
                assert label in task.labels
        assert predictions.n_unparsed == sum(label is None for label in predictions.labels)

    def test_probabilities(self, backend, task, images):
        predictions = backend.predict(images, task)
        probs = predictions.probabilities
        ok = np.all(np.isfinite(probs), axis=1)
        assert np.all((probs[ok] >= 0) & (probs[ok] <= 1))
        if not task.multilabel:
            np.testing.assert_allclose(probs[ok].sum(axis=1), 1.0, atol=1e-5)
            parsed = [i for i, label in enumerate(predictions.labels) if label is not None and ok[i]]
            if not self.generative:  # the label is the most probable class
                for i in parsed:
                    assert predictions.labels[i] == task.labels[int(np.argmax(probs[i]))]

    def test_batch_equals_single(self, backend, task, images):
        batched = backend.predict(images, task)
        singles = Predictions.concatenate(
            [backend.predict(images[i : i + 1], task) for i in range(len(images))]
        )
        assert batched.labels == singles.labels
        np.testing.assert_allclose(batched.probabilities, singles.probabilities, atol=self.atol)

    def test_prepare_then_predict(self, backend, task, images):
        """What ``classify`` does: grey images through ``prepare`` (one thread), then ``predict`` (another)."""
        import threading

        grey = np.ascontiguousarray(images[..., 0])
        reference = backend.predict(np.repeat(grey[..., None], 3, axis=-1), task)
        prepared = backend.prepare(grey, task)
        assert len(prepared) == len(images)
        box = {}
        worker = threading.Thread(target=lambda: box.update(out=backend.predict(prepared, task)))
        worker.start()
        worker.join()
        got = self._check(box["out"], task, len(images))
        assert got.labels == reference.labels
        np.testing.assert_allclose(got.probabilities, reference.probabilities, atol=self.atol)
        assert len(backend.prepare([], task)) == 0

    def test_deterministic(self, backend, task, images):
        first = backend.predict(images, task)
        second = backend.predict(images, task)
        assert first.labels == second.labels
        np.testing.assert_allclose(first.probabilities, second.probabilities, atol=self.atol)

    def test_single_image(self, backend, task, images):
        self._check(backend.predict(images[:1], task), task, 1)
        self._check(backend.predict([images[0]], task), task, 1)

    def test_larger_than_batch_size(self, backend_factory, task, images):
        small = backend_factory(batch_size=3)
        reference = backend_factory(batch_size=64)
        out = self._check(small.predict(images, task), task, len(images))
        ref = reference.predict(images, task)
        assert out.labels == ref.labels
        np.testing.assert_allclose(out.probabilities, ref.probabilities, atol=self.atol)

    def test_list_of_different_sizes(self, backend, task, images):
        mixed = [images[0], images[1][:40, :40], images[2], images[3][:32, :36]]
        out = self._check(backend.predict(mixed, task), task, 4)
        ref = backend.predict(images[[0, 2]], task)
        np.testing.assert_allclose(out.probabilities[[0, 2]], ref.probabilities, atol=self.atol)

    def test_empty_input(self, backend, task):
        for empty in ([], np.zeros((0, self.image_size, self.image_size, 3), dtype=np.uint8)):
            predictions = backend.predict(empty, task)
            assert isinstance(predictions, Predictions)
            assert len(predictions) == 0
            assert predictions.probabilities.shape == (0, task.n_classes)

    def test_rejects_float_images(self, backend, task, images):
        with pytest.raises(ValueError, match="uint8"):
            backend.predict(images.astype(float), task)
