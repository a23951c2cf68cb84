"""Training vision classifiers: data sources, metrics, the training loop, checkpoints and the CLI."""

import json
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from radioassist.exceptions import InputError, RadioassistWarning
from radioassist.metrics import classification_report
from radioassist.training import (
    LabelledImages,
    load_datalist,
    load_dataset,
    load_image_folder,
    parse_label_map,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def _blob_image(rng, kind, size=48):
    """A compact source (one beam-sized Gaussian) or a double (two separated components) on noise."""
    yy, xx = np.mgrid[:size, :size]
    img = rng.normal(0, 0.02, (size, size))
    cy, cx = size / 2 + rng.uniform(-2, 2, 2)
    if kind == "compact":
        img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.5**2))
    else:
        sep = rng.uniform(7, 11)
        angle = rng.uniform(0, np.pi)
        for sign in (-1, 1):
            y0, x0 = cy + sign * sep * np.sin(angle), cx + sign * sep * np.cos(angle)
            img += rng.uniform(0.6, 1) * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * 1.5**2))
    return img


def _to_png(img, path):
    from PIL import Image

    grey = ((img - img.min()) / (img.max() - img.min()) * 255).astype(np.uint8)
    Image.fromarray(grey).save(path)


def _to_fits(img, path, *, beam=True):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [img.shape[1] / 2, img.shape[0] / 2]
    wcs.wcs.cdelt = [-1.8 / 3600, 1.8 / 3600]
    header = wcs.to_header()
    header["BUNIT"] = "Jy/beam"
    if beam:
        header["BMAJ"], header["BMIN"], header["BPA"] = 5.4 / 3600, 5.4 / 3600, 0.0
    fits.writeto(path, img.astype(np.float32), header, overwrite=True)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    """train/valid/test folders of compact and double sources as 8-bit PNGs."""
    root = tmp_path_factory.mktemp("synthetic_png")
    rng = np.random.default_rng(1)
    for split, n in (("train", 30), ("valid", 10), ("test", 12)):
        for kind, folder in (("compact", "Compact"), ("double", "Double")):
            (root / split / folder).mkdir(parents=True)
            for i in range(n):
                _to_png(_blob_image(rng, kind), root / split / folder / f"{kind}_{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(png_folder, tmp_path_factory):
    from radioassist.training import train_vision_classifier

    out = tmp_path_factory.mktemp("model") / "b3"
    result = train_vision_classifier(
        png_folder,
        task="B3",
        output_dir=out,
        label_map="Compact=NO,Double=YES",
        image_size=32,
        epochs=10,
        patience=10,
        batch_size=16,
        progress=False,
        pixel_scale=1.8,
        beam=5.4,
        data_description="synthetic blobs (test)",
    )
    return result


# --------------------------------------------------------------------------------------------- data sources
def test_parse_label_map():
    assert parse_label_map("I=FR-I, II=FR-II") == {"I": "FR-I", "II": "FR-II"}
    assert parse_label_map({"a": "YES"}) == {"a": "YES"}
    with pytest.raises(InputError, match="RAW=LABEL"):
        parse_label_map("I:FR-I")


def test_folder_with_split_layout(png_folder):
    data = load_image_folder(png_folder, task="B3", label_map={"compact": "NO", "double": "YES"})
    assert isinstance(data, LabelledImages)
    assert len(data) == 2 * (30 + 10 + 12)
    assert data.images.dtype == np.uint8 and data.images.shape[1:] == (48, 48)
    assert sorted(set(data.splits)) == ["test", "train", "valid"]
    assert data.counts() == {"YES": 52, "NO": 52}
    assert data.images.max() == 255  # min-max rendered
    with pytest.raises(InputError, match=r"not labels of task B3.*'Compact' \(52\).*--label-map"):
        load_image_folder(png_folder, task="B3")


def test_manifest_regex_and_crop(tmp_path):
    rng = np.random.default_rng(2)
    rows = ["file,split,notes"]
    for i in range(6):
        kind = "I" if i % 2 else "II"
        _to_fits(
            _blob_image(rng, "compact" if kind == "I" else "double", size=40),
            tmp_path / f"src{i}_{kind}.fits",
        )
        rows.append(f"src{i}_{kind}.fits,{'test' if i < 2 else 'train'},x")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    data = load_dataset(
        tmp_path / "manifest.csv",
        task="B6",
        label_from_filename=r"_(I|II)\.fits$",
        label_map="I=FR-I,II=FR-II",
        cutout_size=32,
    )
    assert data.images.shape == (6, 32, 32)
    assert data.splits.tolist() == ["test", "test", "train", "train", "train", "train"]
    assert data.targets.tolist() == [1, 0, 1, 0, 1, 0]
    assert data.pixel_scale_arcsec == pytest.approx(1.8)
    assert data.beam_arcsec == pytest.approx(5.4)
    assert data.cutout_size_pix == 32
    # the regex alone, without a manifest (no splits)
    data = load_image_folder(
        tmp_path,
        task="B6",
        label_from_filename=r"_(?P<label>I|II)\.fits$",
        label_map={"I": "FR-I", "II": "FR-II"},
    )
    assert len(data) == 6 and set(data.splits) == {""}
    with pytest.raises(InputError, match="matches none"):
        load_image_folder(tmp_path, task="B6", label_from_filename=r"_III\.fits$")
    (tmp_path / "bad.csv").write_text("file,split\nsrc0_II.fits,holdout\n")
    with pytest.raises(InputError, match="unknown split 'holdout'"):
        load_image_folder(
            tmp_path,
            task="B6",
            manifest="bad.csv",
            label_from_filename=r"_(I|II)\.fits",
            label_map="I=FR-I,II=FR-II",
        )
    with pytest.raises(InputError, match="larger than an image"):
        load_dataset(
            tmp_path / "manifest.csv",
            task="B6",
            label_from_filename=r"_(I|II)\.fits$",
            label_map="I=FR-I,II=FR-II",
            cutout_size=64,
        )


def test_datalist_and_blank_images(tmp_path):
    rng = np.random.default_rng(3)
    entries = []
    for i, label in enumerate(["FR-I", "FR-II", "FR-II"]):
        _to_fits(_blob_image(rng, "double"), tmp_path / f"img{i}.fits")
        entries.append({"filepaths": [f"img{i}.fits"], "sname": f"S{i}", "label": label, "id": i})
    _to_fits(np.zeros((48, 48)), tmp_path / "blank.fits")
    entries.append({"filepaths": ["blank.fits"], "label": "FR-I"})
    (tmp_path / "datalist.json").write_text(json.dumps({"data": entries}))
    with pytest.warns(RadioassistWarning, match="skipped 1 blank"):
        data = load_datalist(tmp_path / "datalist.json", task="B6")
    assert data.targets.tolist() == [0, 1, 1]
    (tmp_path / "bad.json").write_text(json.dumps({"data": [{"filepaths": ["nope.fits"], "label": "FR-I"}]}))
    with pytest.raises(InputError, match="do not exist.*nope.fits"):
        load_dataset(tmp_path / "bad.json", task="B6")
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(tmp_path / "missing_folder", task="B6")


def test_datalist_is_checked_like_read_datalist(tmp_path):
    """load_datalist reads the format by the rules of read_datalist: one reader, one set of errors."""
    rng = np.random.default_rng(5)
    for i in range(3):
        _to_fits(_blob_image(rng, "double"), tmp_path / f"img{i}.fits")
    entries = [{"filepaths": "img0.fits", "label": "FR-I", "split": "Training"},  # a bare file name
               {"filepath": "img1.fits", "label": "FR-II", "split": "val"},
               {"filepaths": [str(tmp_path / "img2.fits")], "label": ["FR-II"], "split": "TEST"}]
    (tmp_path / "ok.json").write_text(json.dumps({"data": entries}))
    data = load_datalist(tmp_path / "ok.json", task="B6")
    assert data.targets.tolist() == [0, 1, 1]
    assert data.splits.tolist() == ["train", "valid", "test"]
    bad = {"bad_label.json": ({"data": [{"filepaths": ["img0.fits"], "label": 1}]},
                              r"bad_label\.json: entry 0: 'label' must be a string"),
           "bad_split.json": ({"data": [{"filepaths": ["img0.fits"], "label": "FR-I", "split": "later"}]},
                              r"bad_split\.json: entry 0: 'split' must be one of"),
           "no_files.json": ({"data": [{"label": "FR-I"}]}, r"no_files\.json: entry 0 has no 'filepaths'"),
           "broken.json": ("{not json", r"broken\.json is not valid JSON")}
    for name, (content, message) in bad.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(InputError, match=message):
            load_datalist(tmp_path / name, task="B6")

def test_catalog_cutouts(tmp_path):
    from astropy.table import Table

    from radioassist.training import load_catalog_cutouts

    rng = np.random.default_rng(4)
    mosaic = rng.normal(0, 0.01, (300, 300))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [150.5, 150.5]
    wcs.wcs.cdelt = [-1.8 / 3600, 1.8 / 3600]
    yy, xx = np.mgrid[:300, :300]
    xs, ys, labels = [50, 150, 250, 60, 240], [60, 150, 240, 230, 70], ["C", "D", "C", "D", "C"]
    for x, y, lab in zip(xs, ys, labels):
        offsets = [(0, 0)] if lab == "C" else [(-8, 0), (8, 0)]
        for dx, dy in offsets:
            mosaic += np.exp(-((xx - x - dx) ** 2 + (yy - y - dy) ** 2) / (2 * 1.5**2))
    sky = wcs.pixel_to_world(xs, ys)
    table = Table({"ra": sky.ra.deg, "dec": sky.dec.deg, "morph": labels})
    data = load_catalog_cutouts(
        (mosaic.astype(np.float32), wcs),
        table,
        task="B3",
        label_column="morph",
        size=40,
        label_map="C=NO,D=YES",
    )
    assert data.images.shape == (5, 40, 40)
    assert data.targets.tolist() == [1, 0, 1, 0, 1]
    assert data.pixel_scale_arcsec == pytest.approx(1.8)
    with pytest.raises(InputError, match="label column 'kind'"):
        load_catalog_cutouts((mosaic, wcs), table, task="B3", label_column="kind")


# --------------------------------------------------------------------------------------------- metrics
def test_training_scores_are_radioassist_metrics():
    """Early stopping and model cards use radioassist.metrics, the implementation `evaluate` uses."""
    from radioassist.training.vision import _report

    # a prediction of a class absent from the truth counts in the macro average (0.556, not 0.833)
    m = _report([0, 0, 1, 1], [0, 2, 1, 1], ["a", "b", "c"], False)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    report = classification_report([0, 0, 1, 1], [0, 2, 1, 1], labels=["a", "b", "c"])
    assert m == report.to_dict()
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    y_true, y_pred = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    m = _report(y_true, y_pred, ["a", "b", "c"], False)
    assert m["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(y_true, y_pred, average="macro"))
    assert m["confusion_matrix"] == sklearn_metrics.confusion_matrix(y_true, y_pred).tolist()
    multi_true, multi_pred = rng.integers(0, 2, (30, 3)), rng.integers(0, 2, (30, 3))
    m = _report(multi_true, multi_pred, ["x", "y", "z"], True)
    assert m["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(multi_true, multi_pred, average="macro"))


def test_augmenter_and_background_clip():
    from radioassist.preprocess import background_clip
    from radioassist.training.vision import _Augmenter

    rng = np.random.default_rng(6)
    x = torch.from_numpy(np.stack([_blob_image(rng, "double") for _ in range(4)])[:, None]).float()
    x = (x - x.amin((1, 2, 3), keepdim=True)) / (
        x.amax((1, 2, 3), keepdim=True) - x.amin((1, 2, 3), keepdim=True)
    )
    a, clip_a = _Augmenter(torch.Generator().manual_seed(0))(x)
    b, clip_b = _Augmenter(torch.Generator().manual_seed(0))(x)
    assert a.shape == x.shape and torch.equal(a, b) and torch.equal(clip_a, clip_b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert clip_a.shape == (4,) and bool(((clip_a >= 2) & (clip_a <= 4)).all())  # 3 +- 1 sigma
    clipped = background_clip(x, 3.0)
    assert float((clipped == 0).float().mean()) > 0.5  # the noise background is gone
    assert torch.allclose(clipped.amax((1, 2, 3)), torch.ones(4))
    assert torch.allclose(background_clip(clipped, 3.0), clipped)  # already clipped: unchanged


def test_training_and_serving_see_the_same_tensor(tmp_path, monkeypatch):
    """One preprocessing: the tensor the training loop feeds the network for an unaugmented FITS image is
    bit-identical to the one the vision backend builds when serving the rendered cutout."""
    import radioassist.training.vision as tv
    from radioassist.backends import get_backend
    from radioassist.preprocess import render_cutouts
    from radioassist.training import train_vision_classifier

    rng = np.random.default_rng(11)
    arrays = {}
    for split, n in (("train", 3), ("valid", 2)):
        for kind, label in (("compact", "Compact"), ("double", "Double")):
            (tmp_path / "data" / split / label).mkdir(parents=True)
            for i in range(n):
                img = _blob_image(rng, kind) * 1e-3
                path = tmp_path / "data" / split / label / f"{kind}{i}.fits"
                _to_fits(img, path)
                arrays[str(path)] = img
    seen = []
    real = tv.model_input

    def recording(images, spec, **kwargs):
        out = real(images, spec, **kwargs)
        if isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and len(images) == 6:
            seen.append((images.clone(), out.clone()))
        return out

    monkeypatch.setattr(tv, "model_input", recording)
    result = train_vision_classifier(
        tmp_path / "data",
        task="B3",
        output_dir=tmp_path / "model",
        label_map="Compact=NO,Double=YES",
        image_size=24,
        epochs=1,
        batch_size=6,
        augment=False,
        progress=False,
    )
    assert seen, "the training loop did not preprocess the unaugmented batch through radioassist.preprocess"
    trained_on, tensor = seen[0]
    # the rendered training images are what the pipeline renders from the same FITS pixels
    train_files = sorted(f for f in arrays if "/train/" in f)
    rendered = render_cutouts(np.stack([arrays[f] for f in train_files]))
    assert {r.tobytes() for r in rendered} == {r.tobytes() for r in trained_on[:, 0].numpy()}
    backend = get_backend("vision", model=result.output_dir, engine="torch")  # the network torch trained
    served = []
    loaded = backend.load("B3")
    handle = loaded.model.register_forward_pre_hook(
        lambda module, args, kwargs: served.append(kwargs["pixel_values"].clone()), with_kwargs=True
    )
    try:
        rgb = np.repeat(trained_on[:, 0].numpy()[..., None], 3, axis=-1)
        backend.predict(rgb, "B3")
    finally:
        handle.remove()
    assert len(served) == 1  # one forward pass: a block of _onnx.BLOCK images, the last ones padding
    assert torch.equal(served[0][:len(tensor)].contiguous(), tensor.contiguous())


# --------------------------------------------------------------------------------------------- training
def test_training_reaches_high_f1_and_writes_checkpoint(trained, png_folder):
    from radioassist.backends import get_backend

    out = trained.output_dir
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "README.md",
        "training_log.json",
    ):
        assert (out / name).is_file(), name
    assert trained.test_metrics["macro_f1"] >= 0.9
    assert trained.val_metrics["n"] == 20 and trained.test_metrics["n"] == 24 and trained.n_train == 60
    assert 1 <= trained.best_epoch <= trained.epochs_run <= 10
    assert trained.model_bytes < 5e6
    config = json.loads((out / "config.json").read_text())
    meta = config["radioassist"]
    assert meta["task"] == "B3" and meta["labels"] == ["YES", "NO"]
    assert meta["image_size"] == [32, 32] and meta["cutout_size_pix"] == 48
    assert meta["pixel_scale_arcsec"] == 1.8 and meta["beam_arcsec"] == 5.4
    assert meta["background_clip_sigma"] == 3.0 and len(meta["weights_sha256"]) == 64
    card = (out / "README.md").read_text()
    assert "macro F1" in card and "synthetic blobs (test)" in card and "train_vision_classifier" in card
    assert "| true \\ predicted | YES | NO |" in card
    # the vision backend loads the checkpoint and reproduces the recorded test metrics
    test = load_image_folder(png_folder / "test", task="B3", label_map="Compact=NO,Double=YES")
    backend = get_backend("vision", model=out)
    preds = backend.predict(test.rgb(), "B3")
    m = classification_report(test.targets, preds.label_indices, labels=["YES", "NO"])
    assert m.macro_f1 == pytest.approx(trained.test_metrics["macro_f1"])
    assert backend.describe()["model_sha256"] == meta["weights_sha256"]


def test_training_fits_and_serves_a_temperature(trained, png_folder):
    """The temperature fitted on the validation images is stored, shown in the card and applied when serving."""
    from radioassist.backends import get_backend
    from radioassist.backends.vision import _preprocess

    meta = json.loads((trained.output_dir / "config.json").read_text())["radioassist"]
    temperature = meta["temperature"]
    assert 0.05 <= temperature <= 20 and temperature != 1.0
    log = json.loads((trained.output_dir / "training_log.json").read_text())
    calibration = log["summary"]["calibration"]
    assert calibration["temperature"] == pytest.approx(temperature, abs=1e-3)
    assert 0 <= calibration["ece_after"] <= 1 and "ece" in trained.val_metrics
    card = (trained.output_dir / "README.md").read_text()
    assert "### Calibration" in card and "expected calibration error" in card
    test = load_image_folder(png_folder / "test", task="B3", label_map="Compact=NO,Double=YES")
    backend = get_backend("vision", model=trained.output_dir)
    probs = backend.predict(test.rgb(), "B3").probabilities
    loaded = backend.load()
    with torch.inference_mode():
        logits = loaded.model(pixel_values=_preprocess(test.rgb(), loaded.spec)).logits.double()
    served = probs[:, loaded.mapping(test.task)]  # model output order
    np.testing.assert_allclose(served, torch.softmax(logits / temperature, -1).numpy(), atol=1e-5)
    assert not np.allclose(served, torch.softmax(logits, -1).numpy(), atol=1e-3)


def test_training_refuses_to_overwrite(trained, png_folder):
    from radioassist.training import train_vision_classifier

    with pytest.raises(InputError, match="not empty.*overwrite"):
        train_vision_classifier(
            png_folder,
            task="B3",
            output_dir=trained.output_dir,
            label_map="Compact=NO,Double=YES",
            epochs=1,
            progress=False,
        )


def test_training_argument_errors(png_folder, tmp_path):
    from radioassist.exceptions import ModelError
    from radioassist.training import train_vision_classifier

    with pytest.raises(InputError, match="epochs"):
        train_vision_classifier(png_folder, task="B3", output_dir=tmp_path / "m", epochs=0)
    with pytest.raises(InputError, match="neither a built-in"):
        train_vision_classifier(
            png_folder,
            task="B3",
            output_dir=tmp_path / "m",
            label_map="Compact=NO,Double=YES",
            architecture="./no/such/model",
            epochs=1,
            progress=False,
        )
    one_class = tmp_path / "one"
    (one_class / "Double").mkdir(parents=True)
    for i, path in enumerate(sorted((png_folder / "train" / "Double").glob("*.png"))[:6]):
        (one_class / "Double" / path.name).write_bytes(path.read_bytes())
    with pytest.raises(InputError, match="no training image of class"):
        train_vision_classifier(
            one_class, task="B3", output_dir=tmp_path / "m2", label_map="Double=YES", epochs=1, progress=False
        )
    assert issubclass(ModelError, ValueError)


# --------------------------------------------------------------------------------------------- CLI
def test_cli_train(png_folder, tmp_path):
    from click.testing import CliRunner

    from radioassist.cli._train import train

    runner = CliRunner()
    out = tmp_path / "cli_model"
    args = [
        str(png_folder),
        "--task",
        "B3",
        "-o",
        str(out),
        "--label-map",
        "Compact=NO,Double=YES",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--batch-size",
        "32",
        "--beam",
        "5.4",
    ]
    result = runner.invoke(train, args)
    assert result.exit_code == 0, result.output
    assert "Model written to" in result.output and "Held-out test: macro F1" in result.output
    assert (out / "model.safetensors").is_file()
    assert "--label-map Compact=NO,Double=YES" in (out / "README.md").read_text()
    again = runner.invoke(train, args)
    assert again.exit_code == 1 and "Error: output folder" in again.output and "Traceback" not in again.output
    bad = runner.invoke(
        train, [str(png_folder), "--task", "B3", "-o", str(tmp_path / "x"), "--label-map", "oops"]
    )
    assert bad.exit_code == 1 and "RAW=LABEL" in bad.output
    help_text = runner.invoke(train, ["--help"]).output
    for option in (
        "--label-from-filename",
        "--manifest",
        "--split-column",
        "--architecture",
        "--val-fraction",
        "--seed",
        "--overwrite",
        "--epochs",
        "--image-size",
    ):
        assert option in help_text


def test_cli_listing():
    from click.testing import CliRunner

    from radioassist.cli._listing import backends, models, tasks

    runner = CliRunner()
    result = runner.invoke(backends)
    assert result.exit_code == 0 and result.output.startswith("vision") or "\nvision " in result.output
    result = runner.invoke(tasks)
    assert result.exit_code == 0
    assert "B6  radio-galaxy morphology (FR-I/FR-II) [single-label]: FR-I, FR-II" in result.output
    assert "[multi-label]: EXTENDED, DIFFUSE, DIFFUSE-LARGE (or NONE)" in result.output
    assert runner.invoke(models).exit_code == 0


# --------------------------------------------------------------------------------------------- real data
def test_frdeep_manifest(shared_data, tmp_path):
    """The real FR-DEEP manifest (a subset of its rows, to keep the test fast): files, labels from names, splits."""
    import csv

    folder = shared_data / "frdeep_v2"
    with open(folder / "frdeep_v2_manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 658
    subset = rows[::30]
    with open(tmp_path / "subset.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in subset:
            writer.writerow({**row, "file_first": str(folder / row["file_first"])})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_image_folder(
            folder,
            task="B6",
            manifest=tmp_path / "subset.csv",
            file_column="file_first",
            label_from_filename=r"_(I|II)\.fits$",
            label_map="I=FR-I,II=FR-II",
        )
    assert len(data) == len(subset)
    expected = [0 if row["fr_label_catalogue"] == "I" else 1 for row in subset]
    assert data.targets.tolist() == expected
    assert data.splits.tolist() == [row["split"] for row in subset]
    assert data.images.shape[1:] == (150, 150) and data.pixel_scale_arcsec == pytest.approx(1.8)
